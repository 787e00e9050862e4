'use strict';
// ws_fanout.js PORT: the `ws` peer of the benchmark's fan-out scenario
// (loadgen -fanout), written as ws' README broadcasts: each text message a
// client sends goes to every client in `wss.clients` (the sender too) with
// client.send. Uses bench/peers/node-ws's install (npm ci there first).
// permessage-deflate off, unless WS_PERMESSAGE_DEFLATE=1 (then at libws's
// settings: level 1, 128-byte threshold, no server context takeover).

const path = require('path');
const { WebSocketServer, WebSocket } = require(require.resolve('ws', { paths: [path.join(__dirname, '..', 'peers', 'node-ws')] }));

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node ws_fanout.js PORT');
  process.exit(2);
}

const perMessageDeflate = process.env.WS_PERMESSAGE_DEFLATE === '1' && {
  zlibDeflateOptions: { level: 1 },
  threshold: 128,
  serverNoContextTakeover: true,
};
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    for (const client of wss.clients) {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: false });
    }
  });
});
