'use strict';
// Echo peer of the libws benchmark suite, built on the `ws` package: it
// listens on 127.0.0.1:PORT and echoes every message with the opcode it came
// with. permessage-deflate is off (libws is measured without compression),
// unless WS_PERMESSAGE_DEFLATE=1: then it is accepted when offered, set up
// as libws's servers are by default (zlib level 1, messages of 128 bytes
// and more compressed, no context takeover on the server's side), for
// bench/run.sh's compression section. With BENCH_TLS_CERT and BENCH_TLS_KEY
// naming PEM files it serves wss:// (ws on a Node https server), for the
// TLS section.
//
// Usage: node server.js PORT
//        WS_PERMESSAGE_DEFLATE=1 node server.js PORT
//        BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem node server.js PORT

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

// ws's own defaults would be zlib's level 6 and a 1024-byte threshold; the
// same settings as libws make the comparison one of implementations.
const deflate = process.env.WS_PERMESSAGE_DEFLATE === '1' && {
  zlibDeflateOptions: { level: 1 },
  threshold: 128,
  serverNoContextTakeover: true,
};

// wss://: ws on an https server, which listens in its place.
const tls = process.env.BENCH_TLS_CERT && process.env.BENCH_TLS_KEY;
let https;
if (tls) {
  const fs = require('fs');
  https = require('https').createServer({
    cert: fs.readFileSync(process.env.BENCH_TLS_CERT),
    key: fs.readFileSync(process.env.BENCH_TLS_KEY),
    minVersion: 'TLSv1.3',
  });
}

const wss = new WebSocketServer({
  ...(tls ? { server: https } : { host: '127.0.0.1', port }),
  perMessageDeflate: deflate,
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

const listening = () => {
  console.error(`node-ws: listening on ${tls ? 'wss' : 'ws'}://127.0.0.1:${port} (ws ${require('ws/package.json').version}, bufferutil ${bufferutil ? 'on' : 'off'}, permessage-deflate ${deflate ? 'on' : 'off'})`);
};
const failed = (err) => {
  console.error(`node-ws: ${err.message}`);
  process.exit(1);
};
if (tls) {
  https.on('error', failed);
  https.listen(port, '127.0.0.1', listening);
} else {
  wss.on('listening', listening);
  wss.on('error', failed);
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
