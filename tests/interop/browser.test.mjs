// The demo page in a real browser: build/examples/demo_server serves
// examples/web over HTTP and WebSocket on one port; headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) opens it, echoes
// text and binary messages of many sizes byte-for-byte through the page's
// own socket, checks chat between two tabs, the page's state and counters,
// and saves a screenshot to build/test-output/demo.png.
//
//   node --test tests/interop/browser.test.mjs
//
// LIBWS_EXPECT_DEFLATE=1 additionally requires permessage-deflate to be
// negotiated (set it once demo_server enables compression).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  HOST,
  OUTPUT,
  ROOT,
  binaryPayload,
  example,
  exists,
  kill,
  killAll,
  launchChromium,
  sha256,
  startServer,
  textPayload,
  withTimeout,
} from './lib.mjs';

const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20];
const EXPECT_DEFLATE = process.env.LIBWS_EXPECT_DEFLATE === '1';
const DEMO = example('demo_server');

let server;
let browser;
let pageA;
let pageB;
let origin;
let extensions = '';

// In-page helpers, installed into every page. Payloads are made with the
// same formulas as lib.mjs (binaryPayload / textPayload).
const PAGE_HELPERS = () => {
  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const sha = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));
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
  const bounded = (p, ms, what) =>
    Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(what + ': no reply in ' + ms + ' ms')), ms))]);
  // Sends one message through demo.send (the page's socket) and checks the
  // echo byte-for-byte; returns lengths, digests and the comparison.
  window.__echo = async (kind, n) => {
    const data = kind === 'text' ? text(n) : binary(n).buffer;
    const sentBytes = kind === 'text' ? new TextEncoder().encode(data) : new Uint8Array(data);
    const reply = demo.next();
    demo.send(data);
    const got = await bounded(reply, 30000, kind + ' ' + n);
    const gotType = typeof got === 'string' ? 'text' : got instanceof ArrayBuffer ? 'binary' : typeof got;
    const gotBytes = typeof got === 'string' ? new TextEncoder().encode(got) : new Uint8Array(got);
    let equal = gotBytes.length === sentBytes.length;
    for (let i = 0; equal && i < gotBytes.length; i++) if (gotBytes[i] !== sentBytes[i]) equal = false;
    return {
      gotType,
      sentLen: sentBytes.length,
      gotLen: gotBytes.length,
      sentSha: await sha(sentBytes),
      gotSha: await sha(gotBytes),
      equal,
    };
  };
};

async function openDemo(label) {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error(`[${label}] page error: ${e.message}`));
  const resp = await page.goto(origin + '/', { timeout: 15000 });
  assert.equal(resp.status(), 200, `GET / returned ${resp.status()}`);
  assert.match(resp.headers()['content-type'] || '', /text\/html/);
  await page.waitForFunction(() => typeof demo === 'object', null, { timeout: 10000 });
  const ext = await page.evaluate(() => Promise.race([demo.ready(), new Promise((_, r) => setTimeout(() => r(new Error('demo.ready() not within 10 s')), 10000))]));
  await page.evaluate(PAGE_HELPERS);
  return { page, ext };
}

before(async () => {
  assert.ok(exists(DEMO), `${DEMO} is missing: run ./build.sh first`);
  server = await startServer('demo_server', DEMO, (port) => [String(port), path.join(ROOT, 'examples', 'web')]);
  origin = `http://${HOST}:${server.port}`;
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  kill(server?.child);
  killAll();
});

test('the page loads over HTTP and its WebSocket opens', { timeout: 60000 }, async () => {
  const { page, ext } = await openDemo('A');
  pageA = page;
  extensions = ext;
  console.log(`# negotiated extensions: ${JSON.stringify(extensions)} (permessage-deflate ${extensions.includes('permessage-deflate') ? 'on' : 'off'})`);
  await page.waitForFunction(() => document.getElementById('state').textContent === 'open', null, { timeout: 5000 });
  assert.equal(await page.getAttribute('#state', 'class'), 'open');
  const shown = await page.textContent('#deflate');
  assert.equal(shown, extensions.includes('permessage-deflate') ? 'permessage-deflate' : 'off');
});

test('permessage-deflate negotiated (required when LIBWS_EXPECT_DEFLATE=1)', async (t) => {
  if (!EXPECT_DEFLATE) {
    t.skip(`not required (LIBWS_EXPECT_DEFLATE unset); negotiated: ${JSON.stringify(extensions)}`);
    return;
  }
  assert.match(extensions, /permessage-deflate/);
});

// The demo page writes every echoed text into its log in full, and
// Chromium needs ~25 s to lay out 1 MiB of multibyte text there (minutes
// for 4 MiB): the log is hidden (display: none) during the size sweep so
// that the sweep measures the socket, not the page's layout.
test('hide the page log for the size sweep', async () => {
  await pageA.evaluate(() => {
    document.getElementById('log').style.display = 'none';
  });
});

