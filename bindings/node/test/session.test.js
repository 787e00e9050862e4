'use strict';
// A connection's session as a raw peer sees it on the wire, against
// examples/node/echo_server.js run as a child process: nothing lost when
// messages and a close (or a protocol error) arrive in one read, and no
// header a client can forge through a bare LF.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const {
  exitWatchdog, rawClient, clientFrame, upgradeRequest, closePayload, frameReader, exampleServer, stopChild,
  libwsEchoServer, closeServer, once, within,
} = require('../testing/helpers');

exitWatchdog();

// The example as it runs (inline hub), and with the threaded hub that Node
// builds without libuv symbols use.
const servers = { inline: null, threaded: null };
test.before(async () => {
  [servers.inline, servers.threaded] = await Promise.all([
    exampleServer(), exampleServer({ LIBWS_NODE_WATCHER: 'socket' }),
  ]);
});
test.after(async () => {
  await Promise.all(Object.values(servers).filter(Boolean).map((s) => stopChild(s.child)));
});

const N = 20;

function messagesThenClose() {
  const parts = [];
  for (let i = 0; i < N; i++) parts.push(clientFrame(0x1, Buffer.from(`message ${i}`)));
  parts.push(clientFrame(0x8, closePayload(1000, 'bye')));
  return Buffer.concat(parts);
}

// Every echo in order, then the close echoed with its code and reason, then
// the end of the TCP connection.
function assertEchoesThenClose({ status, frames, closed }) {
  assert.equal(status, 101);
  const texts = frames.filter((f) => f.opcode === 0x1).map((f) => f.payload.toString());
  assert.deepEqual(texts, Array.from({ length: N }, (_, i) => `message ${i}`), 'every echo, in order');
  assert.equal(frames.length, N + 1, `frames: ${frames.map((f) => f.opcode).join(',')}`);
  const close = frames[N];
  assert.equal(close.opcode, 0x8, 'the close comes last');
  assert.equal(close.payload.readUInt16BE(0), 1000);
  assert.equal(close.payload.subarray(2).toString(), 'bye');
  assert.ok(closed, 'the server ended the TCP connection');
}

for (const mode of ['inline', 'threaded']) {
  const server = () => servers[mode];

  test(`${mode} hub: 20 messages and a close in one write after the handshake: 20 echoes, then the close (1000, "bye")`, async () => {
    for (let trial = 0; trial < 5; trial++) {
      const { sock, rest } = await rawClient(server().port);
      const reader = frameReader(sock, { rest });
      sock.write(messagesThenClose());
      assertEchoesThenClose(await reader.frames());
      sock.destroy();
    }
  });

  test(`${mode} hub: the upgrade request, 20 messages and a close in one write: 20 echoes, then the close`, async () => {
    for (let trial = 0; trial < 5; trial++) {
      const sock = net.connect(server().port, '127.0.0.1');
      const reader = frameReader(sock);
      await once(sock, 'connect');
      sock.write(Buffer.concat([Buffer.from(upgradeRequest('/', ''), 'latin1'), messagesThenClose()]));
      assertEchoesThenClose(await reader.frames());
      sock.destroy();
    }
  });

  test(`${mode} hub: a message then a frame with RSV1 set in one write: the echo, then close 1002`, async () => {
    const { sock, rest } = await rawClient(server().port);
    const reader = frameReader(sock, { rest });
    const bad = clientFrame(0x1, Buffer.from('rsv1'));
    bad[0] |= 0x40; // RSV1 without a negotiated extension
    sock.write(Buffer.concat([clientFrame(0x1, Buffer.from('before the error')), bad]));
    const { frames, closed } = await reader.frames();
    assert.deepEqual(frames.map((f) => f.opcode), [0x1, 0x8]);
    assert.equal(frames[0].payload.toString(), 'before the error');
    assert.equal(frames[1].payload.readUInt16BE(0), 1002);
    assert.ok(closed);
    sock.destroy();
  });
}

