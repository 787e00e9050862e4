// node_server.mjs PORT: reference echo server on the Node `ws` package
// (127.0.0.1 only). Every message goes back as it came (text as text);
// pings and closes are handled by ws itself. Runs until killed.
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 256 << 20, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log(`node_server: listening on ws://127.0.0.1:${port}/`));
