'use strict';
// The binding's WebSocket client against servers of the ws package.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const {
  WebSocket, WS, once, errorThenClose, within, until, wsEchoServer, closeWsServer, pattern,
  exitWatchdog,
} = require('../testing/helpers');

exitWatchdog();

async function client(url, ...args) {
  const c = new WebSocket(url, ...args);
  await once(c, 'open');
  return c;
}

/** A port nothing listens on. */
async function deadPort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('bad URLs and subprotocols throw synchronously, like ws', () => {
  assert.throws(() => new WebSocket('not a url'), { name: 'SyntaxError', message: 'Invalid URL: not a url' });
  assert.throws(() => new WebSocket('ftp://127.0.0.1/'), { name: 'SyntaxError', message: /protocol must be one of/ });
  assert.throws(() => new WebSocket('ws://127.0.0.1/#frag'), { name: 'SyntaxError', message: /fragment/ });
  assert.throws(() => new WebSocket('ws+unix:/tmp/sock'), SyntaxError);
  assert.throws(() => new WebSocket('ws://127.0.0.1/', ['a', 'a']), /invalid or duplicated subprotocol/);
  assert.throws(() => new WebSocket('ws://127.0.0.1/', 'bad proto'), /invalid or duplicated subprotocol/);
  assert.throws(() => new WebSocket('ws://127.0.0.1/', { protocolVersion: 7 }), RangeError);
});

test("'open', readyState, url, protocol, 'upgrade', echo of every message type", async () => {
  const { wss, url } = await wsEchoServer({ handleProtocols: (set) => (set.has('two') ? 'two' : false) });
  const c = new WebSocket(url.replace('ws:', 'http:') + 'path?q=1', ['one', 'two']);
  assert.equal(c.readyState, WebSocket.CONNECTING);
  assert.equal(c.url, url + 'path?q=1');
  const upgrade = once(c, 'upgrade');
  await once(c, 'open');
  const [res] = await upgrade;
  assert.equal(res.headers['sec-websocket-protocol'], 'two');
  assert.equal(c.readyState, WebSocket.OPEN);
  assert.equal(c.protocol, 'two');
  assert.equal(c.binaryType, 'nodebuffer');
  const got = [];
  c.on('message', (d, isBinary) => got.push([d, isBinary]));
  c.send('text ✓');
  c.send(Buffer.from([1, 2, 3]));
  c.send(new Float32Array([1.5]));
  c.send('as binary', { binary: true });
  c.send(Buffer.from('as text'), { binary: false });
  c.send('');
  c.send('fr', { fin: false });
  c.send('ag', { fin: true });
  await until(() => got.length === 7, 5000, 'echoes');
  assert.deepEqual(got.map(([d, b]) => [d.toString('hex'), b]), [
    [Buffer.from('text ✓').toString('hex'), false],
    ['010203', true],
    [Buffer.from(new Float32Array([1.5]).buffer).toString('hex'), true],
    [Buffer.from('as binary').toString('hex'), true],
    [Buffer.from('as text').toString('hex'), false],
    ['', false],
    [Buffer.from('frag').toString('hex'), false],
  ]);
  const closed = once(c, 'close');
  c.close(1000, 'done');
  assert.equal(c.readyState, WebSocket.CLOSING);
  const [code, reason] = await closed;
  assert.equal(code, 1000);
  assert.ok(Buffer.isBuffer(reason));
  assert.equal(c.readyState, WebSocket.CLOSED);
  await closeWsServer(wss);
});

