// The interop matrix: every client against every server, one fixed script
// per pair, a pass/fail table, exit status 1 if any existing cell failed.
//
//   node tests/interop/matrix.mjs [--only-client NAME] [--only-server NAME]
//
// Script (one connection per cell, in this order; see STEPS):
//   text-ascii, text-utf8 (2/3/4-byte characters), binary-256 (every byte
//   value), text-empty, binary-empty, text/binary of 125, 126, 65535 and
//   65536 bytes, binary-1MiB, frag-text (a text message in 4 fragments cut
//   inside multibyte characters), frag-binary (3 fragments), ping (a pong
//   with the same payload must come back), close-4000 (close with 4000 and
//   a reason: the peer's close reply must carry 4000).
// Every echo is compared byte-for-byte and by message type.
//
// Clients that cannot run every step do the steps they can; a cell counts
// only those (the table shows passed/attempted):
//   C echo_client and the binding clients follow echo_client's CLI
//   (`client URL MESSAGE`: send MESSAGE as one text message, print the
//   reply and a newline, close, exit 0), so they run the text steps, one
//   process per step. Chromium's WebSocket API cannot fragment or ping.
//
// Binding implementations are included as soon as their files exist:
//   clients: examples/python/client.py, examples/node/client.js
//   servers: examples/python/echo_server.py PORT, examples/node/echo_server.js PORT
// Until then their cells print n/a. The last line is "N passed, M failed"
// (cells).
import fs from 'node:fs';
import path from 'node:path';

import {
  BUILD,
  CHROMIUM,
  HERE,
  OUTPUT,
  ROOT,
  binaryPayload,
  example,
  exists,
  kill,
  killAll,
  launchChromium,
  run,
  startServer,
  textPayload,
  withTimeout,
} from './lib.mjs';

const LIBDIR = process.env.LIBWS_LIB_DIR || path.join(BUILD, 'lib');
const STEPS = [
  'text-ascii',
  'text-utf8',
  'binary-256',
  'text-empty',
  'binary-empty',
  'text-125',
  'binary-125',
  'text-126',
  'binary-126',
  'text-65535',
  'binary-65535',
  'text-65536',
  'binary-65536',
  'binary-1MiB',
  'frag-text',
  'frag-binary',
  'ping',
  'close-4000',
];
const ARGV_STEPS = ['text-ascii', 'text-utf8', 'text-empty', 'text-125', 'text-126', 'text-65535', 'text-65536'];
const BROWSER_STEPS = STEPS.filter((s) => !['frag-text', 'frag-binary', 'ping'].includes(s));
const UTF8 = 'héllo wörld — 你好, мир 🌍🚀 \u{10FFFF}';
const CELL_TIMEOUT = 60000;

function argvMessage(step) {
  if (step === 'text-ascii') return 'Hello, libws!';
  if (step === 'text-utf8') return UTF8;
  if (step === 'text-empty') return '';
  return textPayload(Number(step.slice('text-'.length)));
}

const py = (file) => ['python3', [path.join(ROOT, file)]];
const node = (file) => ['node', [path.join(ROOT, file)]];
const bindingEnv = { PYTHONPATH: [path.join(ROOT, 'bindings', 'python'), process.env.PYTHONPATH].filter(Boolean).join(':') };

const CLIENTS = [
  { name: 'C echo_client', kind: 'argv', cmd: () => [example('echo_client'), []], steps: ARGV_STEPS },
  { name: 'C libws script', kind: 'script', cmd: () => [path.join(BUILD, 'interop', 'c_client'), []], steps: STEPS },
  { name: 'Python websockets', kind: 'script', cmd: () => ['python3', [path.join(HERE, 'peers', 'py_client.py')]], steps: STEPS },
  { name: 'Node ws', kind: 'script', cmd: () => ['node', [path.join(HERE, 'peers', 'node_client.mjs')]], steps: STEPS },
  { name: 'Chromium', kind: 'browser', steps: BROWSER_STEPS },
  { name: 'Python binding', kind: 'argv', file: 'examples/python/client.py', cmd: () => py('examples/python/client.py'), env: bindingEnv, steps: ARGV_STEPS },
  { name: 'Node binding', kind: 'argv', file: 'examples/node/client.js', cmd: () => node('examples/node/client.js'), steps: ARGV_STEPS },
];