// TLS connections are served by goroutines of the hub, not its epoll loop:
// the same session rules.
test('wss://: 20 messages and a close in one TLS write: 20 echoes, then the close (1000, "bye")', async () => {
  const fs = require('fs');
  const tls = require('tls');
  const data = require('path').join(__dirname, '..', '..', '..', 'tests', 'c', 'data');
  const { wss, port } = await libwsEchoServer({ tls: { cert: `${data}/server.pem`, key: `${data}/server.key` } });
  try {
    for (let trial = 0; trial < 3; trial++) {
      const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(`${data}/ca.pem`) });
      const reader = frameReader(sock);
      await once(sock, 'secureConnect');
      sock.write(Buffer.concat([Buffer.from(upgradeRequest('/', ''), 'latin1'), messagesThenClose()]));
      assertEchoesThenClose(await reader.frames());
      sock.destroy();
    }
  } finally {
    await closeServer(wss);
  }
});

test('the same in-process: a listener replying to every message of a close batch loses none', async () => {
  // The binding's own server, several replies per message, to check that the
  // whole batch of replies leaves before the close is answered.
  const { WebSocketServer } = require('..');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => ws.on('message', (d) => {
    ws.send(d);
    ws.send(Buffer.alloc(8192, 7)); // by reference (see hub.js REF_SEND)
  }));
  await once(wss, 'listening');
  try {
    const { sock, rest } = await rawClient(wss.address().port);
    const reader = frameReader(sock, { rest });
    sock.write(messagesThenClose());
    const { frames } = await reader.frames();
    assert.equal(frames.length, 2 * N + 1, `frames: ${frames.map((f) => f.opcode).join(',')}`);
    for (let i = 0; i < N; i++) {
      assert.equal(frames[2 * i].payload.toString(), `message ${i}`);
      assert.equal(frames[2 * i + 1].payload.length, 8192);
    }
    assert.equal(frames[2 * N].opcode, 0x8);
    sock.destroy();
  } finally {
    await closeServer(wss);
  }
});

test('a header value with a bare LF never becomes a header the application sees', async () => {
  const { wss, port } = await libwsEchoServer();
  const seen = [];
  wss.on('connection', (ws, req) => seen.push(req.headers));
  try {
    const sock = net.connect(port, '127.0.0.1');
    const reader = frameReader(sock, { ms: 3000 });
    await once(sock, 'connect');
    sock.write(upgradeRequest('/', 'X-Inj: a\nAuthorization: Bearer injected\r\n'));
    // Refused (400) by the hub, or accepted: either way no forged header.
    const first = await within(new Promise((resolve) => {
      const t = setInterval(() => {
        const r = reader.now();
        if (r.status !== null || r.closed) {
          clearInterval(t);
          resolve(r);
        }
      }, 5);
    }), 5000, 'a response');
    if (first.status === 101) await new Promise((r) => setTimeout(r, 200));
    else assert.equal(first.status, 400);
    for (const h of seen) {
      assert.equal(h.authorization, undefined, `forged header: ${JSON.stringify(h)}`);
      for (const name of Object.keys(h)) assert.doesNotMatch(name, /authorization/i);
    }
    sock.destroy();
  } finally {
    await closeServer(wss);
  }
});

test('a NUL in the request target never shifts the subprotocol or headers the application sees', async () => {
  const { WebSocketServer } = require('..');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: ['chat', 'admin-proto'] });
  await once(wss, 'listening');
  const seen = [];
  wss.on('connection', (ws, req) => seen.push({ protocol: ws.protocol, url: req.url, headers: req.headers }));
  try {
    const sock = net.connect(wss.address().port, '127.0.0.1');
    const reader = frameReader(sock, { ms: 3000 });
    await once(sock, 'connect');
    sock.write(Buffer.from(upgradeRequest('/x\0admin-proto\0X-Evil: injected', 'Sec-WebSocket-Protocol: chat\r\n'), 'latin1'));
    const first = await within((async () => {
      while (reader.now().status === null && !reader.now().closed) await new Promise((r) => setTimeout(r, 5));
      return reader.now();
    })(), 5000, 'a response');
    if (first.status === 101) await new Promise((r) => setTimeout(r, 200));
    else assert.equal(first.status, 400);
    for (const s of seen) {
      assert.equal(s.protocol, 'chat');
      assert.equal(s.headers['x-evil'], undefined);
    }
    sock.destroy();
  } finally {
    await closeServer(wss);
  }
});