test('fragmented messages and pings from a ws server; big messages both ways', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 0 });
  await once(wss, 'listening');
  const big = pattern((6 << 20) + 3, 99);
  wss.on('connection', (s) => {
    s.send('hel', { fin: false });
    s.ping('mid-message ping');
    s.send('lo', { fin: false });
    s.send(' world', { fin: true });
    s.send(Buffer.from([1]), { fin: false });
    s.send(Buffer.from([2]), { fin: true });
    s.send(big);
    s.on('message', (d, isBinary) => s.send(d, { binary: isBinary }));
  });
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`);
  const msgs = [];
  c.on('message', (d, b) => msgs.push([d, b]));
  const ping = once(c, 'ping');
  await once(c, 'open');
  assert.equal((await ping)[0].toString(), 'mid-message ping');
  await until(() => msgs.length === 3, 10000, 'server messages');
  assert.deepEqual([msgs[0][0].toString(), msgs[0][1]], ['hello world', false]);
  assert.deepEqual([msgs[1][0].toString('hex'), msgs[1][1]], ['0102', true]);
  assert.ok(msgs[2][0].equals(big));
  const up = pattern(5 << 20, 5);
  c.send(up);
  await until(() => msgs.length === 4, 10000, 'big echo');
  assert.ok(msgs[3][0].equals(up));
  c.close();
  await once(c, 'close');
  await closeWsServer(wss);
});

test('ping/pong from the client; autoPong', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const serverPings = [];
  const conns = [];
  let server;
  wss.on('connection', (s) => {
    server = s;
    conns.push(s);
    s.on('ping', (d) => serverPings.push(d.toString()));
  });
  const c = await client(`ws://127.0.0.1:${wss.address().port}/`);
  const pong = once(c, 'pong');
  let cbErr = 'not called';
  c.ping('hi', undefined, (err) => { cbErr = err; });
  assert.equal((await pong)[0].toString(), 'hi');
  assert.equal(cbErr, undefined);
  assert.deepEqual(serverPings, ['hi']);
  c.ping();
  assert.equal((await once(c, 'pong'))[0].length, 0);
  assert.throws(() => c.ping('x'.repeat(126)), RangeError);
  // The server pings: libws answers by itself and still reports it.
  const sp = once(server, 'pong');
  const cp = once(c, 'ping');
  server.ping('from server');
  assert.equal((await cp)[0].toString(), 'from server');
  assert.equal((await sp)[0].toString(), 'from server');
  c.pong('unsolicited');
  assert.equal((await once(server, 'pong'))[0].toString(), 'unsolicited');
  c.close();

  // autoPong: false leaves the answer to the application.
  const c2 = await client(`ws://127.0.0.1:${wss.address().port}/`, { autoPong: false });
  await until(() => conns.length === 2);
  const s2 = conns[1];
  let autoPonged = false;
  s2.on('pong', () => { autoPonged = true; });
  const gotPing = once(c2, 'ping');
  s2.ping('manual');
  await gotPing;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(autoPonged, false);
  c2.pong('manual');
  await until(() => autoPonged);
  c2.close();
  await closeWsServer(wss);
});

test('close paths: server closes, server terminates, client terminates, close codes checked', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const next = () => once(wss, 'connection').then(([s]) => s);

  let s = next();
  let c = await client(url);
  let server = await s;
  let closed = once(c, 'close');
  server.close(4321, 'server bye');
  let [code, reason] = await closed;
  assert.equal(code, 4321);
  assert.equal(reason.toString(), 'server bye');

  s = next();
  c = await client(url);
  server = await s;
  closed = once(c, 'close');
  server.terminate();
  assert.equal((await closed)[0], 1006);

  s = next();
  c = await client(url);
  server = await s;
  const sclosed = once(server, 'close');
  closed = once(c, 'close');
  c.terminate();
  assert.equal((await closed)[0], 1006);
  assert.equal((await sclosed)[0], 1006);

  s = next();
  c = await client(url);
  server = await s;
  assert.throws(() => c.close(1006), TypeError);
  assert.throws(() => c.close(1000, Buffer.alloc(124)), RangeError);
  const sc = once(server, 'close');
  c.close(3000, Buffer.from('buffer reason'));
  [code, reason] = await sc;
  assert.equal(code, 3000);
  assert.equal(reason.toString(), 'buffer reason');
  await closeWsServer(wss);
});

test('connect refused: error WS_EIO (from the event status) then close 1006', async () => {
  const port = await deadPort();
  const c = new WebSocket(`ws://127.0.0.1:${port}/`);
  const events = [];
  c.on('open', () => events.push('open'));
  c.on('error', (err) => events.push(['error', err.code, err.errno]));
  const [code] = await once(c, 'close');
  events.push(['close', code]);
  assert.deepEqual(events, [['error', 'WS_EIO', -9], ['close', 1006]]);
  assert.equal(c.readyState, WebSocket.CLOSED);
});

