'use strict';
// node_echo_server.js: an echo server on the Node `ws` package (127.0.0.1, a
// free port). Prints "port N" once listening, then echoes every message as it
// came (text as text) until killed.
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`port ${wss.address().port}`));
