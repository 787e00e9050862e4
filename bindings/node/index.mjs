// ES module entry: import WebSocket, { WebSocketServer } from 'libws'.
import { createRequire } from 'module';

const require = createRequire(import.meta.url);
const WebSocket = require('./index.js');

export const { WebSocketServer, Server, createWebSocketStream, parseHeader, mask, unmask } = WebSocket;
export { WebSocket };
export default WebSocket;
