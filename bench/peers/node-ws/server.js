'use strict';
// Echo peer of the libws benchmark suite, built on the `ws` package: it
// listens on 127.0.0.1:PORT and echoes every message with the opcode it came
// with. permessage-deflate is off (libws is measured without compression).
//
// Usage: node server.js PORT

const { WebSocketServer } = require('ws');

// ws masks/unmasks with the native bufferutil addon when it can load it, and
// falls back to JavaScript otherwise; say which, since it changes results.
let bufferutil = false;
try {
  require('bufferutil');
  bufferutil = !process.env.WS_NO_BUFFER_UTIL;
} catch {
  // optional dependency not installed
}

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.js PORT');
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  perMessageDeflate: false,
  // Nothing here broadcasts, so there is no need to keep a set of clients.
  clientTracking: false,
  // Same as the other peers: effectively no message size limit.
  maxPayload: 1 << 30,
});

wss.on('connection', (ws) => {
  // `data` is a Buffer (fragments already joined); isBinary keeps the opcode.
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => ws.terminate());
});

wss.on('listening', () => {
  console.error(`node-ws: listening on 127.0.0.1:${port} (ws ${require('ws/package.json').version}, bufferutil ${bufferutil ? 'on' : 'off'})`);
});
wss.on('error', (err) => {
  console.error(`node-ws: ${err.message}`);
  process.exit(1);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
