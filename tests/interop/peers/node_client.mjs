// node_client.mjs URL: the interop script run by a Node `ws` client. One
// connection; one JSON line per step on stdout, as
// {"step":"text-ascii","ok":true,"detail":""}. Every wait is bounded.
import { binaryPayload, textPayload } from '../lib.mjs';
import { Client } from '../wsclient.mjs';

const ASCII = 'Hello, libws!';
const UTF8 = 'héllo wörld — 你好, мир 🌍🚀 \u{10FFFF}';
let failures = 0;

function report(step, ok, detail = '') {
  console.log(JSON.stringify({ step, ok: !!ok, detail }));
  if (!ok) failures++;
}

function compare(step, want, wantBinary, got) {
  if (got.isBinary !== wantBinary) return report(step, false, `came back as ${got.isBinary ? 'binary' : 'text'}`);
  if (!got.data.equals(want)) {
    let i = 0;
    while (i < want.length && i < got.data.length && want[i] === got.data[i]) i++;
    return report(step, false, `${got.data.length} bytes back, ${want.length} sent, first difference at byte ${i}`);
  }
  report(step, true);
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    report(name, false, String(e.message || e));
  }
}

const url = process.argv[2];
let c;
try {
  c = await Client.open(url);
} catch (e) {
  report('connect', false, String(e.message || e));
  process.exit(1);
}

// not a step: what the handshake negotiated, for the matrix's notes
report('info-extensions', true, c.ws.extensions);

const echo = (name, data, binary) =>
  step(name, async () => {
    await c.send(data, { binary });
    compare(name, Buffer.from(data), binary, await c.next());
  });

const fragments = (name, buf, cuts, binary) =>
  step(name, async () => {
    const bounds = [0, ...cuts, buf.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      await c.send(buf.subarray(bounds[i], bounds[i + 1]), { binary, fin: i + 2 === bounds.length });
    }
    compare(name, buf, binary, await c.next());
  });

await echo('text-ascii', ASCII, false);
await echo('text-utf8', UTF8, false);
await echo('binary-256', binaryPayload(256), true);
await echo('text-empty', '', false);
await echo('binary-empty', Buffer.alloc(0), true);
for (const n of [125, 126, 65535, 65536]) {
  await echo(`text-${n}`, textPayload(n), false);
  await echo(`binary-${n}`, binaryPayload(n), true);
}
await echo('binary-1MiB', binaryPayload(1 << 20), true);
const raw = Buffer.from(UTF8, 'utf8');
await fragments('frag-text', raw, [2, 9, raw.length - 2], false);
await fragments('frag-binary', binaryPayload(200000), [1, 70000], true);
await step('ping', async () => {
  const payload = Buffer.from('ping ✓');
  const pong = await c.ping(payload);
  report('ping', pong.equals(payload), pong.equals(payload) ? '' : `pong payload ${JSON.stringify(pong.toString())}`);
});
await step('close-4000', async () => {
  const got = await c.close(4000, 'bye — ✓');
  report('close-4000', got.code === 4000, `peer replied ${got.code} ${JSON.stringify(got.reason)}`);
});
process.exit(failures ? 1 : 0);
