// The scale-out chat (examples/scaleout): examples/python/chat_server.py and
// examples/node/chat_server.js, each its own process, share a private
// redis-server (free port, no persistence) as their broker, behind Debian's
// nginx (started unprivileged as in nginx.test.mjs) with the example's own
// config (examples/scaleout/nginx.conf.template), which routes
//   /      -> the upstream of both (round-robin)
//   /py/   -> the Python chat server only
//   /node/ -> the Node chat server only
// so a client of /py/chat and one of /node/chat are on different backends
// for certain. Chromium types into the page from each backend and reads it
// from the other; then two `ws` clients join one room; 50 messages each way, sent interleaved,
// must reach both clients exactly once and in each sender's order.
//
//   node --test tests/interop/scaleout.test.mjs
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import WebSocket from 'ws';

import { CHROMIUM, HOST, ROOT, exists, launchChromium, freePort, kill, killAll, sleep, start, startServer, waitPort, withTimeout } from './lib.mjs';

const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const REDIS = process.env.REDIS_SERVER || '/usr/bin/redis-server';
const N = 50;
const bindingEnv = { PYTHONPATH: [path.join(ROOT, 'bindings', 'python'), process.env.PYTHONPATH].filter(Boolean).join(':') };

let tmp;
let nginx;
let nginxPort;
let redis;
let py;
let nd;

// The example's own config, filled in as examples/scaleout/run.sh does.
function nginxConf(port) {
  const template = fs.readFileSync(path.join(ROOT, 'examples', 'scaleout', 'nginx.conf.template'), 'utf8');
  return template
    .replaceAll('@PREFIX@', tmp)
    .replaceAll('@LISTEN@', `${HOST}:${port}`)
    .replaceAll('@PY@', `${HOST}:${py.port}`)
    .replaceAll('@NODE@', `${HOST}:${nd.port}`);
}

