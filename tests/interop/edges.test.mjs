// Byte-level edges against the example servers, as a raw TCP peer writes
// them (what well-behaved libraries never send): handshake variants that
// browsers and proxies do send, control frames between fragments, UTF-8
// split across fragments, protocol violations and the close code each one
// must get, and the order of an echo and the close reply when a message
// and a close frame arrive together.
//
//   node --test tests/interop/edges.test.mjs
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import { HOST, example, exists, kill, killAll, startServer, withTimeout } from './lib.mjs';

const SERVERS = ['echo_server', 'threaded_echo_server', 'go-echo'];
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const running = {};

function frame(op, payload = Buffer.alloc(0), { fin = true, mask = true, rsv = 0, length } = {}) {
  payload = Buffer.from(payload);
  const n = length ?? payload.length;
  const b0 = (fin ? 0x80 : 0) | (rsv << 4) | op;
  const m = mask ? 0x80 : 0;
  let hdr;
  if (n < 126) hdr = Buffer.from([b0, m | n]);
  else if (n < 65536) {
    hdr = Buffer.from([b0, m | 126, 0, 0]);
    hdr.writeUInt16BE(n, 2);
  } else {
    hdr = Buffer.alloc(10);
    hdr[0] = b0;
    hdr[1] = m | 127;
    hdr.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!mask) return Buffer.concat([hdr, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([hdr, key, body]);
}

const close = (code, reason = '') => {
  const p = Buffer.alloc(2 + Buffer.byteLength(reason));
  p.writeUInt16BE(code, 0);
  p.write(reason, 2);
  return frame(8, p);
};

function request(port, lines) {
  return Buffer.from(
    [
      'GET / HTTP/1.1',
      `Host: ${HOST}:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${KEY}`,
      'Sec-WebSocket-Version: 13',
      ...lines,
    ].join('\r\n') + '\r\n\r\n',
  );
}

// A raw connection: collects bytes, parses the HTTP head and server frames.
class Raw {
  static async open(port, { req, split = 0 } = {}) {
    const r = new Raw(port);
    await withTimeout(new Promise((res, rej) => r.sock.once('connect', res).once('error', rej)), 5000, 'connect');
    const data = req ?? request(port, []);
    if (split) {
      for (let i = 0; i < data.length; i += split) {
        r.sock.write(data.subarray(i, i + split));
        await new Promise((res) => setImmediate(res));
      }
    } else r.sock.write(data);
    await r.until(() => r.buf.indexOf('\r\n\r\n') >= 0, 'HTTP response');
    const end = r.buf.indexOf('\r\n\r\n');
    r.head = r.buf.subarray(0, end).toString();
    r.buf = r.buf.subarray(end + 4);
    r.status = Number(r.head.split(' ')[1]);
    return r;
  }

  constructor(port) {
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.wake = () => {};
    this.sock = net.connect({ host: HOST, port });
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    this.sock.on('end', end).on('close', end).on('error', end);
  }

  until(cond, what, ms = 5000) {
    return withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          if (cond()) resolve();
          else if (this.ended) reject(new Error(`connection ended while waiting for ${what}`));
        };
        this.wake = check;
        check();
      }),
      ms,
      what,
    );
  }

  send(...frames) {
    this.sock.write(Buffer.concat(frames));
  }

  // Every frame until the server's close frame or the end of the stream:
  // [{ op, fin, data }], close frames as { op: 8, code, reason }.
  async frames(ms = 5000) {
    const out = [];
    const parse = () => {
      for (;;) {
        const b = this.buf;
        if (b.length < 2) return false;
        let n = b[1] & 0x7f;
        let off = 2;
        if (n === 126) {
          if (b.length < 4) return false;
          n = b.readUInt16BE(2);
          off = 4;
        } else if (n === 127) {
          if (b.length < 10) return false;
          n = Number(b.readBigUInt64BE(2));
          off = 10;
        }
        if (b.length < off + n) return false;
        const data = b.subarray(off, off + n);
        this.buf = b.subarray(off + n);
        const f = { op: b[0] & 0x0f, fin: b[0] >> 7, data };
        if (f.op === 8) {
          f.code = n >= 2 ? data.readUInt16BE(0) : null;
          f.reason = data.subarray(2).toString();
          out.push(f);
          return true;
        }
        out.push(f);
      }
    };
    await this.until(() => parse() || this.ended, 'frames', ms).catch(() => {});
    this.sock.destroy();
    return out;
  }
}

const closeCode = (frames) => frames.find((f) => f.op === 8)?.code;

before(async () => {
  for (const name of SERVERS) {
    assert.ok(exists(example(name)), `${example(name)} is missing: run ./build.sh first`);
    running[name] = await startServer(name, example(name), (port) => [String(port)]);
  }
});

after(() => {
  for (const s of Object.values(running)) kill(s.child);
  killAll();
});