test('handshake refused (HTTP 401), unreachable name: error then close 1006', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: () => false });
  await once(wss, 'listening');
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`);
  const { err, code } = await errorThenClose(c);
  assert.equal(err.message, 'Unexpected server response: 401');
  assert.equal(err.statusCode, 401);
  assert.equal(err.code, 'WS_ERR_UNEXPECTED_RESPONSE');
  assert.equal(err.errno, -10);
  assert.equal(code, 1006);
  await closeWsServer(wss);

  const d = new WebSocket('ws://name.invalid/');
  const r2 = await errorThenClose(d, 10000);
  assert.ok(r2.err instanceof Error);
  assert.equal(r2.code, 1006);
});

test('close() and terminate() while connecting abort the handshake, as in ws', async () => {
  const { wss, url } = await wsEchoServer();
  for (const how of ['close', 'terminate']) {
    const c = new WebSocket(url);
    let opened = false;
    c.on('open', () => { opened = true; });
    const done = errorThenClose(c);
    c[how]();
    assert.equal(c.readyState, WebSocket.CLOSING);
    const { err, code } = await done;
    assert.equal(err.message, 'WebSocket was closed before the connection was established');
    assert.equal(code, 1006);
    assert.equal(opened, false);
  }
  await closeWsServer(wss);
});

test('invalid UTF-8 from a ws server: error WS_ERR_INVALID_UTF8 and close 1007', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const serverClose = new Promise((resolve) => wss.on('connection', (s) => {
    s.on('close', (code) => resolve(code));
    s.send(Buffer.from([0xc3, 0x28]), { binary: false });
  }));
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`);
  const { err, code } = await errorThenClose(c);
  assert.equal(err.code, 'WS_ERR_INVALID_UTF8');
  assert.equal(code, 1007);
  assert.equal(await within(serverClose, 5000, 'server close'), 1007);
  await closeWsServer(wss);
});

test('maxPayload on the client: a too-big message gives close 1009', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (s) => {
    s.send(Buffer.alloc(100));
    s.send(Buffer.alloc(101));
  });
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`, { maxPayload: 100 });
  const msgs = [];
  c.on('message', (d) => msgs.push(d.length));
  const { err, code } = await errorThenClose(c);
  assert.equal(err.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.equal(code, 1009);
  assert.deepEqual(msgs, [100]);
  await closeWsServer(wss);
});

test('options: headers, origin, handshakeTimeout', async () => {
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const reqs = [];
  wss.on('connection', (s, req) => reqs.push(req));
  const c = await client(`ws://127.0.0.1:${wss.address().port}/h`, {
    headers: { 'X-One': '1', 'X-Two': 'two' },
    origin: 'https://example.org',
    handshakeTimeout: 3000,
  });
  await until(() => reqs.length === 1);
  assert.equal(reqs[0].headers['x-one'], '1');
  assert.equal(reqs[0].headers['x-two'], 'two');
  assert.equal(reqs[0].headers.origin, 'https://example.org');
  c.close();
  await closeWsServer(wss);

  // A server that accepts TCP but never answers: the handshake times out.
  const silent = net.createServer((sock) => sock.on('error', () => {}));
  await new Promise((r) => silent.listen(0, '127.0.0.1', r));
  const t0 = Date.now();
  const d = new WebSocket(`ws://127.0.0.1:${silent.address().port}/`, { handshakeTimeout: 300 });
  const { err } = await errorThenClose(d);
  assert.ok(err instanceof Error);
  assert.ok(Date.now() - t0 < 4000, 'handshake timeout honoured');
  silent.close();
});

