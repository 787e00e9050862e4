'use strict';
// Test helpers: every wait is bounded.

const net = require('net');
const crypto = require('crypto');
const path = require('path');
const { spawn } = require('child_process');
const WebSocket = require('..');
const WS = require('ws');

const { WebSocketServer } = WebSocket;

/** Fails the file if its process still has work (open handles) 3 s after
 * its last test: every test file calls this. */
function exitWatchdog() {
  require('node:test').after(() => {
    const t = setTimeout(() => {
      console.error('# the process did not exit 3 s after its tests: something was left open');
      process.exit(1);
    }, 3000);
    t.unref();
  });
}

/** Resolves with the event's arguments (an array), rejects after ms. */
function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    function on(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, on);
  });
}

/** Waits for 'error' then 'close' (listeners attached at once: libws may
 * deliver both in one batch). Resolves with { err, code, reason }. */
async function errorThenClose(ws, ms = 5000) {
  const order = [];
  ws.once('error', () => order.push('error'));
  ws.once('close', () => order.push('close'));
  const [[err], [code, reason]] = await Promise.all([once(ws, 'error', ms), once(ws, 'close', ms)]);
  if (order[0] !== 'error') throw new Error(`'close' came before 'error'`);
  return { err, code, reason };
}

/** Rejects if the promise has not settled within ms. */
function within(promise, ms, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls cond every 5 ms until it is true; rejects after ms. */
async function until(cond, ms = 5000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A libws echo server on 127.0.0.1, port 0. */
async function libwsEchoServer(options = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${wss.address().port}/`, port: wss.address().port };
}

/** A ws echo server on 127.0.0.1, port 0. */
async function wsEchoServer(options = {}) {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, ...options });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${wss.address().port}/`, port: wss.address().port };
}

function closeServer(wss, ms = 5000) {
  return within(new Promise((resolve) => wss.close(() => resolve())), ms, 'server.close');
}

/** Closes a ws server after terminating its clients (ws's close() waits for them). */
function closeWsServer(wss, ms = 5000) {
  for (const c of wss.clients) c.terminate();
  return closeServer(wss, ms);
}

/** Deterministic pseudo-random bytes. */
function pattern(len, seed) {
  const b = Buffer.allocUnsafe(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Raw TCP client that completes an opening handshake; resolves with the socket
 * and any bytes that followed the 101 response. */
function rawClient(port, path = '/') {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('raw handshake timed out'));
    }, 5000);
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    });
    function onData(d) {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      sock.removeListener('data', onData);
      const head = buf.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 101')) {
        sock.destroy();
        reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
        return;
      }
      resolve({ sock, rest: buf.subarray(end + 4) });
    }
    sock.on('data', onData);
  });
}

/** A masked client frame. */
function clientFrame(opcode, payload, fin = true) {
  const key = crypto.randomBytes(4);
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]);
  } else if (len < 65536) {
    head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255]);
  } else {
    head = Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

/** The request line and headers of an opening handshake (key random). */
function upgradeRequest(path = '/', extra = '') {
  const key = crypto.randomBytes(16).toString('base64');
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n${extra}\r\n`;
}

/** Close frame payload: code (big-endian) and reason. */
function closePayload(code, reason = '') {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

/**
 * Reads a raw socket as a server's byte stream: the HTTP response head
 * first (unless rawClient already took it: pass its rest), then unmasked
 * frames. frames() resolves once the peer closed the TCP connection (or
 * after ms) with { status, frames: [{ opcode, fin, rsv, payload }], closed }.
 */
function frameReader(sock, { rest = null, ms = 10000 } = {}) {
  let buf = rest === null ? Buffer.alloc(0) : rest;
  let status = rest === null ? null : 101;
  const frames = [];
  let closed = false;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  function parse() {
    if (status === null) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      status = Number(/^HTTP\/1\.1 (\d{3})/.exec(buf.subarray(0, end).toString('latin1'))?.[1] || 0);
      buf = buf.subarray(end + 4);
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        at = 10;
      }
      if (buf[1] & 0x80) at += 4; // a server never masks, but do not misparse if it did
      if (buf.length < at + len) return;
      frames.push({ opcode: buf[0] & 0x0f, fin: (buf[0] & 0x80) !== 0, rsv: (buf[0] >> 4) & 7, payload: buf.subarray(at, at + len) });
      buf = buf.subarray(at + len);
    }
  }
  sock.on('data', (d) => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    parse();
  });
  const timer = setTimeout(done, ms);
  const end = () => {
    closed = true;
    clearTimeout(timer);
    done();
  };
  sock.on('close', end);
  sock.on('error', () => {});
  parse();
  return {
    frames: () => finished.then(() => {
      clearTimeout(timer);
      return { status, frames, closed };
    }),
    now: () => ({ status, frames, closed }),
  };
}

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples', 'node');

/** examples/node/echo_server.js on a free port, as a child process.
 * Resolves with { child, port, stderr() } once it listens. */
function exampleServer(env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(EXAMPLES, 'echo_server.js'), '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`echo_server did not start: ${err}`));
    }, 10000);
    child.stderr.on('data', (d) => { err += d; if (err.length > 65536) err = err.slice(-32768); });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`echo_server exited with ${code}: ${err}`));
    });
  });
}

/** Stops a child process (SIGTERM, then SIGKILL after ms); resolves on exit. */
function stopChild(child, ms = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Resident set size of a process in bytes (/proc/PID/status VmRSS). */
function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(require('fs').readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : 0;
}

module.exports = {
  WebSocket,
  WebSocketServer,
  WS,
  exitWatchdog,
  once,
  errorThenClose,
  within,
  until,
  libwsEchoServer,
  wsEchoServer,
  closeServer,
  closeWsServer,
  pattern,
  rawClient,
  clientFrame,
  upgradeRequest,
  closePayload,
  frameReader,
  exampleServer,
  stopChild,
  rssOf,
};
