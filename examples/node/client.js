#!/usr/bin/env node
'use strict';
// client URL [MESSAGE]
//
// Connects to a ws:// or wss:// URL, sends MESSAGE (default "Hello, libws!")
// as a text message, prints the reply, and closes cleanly. Exit status 1 if
// the connection fails or no reply comes within 10 seconds.

let WebSocket;
try {
  WebSocket = require('../../bindings/node');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  WebSocket = require('libws');
}

if (process.argv.length < 3 || process.argv.length > 4) {
  console.error('usage: client.js URL [MESSAGE]');
  process.exit(2);
}
const url = process.argv[2];
const text = process.argv.length === 4 ? process.argv[3] : 'Hello, libws!';

let ws;
try {
  ws = new WebSocket(url);
} catch (err) {
  console.error(`client: ${err.message}`);
  process.exit(2);
}

let replied = false;
const timer = setTimeout(() => {
  console.error('client: no reply within 10 s');
  ws.terminate();
  process.exitCode = 1;
}, 10000);

ws.on('open', () => ws.send(text));
ws.on('message', (data) => {
  replied = true;
  console.log(data.toString());
  ws.close(1000, 'bye');
});
ws.on('error', (err) => {
  console.error(`client: ${err.message}`);
  process.exitCode = 1;
});
ws.on('close', () => {
  clearTimeout(timer);
  if (!replied) process.exitCode = 1;
});
