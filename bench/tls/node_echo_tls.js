#!/usr/bin/env node
'use strict';
// examples/node/echo_server.js (the libws Node binding's echo server) serving
// wss:// for the bench suite's TLS section: the same server and handlers,
// with the binding's tls: { cert, key } option from BENCH_TLS_CERT and
// BENCH_TLS_KEY (PEM files). The example takes no TLS options.
//
// Usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem node node_echo_tls.js PORT

const { WebSocketServer } = require('../../bindings/node');

const cert = process.env.BENCH_TLS_CERT;
const key = process.env.BENCH_TLS_KEY;
const port = Number(process.argv[2]);
if (process.argv.length !== 3 || !cert || !key || !Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem node_echo_tls.js PORT');
  process.exit(2);
}

// As the example: every path, permessage-deflate accepted when offered.
const wss = new WebSocketServer({
  host: '127.0.0.1', port, clientTracking: false, maxPayload: 0, perMessageDeflate: true, tls: { cert, key },
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', (err) => {
    console.error(`node_echo_tls: connection ended: ${err.message}`);
  });
});
wss.on('listening', () => {
  console.log(`node_echo_tls: listening on wss://127.0.0.1:${wss.address().port}/`);
});
wss.on('error', (err) => {
  console.error(`node_echo_tls: ${err.message}`);
  process.exit(1);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => wss.close(() => process.exit(0)));
}