for (const kind of ['text', 'binary']) {
  for (const n of SIZES) {
    test(`${kind} echo of ${n} bytes is byte-for-byte identical`, { timeout: 60000 }, async () => {
      const r = await withTimeout(pageA.evaluate(([k, size]) => window.__echo(k, size), [kind, n]), 45000, `${kind} ${n}`);
      const expected = sha256(kind === 'text' ? Buffer.from(textPayload(n), 'utf8') : binaryPayload(n));
      assert.equal(r.sentSha, expected, 'page generated a different payload than lib.mjs');
      assert.equal(r.gotType, kind, 'echo came back with another message type');
      assert.equal(r.gotLen, n);
      assert.equal(r.gotSha, expected);
      assert.ok(r.equal, 'bytes differ');
    });
  }
}

test('text with multibyte UTF-8 (2, 3, 4-byte characters, combining marks)', { timeout: 30000 }, async () => {
  await pageA.evaluate(() => {
    const log = document.getElementById('log');
    log.replaceChildren();
    log.style.display = '';
  });
  const s = 'héllo wörld — 你好, мир 🌍🚀 e\u0301 \u{10FFFF} end';
  const got = await pageA.evaluate(async (msg) => {
    const reply = demo.next();
    demo.send(msg);
    return await reply;
  }, s);
  assert.equal(got, s);
});

test('chat: a "#" message from page A reaches page B and A; B to A too', { timeout: 60000 }, async () => {
  const { page } = await openDemo('B');
  pageB = page;
  for (const [from, to, name] of [
    [pageA, pageB, 'A'],
    [pageB, pageA, 'B'],
  ]) {
    const msg = `#hello from ${name} — ✓ ünïcödé`;
    await to.evaluate(() => {
      window.__chat = demo.next();
    });
    const own = from.evaluate(async (m) => {
      const reply = demo.next();
      demo.send(m);
      return await reply;
    }, msg);
    assert.equal(await withTimeout(own, 10000, `chat echo to ${name}`), msg);
    assert.equal(await withTimeout(to.evaluate(() => window.__chat), 10000, `chat from ${name}`), msg);
    await to.waitForFunction(
      (text) => [...document.querySelectorAll('#log .chat')].some((d) => d.textContent === 'chat: ' + text),
      msg.slice(1),
      { timeout: 5000 },
    );
  }
});

test('the page shows state "open" and counts that match what was sent and received', { timeout: 30000 }, async () => {
  // Page A: 16 size echoes + 1 UTF-8 echo + 1 chat sent; those echoes + 2 chat messages received.
  const expectSent = SIZES.length * 2 + 1 + 1;
  const expectReceived = SIZES.length * 2 + 1 + 2;
  const counts = await pageA.evaluate(() => ({ ...demo.counts }));
  assert.deepEqual(counts, { sent: expectSent, received: expectReceived });
  assert.equal(await pageA.textContent('#sent'), String(expectSent));
  assert.equal(await pageA.textContent('#received'), String(expectReceived));
  assert.equal(await pageA.textContent('#state'), 'open');
  assert.match(await pageA.textContent('#rtt'), /^\d+\.\d\d ms$/);
  const b = await pageB.evaluate(() => ({ ...demo.counts }));
  assert.deepEqual(b, { sent: 1, received: 2 });
});

test('typing into the page: Echo and Chat buttons; screenshot', { timeout: 60000 }, async () => {
  // A fresh tab for a readable screenshot (page A's log holds 4 MiB texts).
  const { page } = await openDemo('C');
  const say = async (text, button) => {
    await page.fill('#text', text);
    await page.click(button);
  };
  // Only characters the default Debian fonts (DejaVu) draw: no emoji/CJK.
  await page.setViewportSize({ width: 960, height: 600 });
  await say('Hello, libws! ✓', '#echo');
  await page.waitForSelector('#log .echo:has-text("echo: Hello, libws! ✓")', { timeout: 5000 });
  await say('grüße — привет — γειά σου', '#echo');
  await page.waitForSelector('#log .echo:has-text("echo: grüße — привет — γειά σου")', { timeout: 5000 });
  await page.evaluate(async () => {
    const reply = demo.next();
    demo.send(new Uint8Array(65536).buffer);
    await reply;
  });
  await page.waitForSelector('#log .echo:has-text("echo: 65536 bytes binary")', { timeout: 5000 });
  await say('hi everyone, this reaches every open tab', '#chat');
  await page.waitForSelector('#log .chat:has-text("chat: hi everyone")', { timeout: 5000 });
  await pageB.waitForSelector('#log .chat:has-text("chat: hi everyone")', { timeout: 5000 });
  await pageA.evaluate(() => demo.send('#and hello back from another tab'));
  await page.waitForSelector('#log .chat:has-text("chat: and hello back")', { timeout: 5000 });
  assert.equal(await page.textContent('#state'), 'open');
  assert.equal(await page.textContent('#sent'), '4');
  assert.equal(await page.textContent('#received'), '5');
  await page.fill('#text', '');
  fs.mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, 'demo.png');
  await page.screenshot({ path: file });
  assert.ok(fs.statSync(file).size > 10000, 'screenshot suspiciously small');
  console.log(`# screenshot: ${path.relative(ROOT, file)}`);
});

test('when the server goes away the page shows "closed"', { timeout: 30000 }, async () => {
  kill(server.child);
  await server.child.exited;
  await pageA.waitForFunction(() => document.getElementById('state').textContent === 'closed', null, { timeout: 10000 });
  const line = await pageA.textContent('#log .sys:last-child');
  assert.match(line, /closed \(1006\)/);
});
