'use strict';
// libws for Node: require('libws') is a drop-in for the ws package where the
// sockets are run by libws (Go) and events reach JavaScript in batches.
//
//   const WebSocket = require('libws');
//   const { WebSocketServer } = require('libws');
//
// See index.d.ts and README.md for what differs from ws.

const { WebSocket } = require('./lib/websocket');
const { WebSocketServer } = require('./lib/server');
const { createWebSocketStream } = require('./lib/stream');
const frame = require('./lib/frame');
const native = require('./lib/native');

WebSocket.WebSocket = WebSocket;
WebSocket.WebSocketServer = WebSocketServer;
WebSocket.Server = WebSocketServer;
WebSocket.createWebSocketStream = createWebSocketStream;
WebSocket.parseHeader = frame.parseHeader;
WebSocket.mask = frame.mask;
WebSocket.unmask = frame.unmask;
WebSocket.native = {
  parseHeader: frame.native.parseHeader,
  mask: frame.native.mask,
};
WebSocket.libraryPath = native.file;
WebSocket.version = () => native.C.version();

module.exports = WebSocket;
