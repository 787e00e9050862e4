'use strict';
// libws_fanout.js PORT: the libws Node binding in the benchmark's fan-out
// scenario (loadgen -fanout). Every connection subscribes to topic "t"
// when it opens; each text message a connection sends is published to "t"
// with wss.publish (uWebSockets.js' names), excluding nobody: the hub
// frames it once for all subscribers instead of a send per client.
// LIBWS_FANOUT_DEFLATE=1 accepts permessage-deflate (libws's defaults:
// level 1, 128-byte threshold, no context takeover); LIBWS_FANOUT_BROKER
// joins the servers given the same Redis URL into one set of topics.

const { WebSocketServer } = require('../../bindings/node');

const port = Number(process.argv[2]);
if (process.argv.length !== 3 || !Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node libws_fanout.js PORT');
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  // Topics keep the subscribers: no wss.clients set to maintain.
  clientTracking: false,
  perMessageDeflate: process.env.LIBWS_FANOUT_DEFLATE === '1',
  // No keepalive pings: 10,000 idle subscribers would cost the server
  // pings the peers do not send either.
  pingInterval: 0,
  broker: process.env.LIBWS_FANOUT_BROKER || undefined,
});
wss.on('connection', (ws) => {
  ws.subscribe('t');
  ws.on('message', (data, isBinary) => {
    if (!isBinary) wss.publish('t', data, { binary: false });
  });
});
wss.on('error', (err) => {
  console.error(`libws_fanout.js: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
