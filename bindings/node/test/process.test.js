'use strict';
// Whole processes: they exit on their own when nothing is open, the library
// is found (or a clear error names every place looked in), and the examples
// in examples/node work.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { exitWatchdog } = require('../testing/helpers');

exitWatchdog();

const PKG = path.join(__dirname, '..');
const EXAMPLES = path.join(PKG, '..', '..', 'examples', 'node');

/** Runs node with args; resolves with { code, signal, stdout, stderr, ms }. */
function run(args, { env, timeout = 15000, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} did not exit within ${timeout} ms\n${stdout}\n${stderr}`));
    }, timeout);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

function script(body) {
  return ['-e', `const WebSocket = require(${JSON.stringify(PKG)}); const { WebSocketServer } = WebSocket;\n${body}`];
}

test('requiring the package alone does not keep the process alive', async () => {
  const r = await run(script('console.log(WebSocket.version())'));
  assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
});

test('a server and a client that both close: the process exits by itself', async () => {
  const r = await run(script(`
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
      const c = new WebSocket('ws://127.0.0.1:' + wss.address().port + '/');
      c.on('open', () => c.send('ping'));
      c.on('message', (d) => { console.log('got ' + d); c.close(); });
      c.on('close', (code) => { console.log('closed ' + code); wss.close(); });
    });
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
  `));
  assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout, 'got ping\nclosed 1005\n');
});

// Both ways of watching the hub (lib/watcher.js): the libuv poll handle on
// an inline hub, used whenever Node exports libuv, and the net.Socket on a
// threaded hub's pipe, the fallback. Each serves many messages in order,
// a listener's throw reaches 'uncaughtException', and the process exits
// by itself.
for (const [watcher, inline] of [['', true], ['socket', false]]) {
  test(`hub watched by ${inline ? 'a libuv poll handle (inline hub)' : 'a net.Socket (threaded hub)'}`, async () => {
    const r = await run(script(`
      console.log('inline ' + require(${JSON.stringify(path.join(PKG, 'lib', 'hub'))}).INLINE);
      let thrown = 0;
      process.on('uncaughtException', (e) => { if (e.message === 'from a listener') thrown++; else throw e; });
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
        const c = new WebSocket('ws://127.0.0.1:' + wss.address().port + '/');
        const N = 500;
        let next = 0;
        c.on('open', () => { for (let i = 0; i < N; i++) c.send('m' + i); });
        c.on('message', (d) => {
          if (String(d) !== 'm' + next) { console.log('out of order: ' + d + ' for m' + next); process.exit(1); }
          if (++next === N) c.close(1000, 'done');
        });
        c.on('close', (code) => { console.log('echoes ' + next + ', close ' + code + ', thrown ' + thrown); wss.close(); });
      });
      wss.on('connection', (ws) => ws.on('message', (d, isBinary) => {
        ws.send(d, { binary: isBinary });
        if (String(d) === 'm7') throw new Error('from a listener');
      }));
    `), { env: { LIBWS_NODE_WATCHER: watcher } });
    assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout, `inline ${inline}\nechoes 500, close 1000, thrown 1\n`);
  });
}

// The net.Socket watching a threaded hub's pipe consumes the hub's single
// wake-up byte: a drain that stopped while events were still queued was
// never woken again (13,230 of 40,000 echoes, then nothing). Bursts from
// many clients make the hub hand its queue over in parts.
test('threaded hub: bursts from many clients never strand queued events', async () => {
  const r = await run(script(`
    const WS = require(${JSON.stringify(path.join(PKG, 'node_modules', 'ws'))});
    const C = 20, N = 1500;
    async function round() {
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
      await new Promise((r) => wss.once('listening', r));
      let got = 0;
      const clients = [];
      for (let k = 0; k < C; k++) {
        const c = new WS('ws://127.0.0.1:' + wss.address().port + '/');
        c.on('open', () => { for (let i = 0; i < N; i++) c.send('x'.repeat(100 + (i % 50) * 40)); });
        c.on('message', () => { got++; });
        clients.push(c);
      }
      let last = -1, lastAt = Date.now();
      while (got < C * N && Date.now() - lastAt < 3000) {
        if (got !== last) { last = got; lastAt = Date.now(); }
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const c of clients) c.terminate();
      await new Promise((r) => wss.close(r));
      return got;
    }
    (async () => {
      for (let i = 0; i < 4; i++) console.log('echoes ' + await round());
    })();
  `), { env: { LIBWS_NODE_WATCHER: 'socket' }, timeout: 60000 });
  assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout, 'echoes 30000\n'.repeat(4));
});

test('a refused client alone: the process exits by itself', async () => {
  const r = await run(script(`
    const c = new WebSocket('ws://127.0.0.1:1/');
    c.on('error', (e) => console.log('error ' + e.code));
    c.on('close', (code) => console.log('close ' + code));
  `));
  assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout, 'error WS_EIO\nclose 1006\n');
});

test('an open server keeps the process alive (and an idle connection does too)', async () => {
  const r = await run(script(`
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => console.log('listening'));
    setTimeout(() => { console.log('still alive'); wss.close(); }, 700).unref();
  `));
  assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
  assert.equal(r.stdout, 'listening\nstill alive\n');
  const r2 = await run(script(`
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => {
      const c = new WebSocket('ws://127.0.0.1:' + wss.address().port + '/');
      c.on('open', () => {
        wss.close(); // the client keeps the process alive until its close arrives
        console.log('open');
      });
      c.on('close', (code) => console.log('client close ' + code));
    });
  `));
  assert.equal(r2.code, 0, `signal ${r2.signal}: ${r2.stderr}`);
  assert.equal(r2.stdout, 'open\nclient close 1001\n');
});

test('library lookup: package, then LIBWS_LIBRARY, then the system, with an error naming all three', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-node-'));
  try {
    fs.cpSync(path.join(PKG, 'lib'), path.join(dir, 'lib'), { recursive: true });
    fs.copyFileSync(path.join(PKG, 'index.js'), path.join(dir, 'index.js'));
    const env = { NODE_PATH: path.join(PKG, 'node_modules'), LIBWS_LIBRARY: '', LD_LIBRARY_PATH: '' };
    const body = ['-e', `try { require(${JSON.stringify(dir)}); console.log('loaded'); } catch (e) { console.log(e.message); }`];

    let r = await run(body, { env });
    assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
    assert.match(r.stdout, /libws\.so not found/);
    assert.ok(r.stdout.includes(path.join(dir, 'libws.so')), r.stdout);
    assert.match(r.stdout, /LIBWS_LIBRARY: not set/);
    assert.match(r.stdout, /the system/);

    r = await run(body, { env: { ...env, LIBWS_LIBRARY: path.join(dir, 'nope.so') } });
    assert.match(r.stdout, /LIBWS_LIBRARY: .*nope\.so does not exist/);

    const real = require('..').libraryPath;
    r = await run(['-e', `const w = require(${JSON.stringify(dir)}); console.log(w.libraryPath, w.version())`],
      { env: { ...env, LIBWS_LIBRARY: real } });
    assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), `${real} ${require('..').version()}`);

    // A file that is not a library is an error at once (no fallback: a second
    // Go library in one process is unsupported).
    fs.writeFileSync(path.join(dir, 'libws.so'), 'not an ELF file');
    r = await run(body, { env: { ...env, LIBWS_LIBRARY: real } });
    assert.match(r.stdout, /cannot load the package/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('examples/node: echo_server.js and client.js', async () => {
  const server = spawn(process.execPath, [path.join(EXAMPLES, 'echo_server.js'), '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('echo_server did not start')), 10000);
      let out = '';
      server.stdout.on('data', (d) => {
        out += d;
        const m = /listening on (ws:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      server.on('exit', (code) => reject(new Error(`echo_server exited with ${code}`)));
    });
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    let r = await run([path.join(EXAMPLES, 'client.js'), url, 'héllo, echo ✓']);
    assert.equal(r.code, 0, `signal ${r.signal}: ${r.stderr}`);
    assert.equal(r.stdout, 'héllo, echo ✓\n');
    r = await run([path.join(EXAMPLES, 'client.js'), url]);
    assert.equal(r.stdout, 'Hello, libws!\n');
    r = await run([path.join(EXAMPLES, 'client.js'), 'ws://127.0.0.1:1/']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refused/);
    r = await run([path.join(EXAMPLES, 'client.js')]);
    assert.equal(r.code, 2);
    r = await run([path.join(EXAMPLES, 'client.js'), 'bogus']);
    assert.equal(r.code, 2);
    r = await run([path.join(EXAMPLES, 'echo_server.js'), 'x']);
    assert.equal(r.code, 2);
    // Like the C and Python example servers, it takes permessage-deflate when
    // offered (ws offers it, as browsers do) and echoes through it.
    const { WebSocket: PeerSocket } = require('ws');
    const peer = new PeerSocket(url);
    await new Promise((resolve, reject) => {
      peer.once('open', resolve);
      peer.once('error', reject);
    });
    assert.match(peer.extensions, /^permessage-deflate/);
    const text = 'compressible text, '.repeat(300);
    const echoed = new Promise((resolve) => peer.once('message', (data, isBinary) => resolve({ data, isBinary })));
    peer.send(text);
    const { data, isBinary } = await echoed;
    assert.equal(isBinary, false);
    assert.equal(data.toString(), text);
    await new Promise((resolve) => {
      peer.once('close', resolve);
      peer.close(1000);
    });
  } finally {
    const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
    server.kill('SIGTERM');
    const { code, signal } = await exited;
    assert.equal(code, 0, `echo_server ended by signal ${signal}`);
  }
});