const SERVERS = [
  { name: 'C echo_server (hub)', cmd: () => [example('echo_server'), []] },
  { name: 'C threaded_echo_server', cmd: () => [example('threaded_echo_server'), []] },
  // The browser's page is about:blank (Origin: null), which the Go engine,
  // like gorilla, refuses by default: go-echo is told to accept any origin.
  { name: 'Go go-echo', cmd: () => [example('go-echo'), ['-origin', '*']] },
  { name: 'Python binding', file: 'examples/python/echo_server.py', cmd: () => py('examples/python/echo_server.py'), env: bindingEnv },
  { name: 'Node binding', file: 'examples/node/echo_server.js', cmd: () => node('examples/node/echo_server.js') },
  { name: 'ref websockets', ref: true, cmd: () => ['python3', [path.join(HERE, 'peers', 'py_server.py')]] },
  { name: 'ref ws', ref: true, cmd: () => ['node', [path.join(HERE, 'peers', 'node_server.mjs')]] },
];

const present = (impl) => !impl.file || exists(path.join(ROOT, impl.file));

// ------------------------------------------------------------ clients
function parseLines(stdout) {
  const results = new Map();
  for (const line of stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line);
      if (!results.has(r.step)) results.set(r.step, r);
    } catch {
      /* not a result line */
    }
  }
  return results;
}

async function runScriptClient(client, url) {
  const [cmd, args] = client.cmd();
  const r = await run(cmd, [...args, url], { timeout: CELL_TIMEOUT, env: client.env });
  const results = parseLines(r.stdout);
  const why = r.timedOut ? `timed out after ${CELL_TIMEOUT} ms` : `exited ${r.code ?? r.signal}`;
  const connect = results.get('connect');
  const out = client.steps.map(
    (s) =>
      results.get(s) || {
        step: s,
        ok: false,
        detail: connect ? `connect failed: ${connect.detail}` : `no result (${why}; stderr: ${r.stderr.trim().slice(-300)})`,
      },
  );
  out.extensions = results.get('info-extensions')?.detail;
  return out;
}

async function runArgvClient(client, url) {
  const [cmd, args] = client.cmd();
  const out = [];
  for (const step of client.steps) {
    const msg = argvMessage(step);
    const r = await run(cmd, [...args, url, msg], { timeout: 20000, env: client.env });
    const got = r.stdout.toString('utf8');
    let ok = r.code === 0 && (got === msg + '\n' || got === msg);
    let detail = '';
    if (r.timedOut) detail = 'timed out after 20000 ms';
    else if (r.code !== 0) detail = `exit ${r.code ?? r.signal}: ${r.stderr.trim().slice(-300)}`;
    else if (!ok) {
      const want = Buffer.from(msg + '\n');
      let i = 0;
      while (i < want.length && i < r.stdout.length && want[i] === r.stdout[i]) i++;
      detail = `printed ${r.stdout.length} bytes, want ${want.length} (message + newline), first difference at byte ${i}`;
    }
    if (ok && r.stderr.trim()) detail = `stderr: ${r.stderr.trim().slice(-200)}`;
    if (ok && /close:/.test(r.stderr)) ok = false;
    out.push({ step, ok, detail });
  }
  return out;
}

