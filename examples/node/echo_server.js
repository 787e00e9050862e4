#!/usr/bin/env node
'use strict';
// echo_server PORT
//
// A WebSocket echo server on 127.0.0.1:PORT (0 picks a free port; the first
// line printed says which), built on the libws Node binding: every message
// comes back as it came, text as text and binary as binary, fragments
// joined. Pings are answered and closes completed by libws itself. Runs until
// killed (SIGINT/SIGTERM close the server cleanly).
//
// The binding is loaded from bindings/node of this repository, or from an
// installed 'libws' package.

let WebSocket;
try {
  WebSocket = require('../../bindings/node');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND') throw err;
  WebSocket = require('libws');
}
const { WebSocketServer } = WebSocket;

const arg = process.argv[2];
const port = Number(arg);
if (process.argv.length !== 3 || arg === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(process.argv.length !== 3 ? 'usage: echo_server.js PORT' : `echo_server: bad port '${arg}'`);
  process.exit(2);
}

// Like the C server, every request path is served, and permessage-deflate is
// accepted when a client offers it (every browser does), with libws's
// defaults: no context takeover, level 1. The limits stay on, as anything
// that faces a network should have them: messages up to 100 MiB (maxPayload,
// counted after inflating), and a client that sends without reading its
// echoes is no longer read from once 1 MiB of echoes wait for it (TCP then
// holds it back), and closed with 1008 if 64 MiB wait anyway.
const wss = new WebSocketServer({ host: '127.0.0.1', port, clientTracking: false, perMessageDeflate: true });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', (err) => {
    // libws already sent the close frame (1002, 1007, 1009 ...); the close
    // event follows.
    console.error(`echo_server: connection ended: ${err.message}`);
  });
});

wss.on('listening', () => {
  console.log(`echo_server: listening on ws://127.0.0.1:${wss.address().port}/`);
});

wss.on('error', (err) => {
  console.error(`echo_server: ${err.message}`);
  process.exit(1);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => wss.close(() => process.exit(0)));
}