test('a close the peer never answers ends in close 1006 after closeTimeout, without an error event (as in ws)', async () => {
  const { WebSocketServer } = require('..');
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, closeTimeout: 300 });
  await once(wss, 'listening');
  try {
    const conn = once(wss, 'connection');
    const { sock } = await rawClient(wss.address().port);
    sock.on('data', () => {}); // reads, never answers the close
    const [ws] = await conn;
    const errors = [];
    ws.emit = new Proxy(ws.emit, {
      apply(target, self, args) {
        if (args[0] === 'error') errors.push(args[1]); // no listener: ws would not emit one either
        return Reflect.apply(target, self, args[0] === 'error' ? ['error-seen', args[1]] : args);
      },
    });
    ws.close(1000, 'bye');
    const [code] = await once(ws, 'close', 5000);
    assert.equal(code, 1006);
    assert.deepEqual(errors.map((e) => e.code), []);
    sock.destroy();
  } finally {
    await closeServer(wss);
  }
});

// ws emits no 'error' for a network failure under an open connection (its
// socket's errors only end it), and many ws applications attach no 'error'
// listener to their connections: such an event would crash them.
for (const secure of [false, true]) {
  test(`a client dropping its ${secure ? 'TLS ' : ''}connection while the server writes: close 1006 and no error event`, async () => {
    const fs = require('fs');
    const tls = require('tls');
    const { WebSocketServer } = require('..');
    const data = require('path').join(__dirname, '..', '..', '..', 'tests', 'c', 'data');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...(secure ? { tls: { cert: `${data}/server.pem`, key: `${data}/server.key` } } : {}) });
    await once(wss, 'listening');
    try {
      const conn = once(wss, 'connection');
      const port = wss.address().port;
      const sock = secure
        ? tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: fs.readFileSync(`${data}/ca.pem`) })
        : net.connect(port, '127.0.0.1');
      sock.on('error', () => {});
      await once(sock, secure ? 'secureConnect' : 'connect');
      sock.write(upgradeRequest('/'));
      await once(sock, 'data'); // the 101
      sock.pause(); // reads nothing more: the server's writes back up
      const [ws] = await conn;
      const errors = [];
      ws.emit = new Proxy(ws.emit, {
        apply(target, self, args) {
          if (args[0] === 'error') errors.push(args[1]);
          return Reflect.apply(target, self, args[0] === 'error' ? ['error-seen', args[1]] : args);
        },
      });
      const closed = once(ws, 'close', 5000);
      const big = Buffer.alloc(256 * 1024);
      for (let i = 0; i < 16; i++) ws.send(big);
      await new Promise((r) => setTimeout(r, 100));
      if (secure) sock.destroy();
      else sock.resetAndDestroy(); // RST: the server's next write fails
      for (let i = 0; i < 10 && ws.readyState === 1; i++) {
        ws.send(big);
        await new Promise((r) => setTimeout(r, 20));
      }
      const [code] = await closed;
      assert.equal(code, 1006);
      assert.deepEqual(errors.map((e) => `${e.code}: ${e.message}`), []);
    } finally {
      await closeServer(wss);
    }
  });
}

// A listener that throws ends its dispatch early: what it and the listeners
// before it sent must still leave before the hub answers the close.
for (const watcher of ['', 'socket']) {
  test(`a listener throwing on the last message before a close loses no reply (${watcher || 'inline'} hub)`, async () => {
    const { spawn } = require('child_process');
    const pkg = require('path').join(__dirname, '..');
    const child = spawn(process.execPath, ['-e', `
      const { WebSocketServer } = require(${JSON.stringify(pkg)});
      process.on('uncaughtException', (e) => { if (e.message !== 'from a listener') throw e; });
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => console.log('port ' + wss.address().port));
      wss.on('connection', (ws) => ws.on('message', (d) => {
        ws.send(String(d));
        if (String(d) === 'message ${N - 1}') throw new Error('from a listener');
      }));
    `], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LIBWS_NODE_WATCHER: watcher } });
    try {
      const [line] = await once(child.stdout, 'data', 10000);
      const port = Number(/port (\d+)/.exec(String(line))[1]);
      for (let trial = 0; trial < 3; trial++) {
        const { sock, rest } = await rawClient(port);
        const reader = frameReader(sock, { rest });
        sock.write(messagesThenClose());
        assertEchoesThenClose(await reader.frames());
        sock.destroy();
      }
    } finally {
      child.kill();
    }
  });
}
