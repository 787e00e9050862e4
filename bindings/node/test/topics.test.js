'use strict';
// Topics (ws.subscribe / ws.unsubscribe / wss.publish) with ws clients, and
// two servers joined by a real redis-server.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('net');
const { spawn } = require('child_process');
const path = require('path');
const { WebSocketServer, WS, once, until, closeServer, exitWatchdog } = require('../testing/helpers');

exitWatchdog();

async function wsClient(url) {
  const c = new WS(url);
  c.on('error', () => {});
  c.got = [];
  c.on('message', (d, isBinary) => c.got.push(isBinary ? Buffer.from(d) : d.toString()));
  await once(c, 'open');
  return c;
}

// A server whose connections obey 'sub:T', 'unsub:T' and 'pub:T:text'
// (ws.publish: everyone but the sender).
async function topicServer(options = {}) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      const [cmd, topic, ...rest] = d.toString().split(':');
      if (cmd === 'sub') ws.send(`subscribed:${ws.subscribe(topic)}`);
      else if (cmd === 'unsub') ws.send(`unsubscribed:${ws.unsubscribe(topic)}`);
      else if (cmd === 'pub') ws.publish(topic, rest.join(':'));
    });
  });
  await once(wss, 'listening');
  return wss;
}

async function subscribe(c, topic) {
  const n = c.got.length;
  c.send(`sub:${topic}`);
  await until(() => c.got.length > n, 5000, 'subscribed');
  assert.equal(c.got.pop(), 'subscribed:true');
}

test('fan-out: a publish reaches every subscriber once, text and binary, in order; others get nothing', async () => {
  const wss = await topicServer();
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const subs = await Promise.all([1, 2, 3, 4, 5].map(() => wsClient(url)));
  const other = await wsClient(url);
  try {
    for (const c of subs) await subscribe(c, 'room');
    await subscribe(other, 'elsewhere');
    assert.equal(wss.numSubscribers('room'), 5);
    assert.equal(wss.numSubscribers('nobody'), 0);
    for (let i = 0; i < 50; i++) assert.equal(wss.publish('room', `m${i}`), true);
    wss.publish('room', Buffer.from([1, 2, 3]));
    wss.publish('room', 'as binary', { binary: true });
    wss.publish('room', Buffer.from('as text'), false);
    const want = [...Array.from({ length: 50 }, (_, i) => `m${i}`), Buffer.from([1, 2, 3]), Buffer.from('as binary'), 'as text'];
    for (const c of subs) {
      await until(() => c.got.length >= want.length, 5000, 'every publish');
      assert.deepEqual(c.got, want);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(other.got, []);
    for (const c of subs) assert.equal(c.got.length, want.length, 'exactly once');
  } finally {
    for (const c of [...subs, other]) c.terminate();
    await closeServer(wss);
  }
});

test('wss.publish excludes nobody; ws.publish excludes its sender', async () => {
  const wss = await topicServer();
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const a = await wsClient(url);
  const b = await wsClient(url);
  try {
    await subscribe(a, 't');
    await subscribe(b, 't');
    wss.publish('t', 'from server');
    a.send('pub:t:from a');
    await until(() => b.got.length >= 2 && a.got.length >= 1, 5000, 'publishes');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(a.got, ['from server']);
    assert.deepEqual(b.got, ['from server', 'from a']);
  } finally {
    a.terminate();
    b.terminate();
    await closeServer(wss);
  }
});

test('unsubscribe stops delivery; a closed subscriber leaves its topics; bad topics throw', async () => {
  const wss = await topicServer();
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const a = await wsClient(url);
  const b = await wsClient(url);
  try {
    await subscribe(a, 't');
    await subscribe(b, 't');
    const server = [...wss.clients];
    assert.deepEqual(server.map((s) => s.getTopics()), [['t'], ['t']]);
    a.send('unsub:t');
    await until(() => a.got.length === 1, 5000, 'unsubscribed');
    assert.equal(a.got.pop(), 'unsubscribed:true');
    wss.publish('t', 'one');
    await until(() => b.got.length === 1, 5000, 'b gets it');
    assert.equal(wss.numSubscribers('t'), 1);
    b.close();
    await once(b, 'close');
    await until(() => wss.numSubscribers('t') === 0, 5000, 'b left the topic');
    wss.publish('t', 'two'); // no subscriber: not an error
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(a.got, []);
    assert.deepEqual(b.got, ['one']);
    const s = [...wss.clients][0];
    assert.throws(() => s.subscribe(''), RangeError);
    assert.throws(() => s.subscribe('x'.repeat(1025)), RangeError);
    assert.throws(() => wss.publish(42, 'x'), TypeError);
    assert.equal(s.subscribe('x'.repeat(1024)), true);
  } finally {
    a.terminate();
    b.terminate();
    await closeServer(wss);
  }
});

test('subscribers disconnecting while publishes go out: the others get every message', async () => {
  const wss = await topicServer();
  const url = `ws://127.0.0.1:${wss.address().port}/`;
  const subs = await Promise.all(Array.from({ length: 6 }, () => wsClient(url)));
  try {
    for (const c of subs) await subscribe(c, 'r');
    for (let i = 0; i < 200; i++) {
      wss.publish('r', `m${i}`);
      if (i === 50) subs[0].terminate();
      if (i === 100) subs[1].terminate();
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const c of subs.slice(2)) {
      await until(() => c.got.length >= 200, 5000, 'every publish');
      assert.deepEqual(c.got, Array.from({ length: 200 }, (_, i) => `m${i}`));
    }
  } finally {
    for (const c of subs) c.terminate();
    await closeServer(wss);
  }
});

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRedis() {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  await until(() => /ready to accept connections/i.test(out) || proc.exitCode !== null, 10000, 'redis-server');
  assert.equal(proc.exitCode, null, `redis-server exited: ${out}`);
  return { port, proc };
}

test('two servers sharing a real redis-server: every publish reaches the subscribers of both exactly once, in order', async () => {
  const redis = await startRedis();
  const broker = `redis://127.0.0.1:${redis.port}/0`;
  const servers = [];
  const clients = [];
  try {
    for (let i = 0; i < 2; i++) {
      const wss = await topicServer({ broker });
      wss.brokerUp = false;
      wss.on('broker', (state) => { if (state === 'up') wss.brokerUp = true; });
      servers.push(wss);
    }
    await until(() => servers.every((s) => s.brokerUp), 10000, 'broker up on both');
    for (const wss of servers) {
      for (let i = 0; i < 2; i++) {
        const c = await wsClient(`ws://127.0.0.1:${wss.address().port}/`);
        await subscribe(c, 'chat');
        clients.push(c);
      }
    }
    // Each hub subscribes in Redis when its first local subscriber comes;
    // probe until both directions carry.
    for (const [from, to] of [[0, 2], [2, 0]]) {
      await until(() => {
        servers[from >> 1].publish('chat', 'probe');
        return clients[to].got.includes('probe');
      }, 10000, 'the broker carries publishes');
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const c of clients) c.got.length = 0;
    const N = 300;
    for (let i = 0; i < N; i++) {
      servers[0].publish('chat', `a${i}`);
      servers[1].publish('chat', `b${i}`);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    for (const c of clients) {
      await until(() => c.got.filter((m) => m !== 'probe').length >= 2 * N, 10000, 'every publish on every client');
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const c of clients) {
      const got = c.got.filter((m) => m !== 'probe');
      assert.equal(got.length, 2 * N, 'exactly once');
      assert.deepEqual(got.filter((m) => m[0] === 'a'), Array.from({ length: N }, (_, i) => `a${i}`));
      assert.deepEqual(got.filter((m) => m[0] === 'b'), Array.from({ length: N }, (_, i) => `b${i}`));
    }
  } finally {
    for (const c of clients) c.terminate();
    for (const s of servers) await closeServer(s);
    redis.proc.kill('SIGTERM');
    if (redis.proc.exitCode === null) await once(redis.proc, 'exit', 5000).catch(() => redis.proc.kill('SIGKILL'));
  }
});

test('reusePort: two servers listen on one port', async () => {
  const a = new WebSocketServer({ host: '127.0.0.1', port: 0, reusePort: true });
  await once(a, 'listening');
  const b = new WebSocketServer({ host: '127.0.0.1', port: a.address().port, reusePort: true });
  await once(b, 'listening');
  try {
    assert.equal(b.address().port, a.address().port);
    const c = await wsClient(`ws://127.0.0.1:${a.address().port}/`);
    c.terminate();
  } finally {
    await closeServer(a);
    await closeServer(b);
  }
});

function chatServer(broker) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', '..', '..', 'examples', 'node', 'chat_server.js'), '0', broker],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\/chat/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`chat_server exited with ${code}: ${err}`)));
  });
}

