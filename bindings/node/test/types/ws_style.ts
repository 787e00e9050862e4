// A program written against @types/ws, with only the import changed: the
// type check in typescript.test.js compiles it with --strict.
import WebSocket, { WebSocketServer, RawData, createWebSocketStream } from 'libws';
import * as http from 'node:http';

const server = http.createServer();
const wss = new WebSocketServer({ server, maxPayload: 1 << 20 });

wss.on('connection', (ws: WebSocket, req: http.IncomingMessage) => {
  const ip: string | undefined = req.socket.remoteAddress;
  ws.on('message', (data: RawData, isBinary: boolean) => {
    ws.send(data, { binary: isBinary }, (err?: Error) => {
      if (err) console.error(ip, err.message);
    });
  });
  ws.on('close', (code: number, reason: Buffer) => console.log(code, reason.toString()));
  ws.on('error', (err: Error) => console.error(err));
  const n: number = ws.bufferedAmount;
  if (n > 1 << 20) ws.pause();
  ws.ping();
});

const noServer = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  noServer.handleUpgrade(req, socket, head, (ws) => noServer.emit('connection', ws, req));
});

const client = new WebSocket('ws://127.0.0.1:8080/', ['chat'], { headers: { 'X-Test': '1' } });
client.on('open', () => client.send('hello'));
const stream = createWebSocketStream(client, { encoding: 'utf8' });
stream.pipe(process.stdout);
client.close(1000, 'done');
const state: number = client.readyState === WebSocket.OPEN ? 1 : 0;
console.log(state);
