'use strict';
// The binding's WebSocketServer, driven by clients of the ws package (and a
// few raw TCP clients for what ws will not do).

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const {
  WebSocket, WebSocketServer, WS, once, errorThenClose, within, until, libwsEchoServer, closeServer, pattern, rawClient, clientFrame,
  exitWatchdog,
} = require('../testing/helpers');

exitWatchdog();

async function wsClient(url, ...args) {
  const c = new WS(url, ...args);
  c.on('error', () => {});
  await once(c, 'open');
  return c;
}

test('constructor options are checked like ws', () => {
  assert.throws(() => new WebSocketServer({}), /One and only one of the "port", "server", or "noServer"/);
  assert.throws(() => new WebSocketServer({ port: 1, noServer: true }), TypeError);
  assert.throws(() => new WebSocketServer({ port: 1, server: {} }), TypeError);
  assert.throws(() => new WebSocketServer({ port: 70000 }), RangeError);
  assert.throws(() => new WebSocketServer({ port: 0, handleProtocols: ['ok', 'bad proto'] }), SyntaxError);
});

test("'listening', address(), 'connection' with an IncomingMessage-like request", async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  let listened = false;
  wss.on('listening', () => { listened = true; });
  await once(wss, 'listening');
  assert.ok(listened);
  const addr = wss.address();
  assert.equal(addr.address, '127.0.0.1');
  assert.equal(addr.family, 'IPv4');
  assert.ok(addr.port > 0);
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${addr.port}/chat?room=1`, { headers: { 'X-Test': 'yes' } });
  const [ws, req] = await conn;
  assert.ok(ws instanceof WebSocket);
  assert.equal(ws.readyState, WebSocket.OPEN);
  assert.equal(ws.readyState, ws.OPEN);
  assert.equal(req.url, '/chat?room=1');
  assert.equal(req.method, 'GET');
  assert.equal(req.headers['x-test'], 'yes');
  assert.equal(req.headers.upgrade.toLowerCase(), 'websocket');
  assert.equal(req.headers.host, `127.0.0.1:${addr.port}`);
  assert.equal(req.socket.remoteAddress, '127.0.0.1');
  assert.equal(req.socket.remotePort, c._socket.localPort);
  assert.equal(req.socket.remoteFamily, 'IPv4');
  assert.equal(ws.protocol, '');
  assert.equal(ws.extensions, '');
  assert.equal(ws.url, undefined);
  assert.ok(wss.clients.has(ws));
  c.close();
  await once(ws, 'close');
  assert.equal(wss.clients.size, 0);
  await closeServer(wss);
  assert.equal(wss.address(), null);
});

test('the constructor callback is a listening listener', async () => {
  await within(new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => wss.close(resolve));
  }), 5000, 'listening callback');
});

test("a port in use gives 'error' with EADDRINUSE", async () => {
  const { wss, port } = await libwsEchoServer();
  const other = new WebSocketServer({ host: '127.0.0.1', port });
  const [err] = await once(other, 'error');
  assert.equal(err.code, 'EADDRINUSE');
  assert.equal(other.address(), null);
  await closeServer(wss);
});

test('echo of text, binary, empty and fragmented messages from ws', async () => {
  const { wss, url } = await libwsEchoServer();
  const c = await wsClient(url);
  const got = [];
  c.on('message', (data, isBinary) => got.push([data, isBinary]));
  c.send('hello');
  c.send('héllo wörld ✓');
  c.send(Buffer.from([0, 1, 2, 255]));
  c.send('');
  c.send(Buffer.alloc(0));
  c.send('frag', { fin: false });
  c.send('men', { fin: false });
  c.send('ted', { fin: true });
  c.send(Buffer.from([1]), { binary: true, fin: false });
  c.send(Buffer.from([2]), { fin: true });
  await until(() => got.length === 7, 5000, 'echoes');
  assert.deepEqual(got.map(([d, b]) => [d.toString('hex'), b]), [
    [Buffer.from('hello').toString('hex'), false],
    [Buffer.from('héllo wörld ✓').toString('hex'), false],
    ['000102ff', true],
    ['', false],
    ['', true],
    [Buffer.from('fragmented').toString('hex'), false],
    ['0102', true],
  ]);
  assert.ok(got.every(([d]) => Buffer.isBuffer(d)));
  c.close();
  await closeServer(wss);
});

test('several-MiB messages both ways, every byte checked', async () => {
  const { wss, url } = await libwsEchoServer();
  const c = await wsClient(url, { maxPayload: 0 });
  const sizes = [3 << 20, 8 << 20 | 5, 300 * 1024];
  const msgs = sizes.map((n, i) => pattern(n, i + 7));
  const got = [];
  c.on('message', (data) => got.push(data));
  for (const m of msgs) c.send(m);
  c.send(msgs[1].toString('latin1').slice(0, 5 << 20)); // big text too (latin1 -> UTF-8 grows it)
  await until(() => got.length === 4, 20000, 'big echoes');
  for (let i = 0; i < 3; i++) assert.ok(got[i].equals(msgs[i]), `message ${i}`);
  assert.equal(got[3].toString(), msgs[1].toString('latin1').slice(0, 5 << 20));
  c.close();
  await closeServer(wss);
});

test('4 KiB-256 KiB sends go by reference: views at any offset arrive intact; a detached one closes 1011', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const big = pattern(1 << 20, 3);
  // Views of one ArrayBuffer at odd offsets, a message of its own, the
  // smallest by-reference size and a copied neighbour, all in one batch.
  const msgs = [big.subarray(1, 1 + 5000), big.subarray(77777, 77777 + 200000), pattern(65536, 4), big.subarray(3, 3 + 4096), big.subarray(9, 9 + 4095)];
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data) => {
      if (data.toString() === 'go') {
        for (const m of msgs) ws.send(m);
        return;
      }
      const doomed = pattern(8192, 5);
      ws.send(doomed);
      structuredClone(doomed.buffer, { transfer: [doomed.buffer] }); // detached before the flush
    });
  });
  await once(wss, 'listening');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
  const got = [];
  c.on('message', (data) => got.push(data));
  c.send('go');
  await until(() => got.length === msgs.length, 5000, 'echoes');
  msgs.forEach((m, i) => assert.ok(got[i].equals(m), `message ${i}`));
  const closed = once(c, 'close');
  c.send('detach');
  const [code, reason] = await within(closed, 5000, 'close');
  assert.equal(code, 1011);
  assert.equal(reason.toString(), 'buffer detached');
  assert.equal(got.length, msgs.length);
  await closeServer(wss);
});

test("send options, callbacks, binaryType and the 'ping'/'pong' events", async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
  const [ws] = await conn;
  const received = [];
  c.on('message', (d, b) => received.push([d.toString(), b]));
  // send(data, cb), send(data, options, cb), numbers, typed arrays, text as binary
  const cbs = [];
  ws.send('a', (err) => cbs.push(err));
  ws.send('b', { binary: true }, (err) => cbs.push(err));
  ws.send(42);
  ws.send(new Uint16Array([0x6968]));
  ws.send(new Uint8Array([0x6f, 0x6b]).buffer);
  ws.send(new DataView(new Uint8Array([0x64, 0x76]).buffer));
  await until(() => received.length === 6 && cbs.length === 2, 5000, 'messages');
  assert.deepEqual(cbs, [undefined, undefined]);
  assert.deepEqual(received, [['a', false], ['b', true], ['42', false], ['hi', true], ['ok', true], ['dv', true]]);

  // pings both ways; libws answers pings by itself
  const pong = once(ws, 'pong');
  ws.ping('are you there');
  assert.equal((await pong)[0].toString(), 'are you there');
  const ping = once(ws, 'ping');
  const cpong = once(c, 'pong');
  c.ping(Buffer.from('p1'));
  assert.equal((await ping)[0].toString(), 'p1');
  assert.equal((await cpong)[0].toString(), 'p1');
  ws.pong('unsolicited');
  assert.equal((await once(c, 'pong'))[0].toString(), 'unsolicited');
  assert.throws(() => ws.ping(Buffer.alloc(126)), RangeError);

  // binaryType
  const msgs = [];
  ws.on('message', (d, isBinary) => msgs.push([d, isBinary]));
  ws.binaryType = 'arraybuffer';
  c.send(Buffer.from([9, 8]));
  await until(() => msgs.length === 1);
  assert.ok(msgs[0][0] instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(msgs[0][0])], [9, 8]);
  ws.binaryType = 'fragments';
  c.send(Buffer.from([7]));
  c.send('text stays a Buffer');
  await until(() => msgs.length === 3);
  assert.ok(Array.isArray(msgs[1][0]) && msgs[1][0][0].equals(Buffer.from([7])));
  assert.ok(Buffer.isBuffer(msgs[2][0]) && msgs[2][1] === false);
  ws.binaryType = 'bogus';
  assert.equal(ws.binaryType, 'fragments');
  c.close();
  await closeServer(wss);
});

test('bufferedAmount counts queued bytes and the hub backpressure report', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, highWaterMark: 256 * 1024 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  // A raw client that never reads.
  const { sock } = await rawClient(wss.address().port);
  sock.pause();
  const [ws] = await conn;
  assert.equal(ws.bufferedAmount, 0);
  ws.send(Buffer.alloc(1000));
  ws.send('abc');
  assert.equal(ws.bufferedAmount, 1003); // queued this turn
  await new Promise((r) => setImmediate(r));
  assert.equal(ws.bufferedAmount, 0); // handed to the hub, no backpressure
  const chunk = Buffer.alloc(128 * 1024);
  for (let i = 0; i < 64; i++) ws.send(chunk); // 8 MiB to a peer that does not read
  await until(() => ws.bufferedAmount > 256 * 1024, 10000, 'backpressure report');
  sock.resume();
  sock.on('data', () => {});
  await until(() => ws.bufferedAmount === 0, 10000, 'drain report');
  sock.destroy();
  await once(ws, 'close');
  await closeServer(wss);
});

test('client close, server close, terminate both ways: codes and reasons', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${wss.address().port}/`;

  // 1. the client closes with a code and reason
  let conn = once(wss, 'connection');
  let c = await wsClient(url);
  let [ws] = await conn;
  let sclose = once(ws, 'close');
  c.close(4001, 'client says bye');
  let [code, reason] = await sclose;
  assert.equal(code, 4001);
  assert.ok(Buffer.isBuffer(reason));
  assert.equal(reason.toString(), 'client says bye');
  assert.equal(ws.readyState, WebSocket.CLOSED);

  // 2. the server closes; the client sees the code and reason
  conn = once(wss, 'connection');
  c = await wsClient(url);
  [ws] = await conn;
  let cclose = once(c, 'close');
  sclose = once(ws, 'close');
  ws.close(1000, 'server says bye');
  assert.equal(ws.readyState, WebSocket.CLOSING);
  [code, reason] = await cclose;
  assert.equal(code, 1000);
  assert.equal(reason.toString(), 'server says bye');
  [code] = await sclose;
  assert.equal(code, 1000);
  ws.close(); // closing a closed socket is a no-op
  assert.equal(ws.readyState, WebSocket.CLOSED);

  // 3. close without a code
  conn = once(wss, 'connection');
  c = await wsClient(url);
  [ws] = await conn;
  cclose = once(c, 'close');
  ws.close();
  assert.equal((await cclose)[0], 1005);

  // 4. the server terminates: the client sees 1006
  conn = once(wss, 'connection');
  c = await wsClient(url);
  [ws] = await conn;
  cclose = once(c, 'close');
  sclose = once(ws, 'close');
  ws.terminate();
  assert.equal((await cclose)[0], 1006);
  assert.equal((await sclose)[0], 1006);

  // 5. the client terminates: the server sees 1006
  conn = once(wss, 'connection');
  c = await wsClient(url);
  [ws] = await conn;
  sclose = once(ws, 'close');
  c.terminate();
  [code, reason] = await sclose;
  assert.equal(code, 1006);
  assert.equal(reason.length, 0);

  // bad arguments
  conn = once(wss, 'connection');
  c = await wsClient(url);
  [ws] = await conn;
  assert.throws(() => ws.close(1005), /valid error code/);
  assert.throws(() => ws.close(999), TypeError);
  assert.throws(() => ws.close(1000, 'x'.repeat(124)), RangeError);
  assert.equal(ws.readyState, WebSocket.OPEN);
  c.close();
  await once(ws, 'close');
  await closeServer(wss);
});