test('examples/node/chat_server.js: two processes sharing a redis-server are one chat, rooms apart', async () => {
  const redis = await startRedis();
  const broker = `redis://127.0.0.1:${redis.port}/0`;
  const servers = [];
  const clients = [];
  try {
    servers.push(await chatServer(broker), await chatServer(broker));
    await until(() => servers.every((s) => /broker up/.test(s.stderr())), 10000, 'broker up in both');
    const a = await wsClient(`ws://127.0.0.1:${servers[0].port}/chat?room=r1`);
    const b = await wsClient(`ws://127.0.0.1:${servers[1].port}/chat?room=r1`);
    const other = await wsClient(`ws://127.0.0.1:${servers[1].port}/chat?room=r2`);
    clients.push(a, b, other);
    // Until the second process has subscribed in Redis, a's lines may not reach b.
    await until(() => {
      a.send('probe');
      return b.got.includes('probe');
    }, 10000, 'the chat across processes');
    b.send('hello from b');
    a.send('hello from a');
    await until(() => a.got.includes('hello from b') && b.got.includes('hello from a'), 5000, 'both lines');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(other.got, []);
  } finally {
    for (const c of clients) c.terminate();
    for (const s of servers) {
      s.child.kill('SIGTERM');
      if (s.child.exitCode === null) await once(s.child, 'exit', 5000).catch(() => s.child.kill('SIGKILL'));
    }
    redis.proc.kill('SIGTERM');
    if (redis.proc.exitCode === null) await once(redis.proc, 'exit', 5000).catch(() => redis.proc.kill('SIGKILL'));
  }
});