// The script in the page: Chromium's own WebSocket, no library.
async function browserScript([url, steps, utf8]) {
  const binary = (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
    return b;
  };
  const text = (n) => {
    const unit = new TextEncoder().encode('aé€😀');
    const b = new Uint8Array(n).fill(0x78);
    const whole = Math.floor(n / unit.length) * unit.length;
    for (let i = 0; i < whole; i += unit.length) b.set(unit, i);
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  };
  const bounded = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ': nothing in ' + ms + ' ms')), ms))]);
  const results = [];
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const queue = [];
  const waiters = [];
  let closeEvent = null;
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => {
      closeEvent = { code: e.code, reason: e.reason, wasClean: e.wasClean };
      resolve(closeEvent);
    };
  });
  ws.onmessage = (e) => {
    const w = waiters.shift();
    if (w) w(e.data);
    else queue.push(e.data);
  };
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : bounded(new Promise((r) => waiters.push(r)), 15000, 'reply'));
  try {
    await bounded(
      new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = () => reject(new Error('WebSocket error before open'));
      }),
      10000,
      'open',
    );
  } catch (e) {
    return { results: steps.map((s) => ({ step: s, ok: false, detail: 'connect failed: ' + e.message })) };
  }
  const extensions = ws.extensions;
  const payload = (step) => {
    if (step === 'text-ascii') return 'Hello, libws!';
    if (step === 'text-utf8') return utf8;
    if (step === 'text-empty') return '';
    if (step === 'binary-empty') return new Uint8Array(0);
    if (step === 'binary-1MiB') return binary(1 << 20);
    const [kind, n] = step.split('-');
    return kind === 'text' ? text(Number(n)) : binary(Number(n));
  };
  for (const step of steps) {
    try {
      if (step === 'close-4000') {
        ws.close(4000, 'bye — ✓');
        const e = await bounded(closed, 10000, 'close reply');
        results.push({ step, ok: e.code === 4000 && e.wasClean, detail: `peer replied ${e.code} ${JSON.stringify(e.reason)}${e.wasClean ? '' : ' (not clean)'}` });
        continue;
      }
      const data = payload(step);
      ws.send(data);
      const got = await next();
      if (typeof data === 'string') {
        if (typeof got !== 'string') results.push({ step, ok: false, detail: 'came back as binary' });
        else if (got !== data) results.push({ step, ok: false, detail: `text differs: ${new TextEncoder().encode(got).length} bytes back, ${new TextEncoder().encode(data).length} sent` });
        else results.push({ step, ok: true, detail: '' });
      } else {
        const g = got instanceof ArrayBuffer ? new Uint8Array(got) : null;
        let i = 0;
        if (g) while (i < g.length && i < data.length && g[i] === data[i]) i++;
        if (!g) results.push({ step, ok: false, detail: 'came back as text' });
        else if (g.length !== data.length || i !== data.length) results.push({ step, ok: false, detail: `${g.length} bytes back, ${data.length} sent, first difference at byte ${i}` });
        else results.push({ step, ok: true, detail: '' });
      }
    } catch (e) {
      results.push({ step, ok: false, detail: e.message + (closeEvent ? ` (closed ${closeEvent.code})` : '') });
    }
  }
  return { results, extensions };
}

let browser = null;
let browserError = null;
async function runBrowserClient(client, url) {
  if (browserError) throw browserError;
  if (!browser) {
    try {
      browser = await launchChromium();
    } catch (e) {
      browserError = new Error(`Chromium did not start: ${String(e.message || e).split('\n')[0]}`);
      throw browserError;
    }
  }
  const page = await browser.context.newPage();
  try {
    const r = await withTimeout(page.evaluate(browserScript, [url, client.steps, UTF8]), CELL_TIMEOUT, 'Chromium cell');
    r.results.extensions = r.extensions;
    return r.results;
  } catch (e) {
    return client.steps.map((s) => ({ step: s, ok: false, detail: String(e.message || e).split('\n')[0] }));
  } finally {
    await page.close().catch(() => {});
  }
}

