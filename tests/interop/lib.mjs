// Shared helpers for the interop tests: paths, free ports, child processes
// that are always killed, bounded waits, deterministic payloads and the
// headless Chromium launch. Everything talks to 127.0.0.1 only.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const BUILD = path.join(ROOT, 'build');
export const EXAMPLES = process.env.LIBWS_EXAMPLES_DIR || path.join(BUILD, 'examples');
export const OUTPUT = path.join(BUILD, 'test-output');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const HOST = '127.0.0.1';

export function example(name) {
  return path.join(EXAMPLES, name);
}

export function exists(p) {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

// ------------------------------------------------------------ bounded waits
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// Rejects with `what timed out after N ms` unless promise settles first.
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// A port that was free a moment ago (bound to 127.0.0.1:0, then released).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Resolves once something accepts TCP connections on HOST:port.
export async function waitPort(port, ms = 10000, child = null) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child && child.exitCode !== null) {
      throw new Error(`${child.label} exited with ${child.exitCode} before listening on ${port}:\n${child.output()}`);
    }
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: HOST, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.setTimeout(500, () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`nothing listening on ${HOST}:${port} after ${ms} ms` + (child ? `:\n${child.output()}` : ''));
    }
    await sleep(50);
  }
}

// ------------------------------------------------------------ processes
// Every child is started in its own process group and killed (the whole
// group, SIGKILL) by killAll(), which also runs on exit and on signals.
// If LIBWS_INTEROP_PIDS names a file (run.sh sets it), each child's pid
// (= its process group id) is appended to it, so that run.sh's trap can
// kill exactly these groups even if this process dies without cleaning up.
const children = new Set();

function remember(child) {
  children.add(child);
  const file = process.env.LIBWS_INTEROP_PIDS;
  if (file && child.pid) {
    try {
      fs.appendFileSync(file, `${child.pid}\n`);
    } catch {
      /* best effort */
    }
  }
}

export function start(label, cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd || ROOT,
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  child.label = label;
  let out = '';
  const keep = (d) => {
    out += d.toString();
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.output = () => out;
  child.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
  child.on('error', (e) => {
    out += `spawn error: ${e.message}\n`;
  });
  remember(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export function kill(child, signal = 'SIGKILL') {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function killAll() {
  for (const c of children) kill(c);
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

// Runs a command to completion with a time bound; resolves with
// { code, signal, stdout, stderr, timedOut }.
export function run(cmd, args, { timeout = 30000, cwd = ROOT, env = {}, input = null } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: [input === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    });
    remember(child);
    const stdout = [];
    const stderr = [];
    let timedOut = false;
    child.stdout.on('data', (d) => stdout.push(d));
    child.stderr.on('data', (d) => stderr.push(d));
    if (input !== null) child.stdin.end(input);
    const timer = setTimeout(() => {
      timedOut = true;
      kill(child);
    }, timeout);
    const done = (code, signal, err) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString() + (err ? `spawn error: ${err.message}\n` : ''),
      });
    };
    child.on('error', (e) => done(-1, null, e));
    child.on('close', (code, signal) => done(code, signal));
  });
}

// Starts a server listening on a fresh port and waits until it accepts.
export async function startServer(label, cmd, argsFor, { ms = 10000, cwd, env } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = start(label, cmd, argsFor(port), { cwd, env });
    try {
      await waitPort(port, ms, child);
      return { child, port, url: `ws://${HOST}:${port}/` };
    } catch (e) {
      lastErr = e;
      kill(child);
      await child.exited;
    }
  }
  throw lastErr;
}

// ------------------------------------------------------------ payloads
// Deterministic payloads, identical in every client (Node, Python, C, page):
//   binary(n)[i] = (i * 31 + 7) & 255  (every byte value occurs)
//   text(n): UTF-8 bytes of "aé€😀" (1+2+3+4 bytes) repeated, the tail
//            filled with 'x' so the byte length is exactly n; it never
//            starts with '#' (the demo server's chat marker).
export function binaryPayload(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 255;
  return b;
}

const UNIT = Buffer.from('aé€😀', 'utf8');
export function textPayload(n) {
  const b = Buffer.alloc(n, 'x');
  const whole = Math.floor(n / UNIT.length) * UNIT.length;
  for (let i = 0; i < whole; i += UNIT.length) UNIT.copy(b, i);
  return b.toString('utf8');
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

// ------------------------------------------------------------ Chromium
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Launches the system Chromium (never a downloaded one) with a fresh
// profile directory; returns { context, close }.
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-chromium-'));
  const context = await withTimeout(
    chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 900, height: 720 },
      timeout: 30000,
    }),
    40000,
    'launching Chromium',
  );
  const close = async () => {
    await withTimeout(context.close(), 10000, 'closing Chromium').catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}