test('send after close: callback error, no throw; send before open throws', async () => {
  const { wss, url } = await libwsEchoServer();
  const conn = once(wss, 'connection');
  const c = await wsClient(url);
  const [ws] = await conn;
  c.close();
  await once(ws, 'close');
  const [err] = await new Promise((resolve) => ws.send('late', (e) => resolve([e])));
  assert.match(err.message, /WebSocket is not open: readyState 3 \(CLOSED\)/);
  ws.send('late, no callback'); // no throw
  ws.ping();
  assert.ok(ws.bufferedAmount > 0); // ws counts bytes sent after close
  const client = new WebSocket(url);
  assert.throws(() => client.send('x'), /readyState 0 \(CONNECTING\)/);
  assert.throws(() => client.ping(), /CONNECTING/);
  client.on('error', () => {});
  client.close();
  await once(client, 'close');
  await closeServer(wss);
});

test('invalid UTF-8 from the peer: error WS_ERR_INVALID_UTF8, close 1007 on both ends', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
  const [ws] = await conn;
  const err = once(ws, 'error');
  const sclose = once(ws, 'close');
  const cclose = once(c, 'close');
  c.send(Buffer.from([0x68, 0xff, 0xfe]), { binary: false });
  const [e] = await err;
  assert.equal(e.code, 'WS_ERR_INVALID_UTF8');
  assert.equal(e.closeCode, 1007);
  assert.equal((await sclose)[0], 1007);
  assert.equal((await cclose)[0], 1007);
  await closeServer(wss);
});