for (const name of SERVERS) {
  describe(name, () => {
    const port = () => running[name].port;

    test('handshake variants browsers and proxies send', async () => {
      for (const [what, lines, split] of [
        ['Connection: keep-alive, Upgrade (Firefox)', ['Connection: keep-alive, Upgrade'], 0],
        ['Upgrade: WebSocket, lower-case header names', ['upgrade: WebSocket', 'sec-websocket-extensions: permessage-deflate; client_max_window_bits'], 0],
        ['request arriving one byte at a time', [], 1],
        ['8 KiB Cookie header', ['Cookie: ' + 'c'.repeat(8000)], 0],
      ]) {
        let req = request(port(), lines);
        if (lines[0]?.startsWith('Connection:')) req = Buffer.from(req.toString().replace('Connection: Upgrade\r\n', ''));
        if (lines[0]?.startsWith('upgrade:')) req = Buffer.from(req.toString().replace('Upgrade: websocket\r\n', ''));
        const r = await Raw.open(port(), { req, split });
        assert.equal(r.status, 101, `${what}: ${r.head.split('\r\n')[0]}`);
        assert.match(r.head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i, what);
        r.sock.destroy();
      }
      const old = await Raw.open(port(), { req: Buffer.from(request(port(), []).toString().replace('Version: 13', 'Version: 8')) });
      assert.equal(old.status, 426);
      assert.match(old.head, /sec-websocket-version: 13/i);
      old.sock.destroy();
    });

    test('a frame in the same segment as the handshake is echoed', async () => {
      const r = await Raw.open(port(), { req: Buffer.concat([request(port(), []), frame(1, 'early')]) });
      r.send(close(1000));
      const f = await r.frames();
      assert.equal(f[0]?.data.toString(), 'early');
    });

    test('ping between fragments: pong first, then the joined message', async () => {
      const r = await Raw.open(port());
      r.send(frame(1, 'hel', { fin: false }), frame(9, 'pp'), frame(0, 'lo'));
      await r.until(() => r.buf.length >= 4 + 2 + 5, 'pong and echo');
      r.send(close(1000));
      const f = await r.frames();
      assert.deepEqual(f.slice(0, 2).map((x) => [x.op, x.data.toString()]), [
        [10, 'pp'],
        [1, 'hello'],
      ]);
    });

    test('UTF-8 split across fragments is joined; invalid UTF-8 gets 1007', async () => {
      let r = await Raw.open(port());
      r.send(frame(1, Buffer.from([0x6f, 0x6b, 0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0xac])));
      await r.until(() => r.buf.length >= 2 + 5, 'echo');
      r.send(close(1000));
      assert.equal((await r.frames())[0]?.data.toString(), 'ok€');
      for (const bad of [[0xff, 0xfe], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
        r = await Raw.open(port());
        r.send(frame(1, Buffer.from(bad)));
        assert.equal(closeCode(await r.frames()), 1007, `bytes ${bad}`);
      }
      r = await Raw.open(port());
      r.send(frame(1, Buffer.from([0x6f, 0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x28])));
      assert.equal(closeCode(await r.frames()), 1007, 'invalid sequence across fragments');
    });

    test('protocol violations get 1002, an oversized frame 1009', async () => {
      for (const [what, bytes, code] of [
        ['unmasked client frame', frame(1, 'hi', { mask: false }), 1002],
        ['RSV1 without an extension', frame(1, 'hi', { rsv: 4 }), 1002],
        ['reserved opcode 3', frame(3, 'x'), 1002],
        ['continuation without a start', frame(0, 'x'), 1002],
        ['fragmented ping', frame(9, 'x', { fin: false }), 1002],
        ['ping of 126 bytes', frame(9, Buffer.alloc(126)), 1002],
        ['close code 1005 on the wire', close(1005), 1002],
        ['close code 999', close(999), 1002],
        ['close with a 1-byte payload', frame(8, Buffer.from([3])), 1002],
        ['frame header announcing 64 MiB + 1', frame(2, Buffer.alloc(0), { length: (64 << 20) + 1 }).subarray(0, 14), 1009],
      ]) {
        const r = await Raw.open(port());
        r.send(bytes);
        assert.equal(closeCode(await r.frames()), code, what);
      }
    });

    test('close replies: codes echoed, empty close answered empty', async () => {
      for (const code of [1000, 1001, 3000, 4999]) {
        const r = await Raw.open(port());
        r.send(close(code, 'why'));
        assert.equal(closeCode(await r.frames()), code);
      }
      const r = await Raw.open(port());
      r.send(frame(8));
      const f = await r.frames();
      assert.equal(f.length, 1);
      assert.equal(f[0].data.length, 0, 'reply to an empty close must be empty');
    });

    // RFC 6455 5.5.1 would let a server send its close reply before its
    // replies to earlier messages; libws does not, the hub included (it
    // answers a close once the host polls again, after the host's replies).
    test('a message and a close in one segment: the echo comes before the close reply', async () => {
      let lost = 0;
      for (let i = 0; i < 20; i++) {
        const r = await Raw.open(port());
        r.send(frame(1, 'last words'), close(4001, 'bye'));
        const f = await r.frames();
        if (f[0]?.op !== 1 || f[0].data.toString() !== 'last words' || closeCode(f) !== 4001) lost++;
      }
      assert.equal(lost, 0, `${lost} of 20 echoes missing before the close reply`);
    });
  });
}