before(async () => {
  assert.ok(exists(NGINX), `${NGINX} is missing (apt-get install -y nginx)`);
  assert.ok(exists(REDIS), `${REDIS} is missing (apt-get install -y redis-server)`);
  redis = await startServer('redis', REDIS, (p) => ['--port', String(p), '--bind', HOST, '--save', '', '--appendonly', 'no']);
  const url = `redis://${HOST}:${redis.port}/0`;
  py = await startServer('py-chat', 'python3', (p) => [path.join(ROOT, 'examples/python/chat_server.py'), String(p), url], { env: bindingEnv });
  nd = await startServer('node-chat', 'node', (p) => [path.join(ROOT, 'examples/node/chat_server.js'), String(p), url]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-scaleout-'));
  for (let attempt = 0; ; attempt++) {
    nginxPort = await freePort();
    fs.writeFileSync(path.join(tmp, 'nginx.conf'), nginxConf(nginxPort));
    nginx = start('nginx', NGINX, ['-p', tmp, '-c', path.join(tmp, 'nginx.conf'), '-e', path.join(tmp, 'error.log')]);
    try {
      await waitPort(nginxPort, 10000, nginx);
      break;
    } catch (e) {
      kill(nginx);
      if (attempt === 2) throw new Error(`${e.message}\n${fs.existsSync(path.join(tmp, 'error.log')) ? fs.readFileSync(path.join(tmp, 'error.log'), 'utf8') : ''}`);
    }
  }
});

after(() => {
  for (const c of [nginx, py?.child, nd?.child, redis?.child]) kill(c);
  killAll();
  if (tmp && !process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

// A ws client that records every text message it receives, and lets a test
// wait until a predicate over them holds.
async function connect(url) {
  const ws = new WebSocket(url);
  const got = [];
  let wake = () => {};
  ws.on('message', (data, isBinary) => {
    got.push({ text: data.toString(), isBinary });
    wake();
  });
  ws.on('close', () => wake());
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 10000, `connect ${url}`);
  const until = (pred, ms, what) =>
    withTimeout(
      (async () => {
        while (!pred(got)) {
          if (ws.readyState !== WebSocket.OPEN) throw new Error(`${url} closed while waiting for ${what}`);
          await new Promise((r) => (wake = r));
        }
      })(),
      ms,
      what,
    );
  return { ws, got, until };
}

const serverLog = () => ['py', 'nd', 'redis'].map((k) => `--- ${k}\n${({ py, nd, redis })[k]?.child.output()}`).join('\n');

test('the page is the same from either backend, and from the shared upstream', { timeout: 20000 }, async () => {
  const pages = [];
  for (const p of ['/', '/py/', '/node/']) {
    const res = await fetch(`http://${HOST}:${nginxPort}${p}`);
    assert.equal(res.status, 200, `GET ${p}`);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    pages.push(await res.text());
  }
  assert.match(pages[0], /<title>libws chat<\/title>/);
  assert.equal(pages[1], pages[0], 'the Python page differs from the Node one');
  assert.equal(pages[2], pages[0]);
});

test('Python and Node chat servers are one chat through Redis: 50 each way, exactly once, in order', { timeout: 60000 }, async () => {
  const room = `t${crypto.randomBytes(4).toString('hex')}`;
  const a = await connect(`ws://${HOST}:${nginxPort}/py/chat?room=${room}`);
  const b = await connect(`ws://${HOST}:${nginxPort}/node/chat?room=${room}`);
  try {
    // Each server subscribes to the room at the broker when its client
    // joins; until both have, a message can miss the other side. Probe until
    // each client has seen one of the other's probes.
    const seen = (c, prefix) => c.got.some((m) => m.text.startsWith(prefix));
    for (let i = 0; !(seen(a, 'probe node ') && seen(b, 'probe py ')); i++) {
      assert.ok(i < 100, `the two servers never joined one chat\n${serverLog()}`);
      if (!seen(b, 'probe py ')) a.ws.send(`probe py ${i}`);
      if (!seen(a, 'probe node ')) b.ws.send(`probe node ${i}`);
      await sleep(100);
    }

    for (let i = 0; i < N; i++) {
      a.ws.send(`from py ${i} é✓`);
      b.ws.send(`from node ${i} 😀`);
    }
    const counted = (c) => c.got.filter((m) => m.text.startsWith('from '));
    for (const [name, c] of [['py', a], ['node', b]]) {
      await c.until((g) => counted({ got: g }).length >= 2 * N, 20000, `${name} client: ${2 * N} messages`).catch((e) => {
        throw new Error(`${e.message}; got ${counted(c).length}\n${serverLog()}`);
      });
    }
    // Anything duplicated would arrive right behind the rest.
    await sleep(500);
    for (const [name, c] of [['py', a], ['node', b]]) {
      const msgs = counted(c);
      assert.equal(msgs.length, 2 * N, `${name} client: ${msgs.length} messages, not ${2 * N}`);
      assert.ok(msgs.every((m) => !m.isBinary), `${name} client: text arrived as binary`);
      for (const [from, tail] of [['py', 'é✓'], ['node', '😀']]) {
        const texts = msgs.filter((m) => m.text.startsWith(`from ${from} `)).map((m) => m.text);
        assert.deepEqual(texts, Array.from({ length: N }, (_, i) => `from ${from} ${i} ${tail}`), `${name} client: messages from ${from}`);
      }
    }
  } finally {
    a.ws.terminate();
    b.ws.terminate();
  }
});

test('the shared upstream location carries the chat too', { timeout: 30000 }, async () => {
  // Round-robin sends the shared client to either backend; whichever it
  // is, it must reach clients pinned to both, and be reached by them.
  const room = `u${crypto.randomBytes(4).toString('hex')}`;
  const shared = await connect(`ws://${HOST}:${nginxPort}/chat?room=${room}`);
  const pinned = [await connect(`ws://${HOST}:${nginxPort}/py/chat?room=${room}`), await connect(`ws://${HOST}:${nginxPort}/node/chat?room=${room}`)];
  try {
    for (let i = 0; ; i++) {
      const done = pinned.every((p) => p.got.some((m) => m.text.startsWith('shared ')));
      if (done && shared.got.some((m) => m.text === 'pinned py') && shared.got.some((m) => m.text === 'pinned node')) break;
      assert.ok(i < 100, `no chat across the shared upstream\n${serverLog()}`);
      shared.ws.send(`shared ${i}`);
      pinned[0].ws.send('pinned py');
      pinned[1].ws.send('pinned node');
      await sleep(100);
    }
  } finally {
    for (const c of [shared, ...pinned]) c.ws.terminate();
  }
});

test('in Chromium: a line typed in a tab of the Python server shows in a tab of the Node server, and back', { timeout: 60000 }, async () => {
  assert.ok(exists(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`);
  const browser = await launchChromium();
  try {
    const room = `b${crypto.randomBytes(4).toString('hex')}`;
    const tabs = {};
    for (const name of ['py', 'node']) {
      tabs[name] = await browser.context.newPage();
      await tabs[name].goto(`http://${HOST}:${nginxPort}/${name}/?room=${room}`, { timeout: 15000 });
    }
    const lines = (tab) => tab.$$eval('#log li', (lis) => lis.map((li) => li.textContent));
    const type = async (tab, text) => {
      await tab.fill('#m', text);
      await tab.press('#m', 'Enter');
    };
    // Typed until the other tab shows it: the first lines may be typed
    // before the page's socket is open or before both servers subscribed.
    for (const [from, to] of [['py', 'node'], ['node', 'py']]) {
      for (let i = 0; !(await lines(tabs[to])).some((l) => l.startsWith(`hello from ${from} tab`)); i++) {
        assert.ok(i < 50, `nothing typed in the ${from} tab reached the ${to} tab\n${serverLog()}`);
        await type(tabs[from], `hello from ${from} tab ${i}`);
        await sleep(200);
      }
    }
    // Now open on both sides: one line each way arrives exactly once, in
    // both tabs (the sender's own tab too).
    await type(tabs.py, 'last from py ✓');
    await type(tabs.node, 'last from node ✓');
    for (const name of ['py', 'node']) {
      for (let i = 0; ; i++) {
        const got = await lines(tabs[name]);
        if (got.includes('last from py ✓') && got.includes('last from node ✓')) break;
        assert.ok(i < 50, `${name} tab: ${JSON.stringify(got.slice(-5))}`);
        await sleep(100);
      }
    }
    await sleep(300);
    for (const name of ['py', 'node']) {
      const got = await lines(tabs[name]);
      for (const l of ['last from py ✓', 'last from node ✓']) {
        assert.equal(got.filter((x) => x === l).length, 1, `${name} tab: ${JSON.stringify(l)} not exactly once`);
      }
    }
  } finally {
    await browser.close();
  }
});

test('a binary message goes on as text from either server, as chat_server.js does it', { timeout: 30000 }, async () => {
  const room = `c${crypto.randomBytes(4).toString('hex')}`;
  const a = await connect(`ws://${HOST}:${nginxPort}/py/chat?room=${room}`);
  const b = await connect(`ws://${HOST}:${nginxPort}/node/chat?room=${room}`);
  try {
    const has = (c, text) => c.got.some((m) => m.text === text);
    for (let i = 0; !(has(a, 'bin from node ✓') && has(b, 'bin from py ✓')); i++) {
      assert.ok(i < 100, `binary messages did not cross\n${serverLog()}`);
      a.ws.send(Buffer.from('bin from py ✓'), { binary: true });
      b.ws.send(Buffer.from('bin from node ✓'), { binary: true });
      await sleep(100);
    }
    for (const c of [a, b]) assert.ok(c.got.every((m) => !m.isBinary), 'a message arrived as binary');
  } finally {
    a.ws.terminate();
    b.ws.terminate();
  }
});