test('oversize message: maxPayload gives close 1009', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1024 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
  const [ws] = await conn;
  const msgs = [];
  ws.on('message', (d) => msgs.push(d));
  const err = once(ws, 'error');
  const cclose = once(c, 'close');
  c.send(Buffer.alloc(1024)); // at the limit: fine
  c.send(Buffer.alloc(1025));
  const [e] = await err;
  assert.equal(e.code, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
  assert.equal((await cclose)[0], 1009);
  assert.equal(msgs.length, 1);
  await closeServer(wss);
});

test('a protocol violation (unmasked frame) gives close 1002', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const { sock } = await rawClient(wss.address().port);
  const [ws] = await conn;
  const err = once(ws, 'error');
  const close = once(ws, 'close');
  sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69])); // unmasked text from a client
  assert.equal((await err)[0].closeCode, 1002);
  assert.equal((await close)[0], 1002);
  sock.destroy();
  await closeServer(wss);
});

test('a raw client: fragments interleaved with a ping, and an abrupt drop (1006)', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const { sock } = await rawClient(wss.address().port);
  const [ws] = await conn;
  const got = [];
  ws.on('message', (d, b) => got.push([d.toString(), b]));
  const ping = once(ws, 'ping');
  sock.write(Buffer.concat([
    clientFrame(0x1, Buffer.from('one '), false),
    clientFrame(0x9, Buffer.from('mid')),
    clientFrame(0x0, Buffer.from('two '), false),
    clientFrame(0x0, Buffer.from('three'), true),
  ]));
  assert.equal((await ping)[0].toString(), 'mid');
  await until(() => got.length === 1);
  assert.deepEqual(got, [['one two three', false]]);
  const close = once(ws, 'close');
  sock.write(clientFrame(0x2, Buffer.alloc(100)).subarray(0, 20)); // half a frame
  sock.destroy();
  assert.equal((await close)[0], 1006);
  await closeServer(wss);
});

