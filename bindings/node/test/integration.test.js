'use strict';
// libws inside an application's own HTTP server: { server }, { noServer } +
// handleUpgrade, https.Server; keepalive defaults and latency.

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('http');
const https = require('https');
const fs = require('fs');
const path = require('path');
const net = require('net');
const { WebSocketServer, WS, once, until, closeServer, exitWatchdog } = require('../testing/helpers');

exitWatchdog();

const DATA = path.join(__dirname, '..', '..', '..', 'tests', 'c', 'data');

function echo(wss) {
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.url}`);
    ws.on('message', (d, isBinary) => ws.send(d, { binary: isBinary }));
  });
}

async function talk(url, opts) {
  const c = new WS(url, opts);
  const got = [];
  c.on('message', (d) => got.push(d.toString()));
  c.on('error', () => {});
  await once(c, 'open');
  c.send('ping me');
  await until(() => got.length === 2, 5000, 'echo');
  c.close();
  await once(c, 'close');
  return got;
}

function get(url, opts) {
  return new Promise((resolve, reject) => {
    (url.startsWith('https') ? https : http).get(url, opts || {}, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve([res.statusCode, body]));
    }).on('error', reject);
  });
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

test('{ server }: an http.Server serves its routes and libws WebSockets on one port; verifyClient refuses with 401', async () => {
  const server = http.createServer((req, res) => res.end(`route ${req.url}`));
  const wss = new WebSocketServer({ server, verifyClient: (info) => info.req.headers['x-token'] !== 'bad' });
  echo(wss);
  const listening = once(wss, 'listening');
  await listen(server);
  await listening;
  const { port } = wss.address();
  try {
    assert.deepEqual(await get(`http://127.0.0.1:${port}/a`), [200, 'route /a']);
    assert.deepEqual(await talk(`ws://127.0.0.1:${port}/chat`), ['hello /chat', 'ping me']);
    const [req] = await Promise.all([once(wss, 'connection'), talk(`ws://127.0.0.1:${port}/x?y=1`)]).then(([[, r]]) => [r]);
    assert.equal(req.url, '/x?y=1');
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
    const bad = new WS(`ws://127.0.0.1:${port}/`, { headers: { 'x-token': 'bad' } });
    assert.equal((await once(bad, 'error'))[0].message, 'Unexpected server response: 401');
    assert.deepEqual(await get(`http://127.0.0.1:${port}/b`), [200, 'route /b']);
  } finally {
    await closeServer(wss);
    server.close();
  }
});

test('{ noServer: true } + handleUpgrade with a plain http.Server, path routing by the app', async () => {
  const server = http.createServer((req, res) => res.end('ok'));
  const wss = new WebSocketServer({ noServer: true });
  echo(wss);
  server.on('upgrade', (req, socket, head) => {
    if (!req.url.startsWith('/ws')) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  await listen(server);
  const { port } = server.address();
  try {
    assert.throws(() => wss.address(), /noServer/);
    const msgs = await Promise.all([1, 2, 3].map((i) => talk(`ws://127.0.0.1:${port}/ws/${i}`)));
    assert.deepEqual(msgs, [1, 2, 3].map((i) => [`hello /ws/${i}`, 'ping me']));
    const other = new WS(`ws://127.0.0.1:${port}/other`);
    assert.equal((await once(other, 'error'))[0].message, 'Unexpected server response: 404');
    assert.deepEqual(await get(`http://127.0.0.1:${port}/`), [200, 'ok']);
    // A client that sends its first message in the same packet as the request.
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write(Buffer.from('GET /ws/raw HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' +
      // a masked text frame "hi" (mask 0)
      '\x81\x82\x00\x00\x00\x00hi', 'latin1'));
    let got = '';
    sock.on('data', (d) => { got += d.toString('latin1'); });
    await until(() => got.includes('hello /ws/raw') && got.endsWith('hi'), 5000, 'the echo of the early frame');
    assert.match(got, /^HTTP\/1.1 101/);
    sock.destroy();
  } finally {
    await closeServer(wss);
    server.close();
  }
});

test('{ server: https.Server }: TLS sockets go through the socket-pair path', async () => {
  const server = https.createServer({
    cert: fs.readFileSync(path.join(DATA, 'server.pem')),
    key: fs.readFileSync(path.join(DATA, 'server.key')),
  }, (req, res) => res.end('secure route'));
  const wss = new WebSocketServer({ server });
  const secure = [];
  wss.on('connection', (ws, req) => secure.push(req.socket.encrypted === true));
  echo(wss);
  await listen(server);
  const { port } = server.address();
  const ca = fs.readFileSync(path.join(DATA, 'ca.pem'));
  try {
    assert.deepEqual(await get(`https://localhost:${port}/`, { ca }), [200, 'secure route']);
    assert.deepEqual(await talk(`wss://localhost:${port}/tls`, { ca }), ['hello /tls', 'ping me']);
    // A bigger exchange through the copy path.
    const c = new WS(`wss://localhost:${port}/big`, { ca });
    const got = [];
    c.on('message', (d) => got.push(d));
    await once(c, 'open');
    const big = Buffer.alloc(3 << 20, 7);
    c.send(big);
    await until(() => got.length === 2, 10000, 'the big echo');
    assert.ok(got[1].equals(big));
    c.close();
    assert.deepEqual(secure, [true, true]);
  } finally {
    await closeServer(wss);
    server.close();
  }
});

test('keepalive on by default: a peer that never answers pings is closed; latency is measured', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, pingInterval: 100, pongTimeout: 300 });
  await once(wss, 'listening');
  const conns = [];
  wss.on('connection', (ws) => conns.push(ws));
  const port = wss.address().port;
  try {
    // A ws client answers pings: latency becomes known, it stays open.
    const good = new WS(`ws://127.0.0.1:${port}/`);
    await once(good, 'open');
    await until(() => conns.length === 1 && conns[0].latency > 0, 5000, 'a latency');
    // A raw socket that never answers: closed within interval + timeout.
    const sock = net.connect(port, '127.0.0.1');
    await once(sock, 'connect');
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    sock.on('data', () => {});
    await until(() => conns.length === 2, 5000, 'the raw connection');
    const [code] = await once(conns[1], 'close', 5000);
    assert.equal(code, 1011);
    assert.equal(good.readyState, WS.OPEN);
    sock.destroy();
    good.close();
  } finally {
    await closeServer(wss);
  }
});