test('send callbacks, bufferedAmount and send after close on the client', async () => {
  const { wss, url } = await wsEchoServer();
  const c = await client(url);
  const order = [];
  let echoes = 0;
  c.on('message', () => echoes++);
  c.send('one', () => order.push('cb1'));
  c.send(Buffer.alloc(2000), { binary: true }, () => order.push('cb2'));
  assert.equal(c.bufferedAmount, 2003); // queued in JavaScript this turn
  c.send(Buffer.alloc(300 * 1024), () => order.push('cb3')); // direct path for big messages
  await until(() => order.length === 3);
  assert.deepEqual(order, ['cb1', 'cb2', 'cb3']);
  await until(() => echoes === 3, 5000, 'echoes');
  c.close();
  await once(c, 'close');
  const [err] = await new Promise((resolve) => c.send('late', (e) => resolve([e])));
  assert.match(err.message, /readyState 3 \(CLOSED\)/);
  c.pong('late pong');
  assert.ok(c.bufferedAmount > 0);
  await closeWsServer(wss);
});

test('the EventTarget interface: onopen/onmessage/onclose/onerror, addEventListener', async () => {
  const { wss, url } = await wsEchoServer();
  const c = new WebSocket(url);
  const log = [];
  c.onopen = (ev) => {
    log.push(['open', ev.type, ev.target === c]);
    c.send('text');
    c.send(Buffer.from([5]));
  };
  c.onmessage = (ev) => {
    log.push(['message', ev.data]);
    if (log.length === 3) c.close(1000, 'x');
  };
  const listener = (ev) => log.push(['listener', ev.type]);
  c.addEventListener('message', listener);
  c.addEventListener('message', listener); // added once only
  c.addEventListener('open', { handleEvent: (ev) => log.push(['handleEvent', ev.type]) }, { once: true });
  assert.equal(typeof c.onopen, 'function');
  await new Promise((resolve) => {
    c.onclose = (ev) => {
      log.push(['close', ev.code, ev.reason, ev.wasClean]);
      resolve();
    };
  });
  c.removeEventListener('message', listener);
  assert.equal(c.listenerCount('message'), 1);
  c.onmessage = null;
  assert.equal(c.listenerCount('message'), 0);
  assert.deepEqual(log[0], ['open', 'open', true]);
  assert.deepEqual(log[1], ['handleEvent', 'open']);
  assert.deepEqual(log.filter((e) => e[0] === 'message'), [['message', 'text'], ['message', Buffer.from([5])]]);
  assert.equal(log.filter((e) => e[0] === 'listener').length, 2);
  assert.deepEqual(log[log.length - 1], ['close', 1000, 'x', true]); // ws echoes the reason

  const port = await deadPort();
  const d = new WebSocket(`ws://127.0.0.1:${port}/`);
  const closed = once(d, 'close');
  const ev = await new Promise((resolve) => { d.onerror = resolve; });
  assert.equal(ev.type, 'error');
  assert.ok(ev.error instanceof Error);
  await closed;
  await closeWsServer(wss);
});

test('a libws client against a libws server in the same process', async () => {
  const { libwsEchoServer, closeServer } = require('../testing/helpers');
  const { wss, url } = await libwsEchoServer();
  const c = await client(url);
  c.send('same process');
  const [d] = await once(c, 'message');
  assert.equal(d.toString(), 'same process');
  c.close();
  await once(c, 'close');
  await closeServer(wss);
});

test('perMessageDeflate: offered by default like ws, negotiated with a ws server', async (t) => {
  if (!require('../lib/options').compressionSupported()) {
    t.skip('this libws.so has no compression option');
    return;
  }
  const wss = new WS.WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await once(wss, 'listening');
  let wire = 0;
  const offers = [];
  wss.on('connection', (s, req) => {
    offers.push(req.headers['sec-websocket-extensions']);
    s._socket.on('data', (d) => { wire += d.length; });
    s.on('message', (d, b) => s.send(d, { binary: b }));
  });
  const c = await client(`ws://127.0.0.1:${wss.address().port}/`);
  assert.match(c.extensions, /^permessage-deflate/);
  const big = Buffer.alloc(1 << 20, 7);
  c.send(big);
  const [d] = await once(c, 'message');
  assert.ok(d.equals(big));
  assert.ok(wire < 20000, `${wire} bytes on the wire`);
  c.close();
  const c2 = await client(`ws://127.0.0.1:${wss.address().port}/`, { perMessageDeflate: false });
  assert.equal(c2.extensions, '');
  assert.match(offers[0], /permessage-deflate/);
  assert.equal(offers[1], undefined);
  c2.close();
  await closeWsServer(wss);
});