test('server.close() with clients open: each gets 1001, then the server closes', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const clients = [];
  const serverSide = [];
  wss.on('connection', (ws) => {
    serverSide.push(ws);
    ws.on('error', () => {});
  });
  for (let i = 0; i < 5; i++) clients.push(await wsClient(url));
  await until(() => serverSide.length === 5);
  const closes = clients.map((c) => once(c, 'close'));
  const sCloses = serverSide.map((ws) => once(ws, 'close'));
  const order = [];
  serverSide[0].on('close', () => order.push('ws close'));
  const closed = within(new Promise((resolve) => wss.close((err) => {
    order.push('server close');
    resolve(err);
  })), 5000, 'server.close');
  assert.equal(await closed, undefined);
  for (const p of closes) assert.equal((await p)[0], 1001);
  for (const p of sCloses) assert.equal((await p)[0], 1001);
  assert.deepEqual(order, ['ws close', 'server close']);
  assert.equal(wss.clients.size, 0);
  // The port is free again.
  const port = Number(new URL(url).port);
  await new Promise((resolve, reject) => {
    const s = net.createServer().listen(port, '127.0.0.1', () => s.close(resolve)).on('error', reject);
  });
  // Closing again: the callback gets an error, as in ws.
  const again = await within(new Promise((resolve) => wss.close(resolve)), 5000, 'second close');
  assert.match(again.message, /The server is not running/);
  // Nobody can connect any more.
  const late = new WS(url);
  const [lateErr] = await once(late, 'error');
  assert.equal(lateErr.code, 'ECONNREFUSED');
});

