// libws behind a real reverse proxy: Debian's nginx, started by this test
// on a free loopback port with a config written into a temp directory
// (daemon off, master_process off, pid and logs in the temp dir), proxies
// WebSocket upgrades to the libws example servers:
//   /c/    -> build/examples/threaded_echo_server  (ws_listen / ws_accept)
//   /hub/  -> build/examples/echo_server           (the event hub)
//   /go/   -> build/examples/go-echo          (the Go API)
// A Node `ws` client talks through nginx: text and binary echoes of many
// sizes checked byte-for-byte, fragmented messages, ping/pong, a client
// close (4000 + reason) whose echo must come back through the proxy, and
// the server going away (killed: the client sees 1006, new handshakes 502).
//
//   node --test tests/interop/nginx.test.mjs
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { HOST, binaryPayload, example, exists, freePort, kill, killAll, sha256, start, startServer, textPayload, waitPort } from './lib.mjs';
import { Client } from './wsclient.mjs';

const NGINX = process.env.NGINX || '/usr/sbin/nginx';
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20];
const UPSTREAMS = [
  { name: 'c', bin: 'threaded_echo_server' },
  { name: 'hub', bin: 'echo_server' },
  { name: 'go', bin: 'go-echo' },
];

let tmp;
let nginx;
let nginxPort;
const servers = {};

function nginxConf(port) {
  const locations = UPSTREAMS.map(
    (u) => `
    location /${u.name}/ {
      proxy_pass http://${HOST}:${servers[u.name].port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_read_timeout 60s;
      proxy_send_timeout 60s;
    }`,
  ).join('\n');
  return `# written by tests/interop/nginx.test.mjs
daemon off;
master_process off;
worker_processes 1;
pid ${tmp}/nginx.pid;
error_log ${tmp}/error.log info;
events { worker_connections 128; }
http {
  access_log ${tmp}/access.log;
  client_body_temp_path ${tmp}/client_body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  server {
    listen ${HOST}:${port};
${locations}
  }
}
`;
}

before(async () => {
  assert.ok(exists(NGINX), `${NGINX} is missing (apt-get install -y nginx)`);
  for (const u of UPSTREAMS) {
    const bin = example(u.bin);
    assert.ok(exists(bin), `${bin} is missing: run ./build.sh first`);
    servers[u.name] = await startServer(u.bin, bin, (port) => [String(port)]);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-nginx-'));
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
  kill(nginx);
  for (const s of Object.values(servers)) kill(s.child);
  killAll();
  if (tmp && !process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

for (const u of UPSTREAMS) {
  describe(`through nginx to ${u.bin}`, () => {
    const url = () => `ws://${HOST}:${nginxPort}/${u.name}/echo`;

    test('text and binary echoes of 0 B .. 4 MiB, byte-for-byte', { timeout: 60000 }, async () => {
      const c = await Client.open(url());
      try {
        for (const n of SIZES) {
          const text = textPayload(n);
          await c.send(text);
          const t = await c.next();
          assert.equal(t.isBinary, false, `text ${n} came back as binary`);
          assert.equal(t.data.length, n, `text ${n}: length`);
          assert.equal(sha256(t.data), sha256(Buffer.from(text, 'utf8')), `text ${n}: bytes differ`);
          const bin = binaryPayload(n);
          await c.send(bin);
          const b = await c.next();
          assert.equal(b.isBinary, true, `binary ${n} came back as text`);
          assert.ok(b.data.equals(bin), `binary ${n}: bytes differ (got ${b.data.length})`);
        }
      } finally {
        c.terminate();
      }
    });

    test('pipelined: 200 messages in flight come back in order', { timeout: 30000 }, async () => {
      const c = await Client.open(url());
      try {
        const sent = [];
        for (let i = 0; i < 200; i++) {
          const m = binaryPayload(1 + ((i * 977) % 20000));
          m[0] = i;
          sent.push(m);
          c.send(m);
        }
        for (let i = 0; i < 200; i++) {
          const r = await c.next();
          assert.ok(r.data.equals(sent[i]), `message ${i} differs`);
        }
      } finally {
        c.terminate();
      }
    });

    test('fragmented text (a character split across frames) and binary', { timeout: 20000 }, async () => {
      const c = await Client.open(url());
      try {
        const text = Buffer.from('héllo wörld — 你好 🌍', 'utf8');
        // Cut inside 'é' (bytes 1..2) and inside the emoji.
        const cuts = [0, 2, 9, text.length - 2, text.length];
        for (let i = 0; i + 1 < cuts.length; i++) {
          await c.send(text.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
        }
        const t = await c.next();
        assert.equal(t.isBinary, false);
        assert.ok(t.data.equals(text), 'fragmented text differs');
        const bin = binaryPayload(200000);
        await c.send(bin.subarray(0, 1), { binary: true, fin: false });
        await c.send(bin.subarray(1, 70000), { binary: true, fin: false });
        await c.send(bin.subarray(70000), { binary: true, fin: true });
        const b = await c.next();
        assert.equal(b.isBinary, true);
        assert.ok(b.data.equals(bin), 'fragmented binary differs');
      } finally {
        c.terminate();
      }
    });

    test('ping gets a pong with the same payload', { timeout: 20000 }, async () => {
      const c = await Client.open(url());
      try {
        const pong = await c.ping(Buffer.from('ping through nginx ✓'));
        assert.equal(pong.toString(), 'ping through nginx ✓');
        const big = binaryPayload(125);
        assert.ok((await c.ping(big)).equals(big));
      } finally {
        c.terminate();
      }
    });

    test('client close 4000 + reason: the close echo comes back through nginx', { timeout: 20000 }, async () => {
      const c = await Client.open(url());
      await c.send('last words');
      assert.equal((await c.next()).data.toString(), 'last words');
      const reason = 'client done — ✓';
      const got = await c.close(4000, reason);
      assert.equal(got.code, 4000, `close code echoed: ${got.code}`);
      // RFC 6455 5.5.1: the reply "typically echos the status code"; the
      // reason need not come back (libws replies with the code alone).
      assert.ok(got.reason === '' || got.reason === reason, `unexpected close reason ${JSON.stringify(got.reason)}`);
      console.log(`# ${u.bin}: close reply through nginx: ${got.code} ${JSON.stringify(got.reason)}`);
    });

    test('server goes away (killed): the client sees 1006, new handshakes get 502', { timeout: 30000 }, async () => {
      const c = await Client.open(url());
      await c.send('still there?');
      assert.equal((await c.next()).data.toString(), 'still there?');
      const s = servers[u.name];
      kill(s.child);
      await s.child.exited;
      const got = await c.waitClosed(15000);
      assert.equal(got.code, 1006);
      await assert.rejects(Client.open(url()), (e) => e.status === 502);
    });
  });
}

test('nginx logged the upgrades (101) in its access log', () => {
  const log = fs.readFileSync(path.join(tmp, 'access.log'), 'utf8');
  for (const u of UPSTREAMS) assert.match(log, new RegExp(`GET /${u.name}/echo HTTP/1.1" 101 `));
});