test('TLS material as Buffers and strings: a libws wss server with cert/key Buffers, libws and ws clients with a ca Buffer', async () => {
  const cert = fs.readFileSync(path.join(DATA, 'server.pem'));
  const key = fs.readFileSync(path.join(DATA, 'server.key'), 'utf8');
  const ca = fs.readFileSync(path.join(DATA, 'ca.pem'));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, tls: { cert, key } });
  echo(wss);
  await once(wss, 'listening');
  const url = `wss://localhost:${wss.address().port}/s`;
  try {
    assert.deepEqual(await talk(url, { ca }), ['hello /s', 'ping me']);
    const { WebSocket } = require('..');
    const c = new WebSocket(url, { ca });
    const got = [];
    c.on('message', (d) => got.push(d.toString()));
    await once(c, 'open');
    await until(() => got.length === 1, 5000, 'hello');
    assert.deepEqual(got, ['hello /s']);
    c.close();
    await once(c, 'close');
    // Without the CA the certificate is refused.
    const bad = new WebSocket(url);
    const [err] = await once(bad, 'error');
    assert.equal(err.code, 'WS_ETLS');
  } finally {
    await closeServer(wss);
  }
});

test('an Express app and libws WebSockets on one port ({ server } with the app\'s http.Server)', async () => {
  const express = require('express');
  const app = express();
  app.get('/api/:name', (req, res) => res.json({ hello: req.params.name }));
  const server = http.createServer(app);
  const wss = new WebSocketServer({ server, path: '/live' });
  echo(wss);
  await listen(server);
  const { port } = server.address();
  try {
    const [status, body] = await get(`http://127.0.0.1:${port}/api/bob`);
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(body), { hello: 'bob' });
    assert.deepEqual(await talk(`ws://127.0.0.1:${port}/live`), ['hello /live', 'ping me']);
    const wrong = new WS(`ws://127.0.0.1:${port}/other`);
    assert.equal((await once(wrong, 'error'))[0].message, 'Unexpected server response: 400');
    assert.equal((await get(`http://127.0.0.1:${port}/api/x`))[0], 200);
  } finally {
    await closeServer(wss);
    server.close();
  }
});

test('libws clients keep alive too: latency measured against a ws server, a silent server closed', async () => {
  const { WebSocket } = require('..');
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  try {
    const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`, { pingInterval: 100, pongTimeout: 300 });
    await once(c, 'open');
    await until(() => c.latency > 0, 5000, 'a latency');
    c.close();
    await once(c, 'close');
  } finally {
    await new Promise((r) => wss.close(r));
  }
  // A server that completes the handshake and then never answers.
  const raw = net.createServer((sock) => {
    sock.once('data', (d) => {
      const key = /Sec-WebSocket-Key: (.*)\r\n/i.exec(d.toString())[1];
      const accept = require('crypto').createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      sock.on('data', () => {});
    });
  });
  await listen(raw);
  try {
    const c = new WebSocket(`ws://127.0.0.1:${raw.address().port}/`, { pingInterval: 100, pongTimeout: 300 });
    await once(c, 'open');
    const [code] = await once(c, 'close', 5000);
    assert.equal(code, 1011);
  } finally {
    raw.close();
  }
});