test('verifyClient (sync and callback) and path decide before the 101: refused ws clients see the HTTP status', async () => {
  const seen = [];
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/ok',
    verifyClient: (info) => {
      seen.push(info);
      return info.req.headers['x-token'] === 'good';
    },
  });
  await once(wss, 'listening');
  const base = `ws://127.0.0.1:${wss.address().port}`;
  let connections = 0;
  wss.on('connection', () => connections++);
  const bad = new WS(`${base}/ok`, { headers: { 'x-token': 'bad' }, origin: 'http://example.com' });
  let opened = false;
  bad.on('open', () => { opened = true; });
  const [err] = await once(bad, 'error');
  assert.equal(err.message, 'Unexpected server response: 401');
  assert.equal(opened, false);
  assert.equal(seen[0].origin, 'http://example.com');
  assert.equal(seen[0].secure, false);
  assert.equal(seen[0].req.method, 'GET');
  const wrongPath = new WS(`${base}/nope`, { headers: { 'x-token': 'good' } });
  assert.equal((await once(wrongPath, 'error'))[0].message, 'Unexpected server response: 400');
  const good = await wsClient(`${base}/ok?x=1`, { headers: { 'x-token': 'good' } });
  await until(() => connections === 1);
  good.close();
  await closeServer(wss);

  // The callback form: the client waits (no 101) until the answer.
  const pending = [];
  const wss2 = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, cb) => pending.push(cb),
  });
  await once(wss2, 'listening');
  const got = [];
  wss2.on('connection', (ws) => ws.on('message', (d) => got.push(d.toString())));
  const c = new WS(`ws://127.0.0.1:${wss2.address().port}/`);
  c.on('error', () => {});
  await until(() => pending.length === 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.readyState, WS.CONNECTING);
  pending[0](true);
  await once(c, 'open');
  c.send('first');
  await until(() => got.length === 1);
  assert.deepEqual(got, ['first']);
  const c2 = new WS(`ws://127.0.0.1:${wss2.address().port}/`);
  c2.on('error', () => {});
  const res = new Promise((resolve) => c2.on('unexpected-response', (req, r) => {
    let body = '';
    r.on('data', (d) => { body += d; });
    r.on('end', () => resolve([r.statusCode, r.headers['x-why'], body]));
  }));
  await until(() => pending.length === 2);
  pending[1](false, 403, 'go away', { 'X-Why': 'policy' });
  assert.deepEqual(await res, [403, 'policy', 'go away']);
  c2.terminate();
  c.close();
  await closeServer(wss2);
});

test("subprotocols: handleProtocols as a list, and as a function decided before the 101; 'headers' adds response headers", async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: ['chat.v2', 'chat.v1'] });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const conn = once(wss, 'connection');
  const c = await wsClient(url, ['chat.v1', 'chat.v2']);
  const [ws] = await conn;
  assert.equal(c.protocol, 'chat.v2');
  assert.equal(ws.protocol, 'chat.v2');
  const c1 = await wsClient(url, ['chat.v1']);
  assert.equal(c1.protocol, 'chat.v1');
  c.close();
  c1.close();
  await closeServer(wss);

  const calls = [];
  const wss2 = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (set, req) => {
      calls.push([[...set], req.url]);
      return set.has('b') ? false : 'a';
    },
  });
  wss2.on('headers', (headers, req) => {
    assert.equal(headers[0], 'HTTP/1.1 101 Switching Protocols');
    headers.push(`X-Seen: ${req.url}`);
  });
  await once(wss2, 'listening');
  const url2 = `ws://127.0.0.1:${wss2.address().port}/`;
  const okc = new WS(`${url2}?q=1`, ['a', 'c']);
  const upgraded = once(okc, 'upgrade');
  const opened = once(okc, 'open');
  const [upgrade] = await upgraded;
  await opened;
  assert.equal(okc.protocol, 'a');
  assert.equal(upgrade.headers['x-seen'], '/?q=1');
  // false: no subprotocol, which a ws client that offered some refuses (as with ws).
  const vetoed = new WS(url2, ['b']);
  assert.equal((await once(vetoed, 'error'))[0].message, 'Server sent no subprotocol');
  const none = await wsClient(url2);
  assert.equal(none.protocol, '');
  assert.deepEqual(calls, [[['a', 'c'], '/?q=1'], [['b'], '/']]);
  okc.close();
  none.close();
  await closeServer(wss2);
});

test('clientTracking: false leaves clients undefined', async () => {
  const { wss, url } = await libwsEchoServer({ clientTracking: false });
  assert.equal(wss.clients, undefined);
  const c = await wsClient(url);
  c.send('x');
  await once(c, 'message');
  c.close();
  await closeServer(wss);
});