async function runCell(client, url) {
  try {
    if (client.kind === 'argv') return await runArgvClient(client, url);
    if (client.kind === 'script') return await runScriptClient(client, url);
    return await runBrowserClient(client, url);
  } catch (e) {
    return client.steps.map((s) => ({ step: s, ok: false, detail: `harness error: ${e.message}` }));
  }
}

// ------------------------------------------------------------ setup
async function buildCClient() {
  const out = path.join(BUILD, 'interop', 'c_client');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const r = await run(
    'cc',
    ['-std=c11', '-O2', '-Wall', '-Wextra', '-I', path.join(ROOT, 'include'), '-o', out, path.join(HERE, 'peers', 'c_client.c'), '-L', LIBDIR, '-lws', `-Wl,-rpath,${LIBDIR}`],
    { timeout: 60000 },
  );
  if (r.code !== 0) throw new Error(`building ${out} failed:\n${r.stderr}`);
}

function pad(s, n) {
  const len = [...s].length;
  return s + ' '.repeat(Math.max(0, n - len));
}

async function main() {
  const args = process.argv.slice(2);
  const pick = (flag) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : null;
  };
  const onlyClient = pick('--only-client');
  const onlyServer = pick('--only-server');
  const clients = CLIENTS.filter((c) => !onlyClient || c.name === onlyClient);
  const servers = SERVERS.filter((s) => !onlyServer || s.name === onlyServer);

  const setupErrors = [];
  try {
    await buildCClient();
  } catch (e) {
    setupErrors.push(e.message);
  }
  if (!exists(CHROMIUM)) setupErrors.push(`${CHROMIUM} is missing (apt-get install -y chromium)`);

  const t0 = Date.now();
  const cells = new Map(); // `${client}|${server}` -> { status, passed, total, failures }
  for (const server of servers) {
    const serverPresent = present(server);
    let srv = null;
    let srvError = null;
    const startIt = async () => {
      try {
        const [cmd, sargs] = server.cmd();
        srv = await startServer(server.name, cmd, (port) => [...sargs, String(port)], { env: server.env });
        srvError = null;
      } catch (e) {
        srv = null;
        srvError = `server did not start: ${e.message.slice(0, 400)}`;
      }
    };
    if (serverPresent) await startIt();
    for (const client of clients) {
      const key = `${client.name}|${server.name}`;
      if (!serverPresent || !present(client)) {
        cells.set(key, { status: 'n/a' });
        continue;
      }
      if (!srv || srv.child.exitCode !== null || srv.child.signalCode !== null) {
        if (srv) kill(srv.child);
        await startIt();
      }
      if (!srv) {
        cells.set(key, { status: 'fail', passed: 0, total: client.steps.length, failures: [{ step: '(server)', detail: srvError }] });
        continue;
      }
      const started = Date.now();
      const results = await runCell(client, srv.url);
      const failures = results.filter((r) => !r.ok);
      if (srv.child.exitCode !== null || srv.child.signalCode !== null) {
        failures.push({ step: '(server)', detail: `server died during the cell: ${srv.child.output().trim().slice(-400)}` });
      }
      const passed = results.filter((r) => r.ok).length;
      cells.set(key, {
        status: failures.length ? 'fail' : 'pass',
        passed,
        total: results.length,
        failures,
        ms: Date.now() - started,
        close: results.find((r) => r.step === 'close-4000')?.detail,
        extensions: results.extensions,
      });
      process.stderr.write(`  ${pad(client.name, 18)} -> ${pad(server.name, 18)} ${failures.length ? 'FAIL' : 'pass'} ${passed}/${results.length} (${Date.now() - started} ms)\n`);
    }
    if (srv) {
      kill(srv.child);
      await srv.child.exited;
    }
  }
  if (browser) await browser.close();

  // ------------------------------------------------------------ report
  const cellText = (c) => (c.status === 'n/a' ? 'n/a' : `${c.status === 'pass' ? 'pass' : 'FAIL'} ${c.passed}/${c.total}`);
  const w0 = Math.max(...clients.map((c) => c.name.length), 'client \\ server'.length) + 1;
  const widths = servers.map((s) => Math.max(s.name.length, 10) + 1);
  const lines = [];
  lines.push(pad('client \\ server', w0) + '| ' + servers.map((s, i) => pad(s.name, widths[i])).join('| '));
  lines.push('-'.repeat(w0) + '+' + widths.map((w) => '-'.repeat(w + 1)).join('+'));
  for (const client of clients) {
    lines.push(pad(client.name, w0) + '| ' + servers.map((s, i) => pad(cellText(cells.get(`${client.name}|${s.name}`)), widths[i])).join('| '));
  }
  const all = [...cells.values()];
  const passed = all.filter((c) => c.status === 'pass').length;
  const failed = all.filter((c) => c.status === 'fail').length;
  const na = all.filter((c) => c.status === 'n/a').length;
  const absent = [...CLIENTS.filter((c) => !present(c)).map((c) => `client ${c.file}`), ...SERVERS.filter((s) => !present(s)).map((s) => `server ${s.file}`)];

  console.log(`\nInterop matrix (${STEPS.length}-step script; cells show steps passed/attempted; "ref" servers are independent implementations)\n`);
  console.log(lines.join('\n'));
  console.log(`\nsteps per client: C echo_client and bindings ${ARGV_STEPS.length} (text via argv), Chromium ${BROWSER_STEPS.length} (no fragments/ping in the browser API), others ${STEPS.length}`);
  const closeNotes = servers
    .map((s) => [s.name, cells.get(`Node ws|${s.name}`)?.close])
    .filter(([, d]) => d)
    .map(([n, d]) => `  ${n}: ${d}`);
  if (closeNotes.length) console.log(`close replies to "4000 'bye — ✓'" (seen by Node ws):\n${closeNotes.join('\n')}`);
  const extNotes = servers
    .map((s) => {
      const seen = clients
        .map((c) => [c.name, cells.get(`${c.name}|${s.name}`)?.extensions])
        .filter(([, e]) => e !== undefined)
        .map(([c, e]) => `${c}: ${e || 'none'}`);
      return seen.length ? `  ${s.name}: ${seen.join(', ')}` : null;
    })
    .filter(Boolean);
  if (extNotes.length) console.log(`extensions negotiated (clients that offer permessage-deflate):\n${extNotes.join('\n')}`);
  if (setupErrors.length) console.log(`\nsetup problems:\n  ${setupErrors.join('\n  ')}`);
  const failLines = [];
  for (const [key, c] of cells) {
    if (c.status !== 'fail') continue;
    const [cl, sv] = key.split('|');
    const details = new Set(c.failures.map((f) => f.detail));
    if (c.failures.length > 1 && details.size === 1) failLines.push(`  ${cl} -> ${sv}: all ${c.failures.length} failed steps: ${c.failures[0].detail}`);
    else for (const f of c.failures) failLines.push(`  ${cl} -> ${sv}: ${f.step}: ${f.detail}`);
  }
  if (failLines.length) console.log(`\nfailures:\n${failLines.join('\n')}`);
  console.log(`\ncells: ${passed} pass, ${failed} fail, ${na} n/a${absent.length ? ` (not present yet: ${absent.join(', ')})` : ''}; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  fs.mkdirSync(OUTPUT, { recursive: true });
  fs.writeFileSync(path.join(OUTPUT, 'interop-matrix.txt'), lines.join('\n') + '\n');
  fs.writeFileSync(path.join(OUTPUT, 'interop-matrix.json'), JSON.stringify(Object.fromEntries(cells), null, 2) + '\n');
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && setupErrors.length === 0 ? 0 : 1;
}

const code = await main().catch((e) => {
  console.error(e);
  return 1;
});
killAll();
process.exit(code);