test('a throwing listener does not lose the events after it', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
  const [ws] = await conn;
  const got = [];
  ws.on('message', (d) => {
    got.push(d.toString());
    if (d.toString() === 'boom') throw new Error('listener failure');
  });
  const errors = [];
  const onUncaught = (err) => errors.push(err.message);
  const saved = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onUncaught);
  try {
    c.send('a');
    c.send('boom');
    c.send('b');
    c.send('c');
    await until(() => got.length === 4, 5000, 'messages after the throw');
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of saved) process.on('uncaughtException', l);
  }
  assert.deepEqual(got, ['a', 'boom', 'b', 'c']);
  assert.deepEqual(errors, ['listener failure']);
  c.close();
  await closeServer(wss);
});

test('perMessageDeflate: negotiated with ws clients, big messages compressed on the wire', async (t) => {
  if (!require('../lib/options').compressionSupported()) {
    t.skip('this libws.so has no compression option');
    return;
  }
  const { wss, url } = await libwsEchoServer({ perMessageDeflate: { threshold: 0 } });
  const conn = once(wss, 'connection');
  const c = await wsClient(url, { perMessageDeflate: { threshold: 0 } });
  const [ws] = await conn;
  assert.equal(c.extensions, 'permessage-deflate');
  assert.equal(ws.extensions, 'permessage-deflate');
  let wire = 0;
  c._socket.on('data', (d) => { wire += d.length; });
  const text = 'compress me '.repeat(100000);
  c.send(text);
  const [d, isBinary] = await once(c, 'message');
  assert.equal(isBinary, false);
  assert.equal(d.toString(), text);
  assert.ok(wire < text.length / 20, `echo took ${wire} bytes on the wire`);
  c.close();
  await closeServer(wss);

  // Off by default on the server, as in ws.
  const plain = await libwsEchoServer();
  const c2 = await wsClient(plain.url);
  assert.equal(c2.extensions, '');
  c2.close();
  await closeServer(plain.wss);
});

test('wss:// with tls: { cert, key }, against ws and libws clients (caFile, rejectUnauthorized)', async (t) => {
  const data = require('path').join(__dirname, '..', '..', '..', 'tests', 'c', 'data');
  const fs = require('fs');
  if (!fs.existsSync(`${data}/server.pem`)) {
    t.skip('tests/c/data (test certificates) not found');
    return;
  }
  const { wss, port } = await libwsEchoServer({ tls: { cert: `${data}/server.pem`, key: `${data}/server.key` } });
  const encrypted = [];
  wss.on('connection', (ws, req) => encrypted.push(req.socket.encrypted));
  const url = `wss://localhost:${port}/`;
  const w = await wsClient(url, { ca: fs.readFileSync(`${data}/ca.pem`) });
  w.send('ws over tls');
  assert.equal((await once(w, 'message'))[0].toString(), 'ws over tls');
  w.close();
  const c = new WebSocket(url, { caFile: `${data}/ca.pem` });
  await once(c, 'open');
  c.send('libws over tls');
  assert.equal((await once(c, 'message'))[0].toString(), 'libws over tls');
  c.close();
  const loose = new WebSocket(url, { rejectUnauthorized: false });
  await once(loose, 'open');
  loose.close();
  const strict = new WebSocket(url);
  const { err, code } = await errorThenClose(strict);
  assert.match(err.message, /certificate/);
  assert.equal(code, 1006);
  assert.deepEqual(encrypted, [true, true, true]);
  await closeServer(wss);
});

test('without handleProtocols the first subprotocol offered is chosen, as in ws', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`, ['x', 'y']);
  const [ws] = await conn;
  assert.equal(c.protocol, 'x');
  assert.equal(ws.protocol, 'x');
  c.close();
  await closeServer(wss);
});

test('a verifyClient that never answers: the client gets 503 after handshakeTimeout, no connection', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handshakeTimeout: 300, verifyClient: (info, cb) => {} });
  await once(wss, 'listening');
  let connections = 0;
  wss.on('connection', () => connections++);
  try {
    const c = new WS(`ws://127.0.0.1:${wss.address().port}/`);
    const [err] = await once(c, 'error', 5000);
    assert.equal(err.message, 'Unexpected server response: 503');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(connections, 0);
    assert.equal(wss._requests.size, 0, 'the request is forgotten with its close event');
  } finally {
    await closeServer(wss);
  }
});
