'use strict';
// The ES module entry and createWebSocketStream.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { execFileSync } = require('child_process');
const { WebSocket, WebSocketServer, WS, once, until, closeServer, exitWatchdog } = require('../testing/helpers');
const { createWebSocketStream } = require('..');

exitWatchdog();

test("ESM: import WebSocket, { WebSocketServer, createWebSocketStream } from 'libws'; require still works", () => {
  const src = "import WebSocket, { WebSocketServer, WebSocket as W, createWebSocketStream } from 'libws';\n" +
    "import { createRequire } from 'module';\n" +
    "const cjs = createRequire(import.meta.url)('libws');\n" +
    "if (cjs !== WebSocket || W !== WebSocket || WebSocket.WebSocketServer !== WebSocketServer) throw new Error('mismatch');\n" +
    "if (typeof createWebSocketStream !== 'function') throw new Error('no createWebSocketStream');\n" +
    "console.log('ok');\n";
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', src], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
  assert.equal(out.trim(), 'ok');
});

test('createWebSocketStream: a Duplex whose slow reader pauses the socket, every byte in order both ways', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const N = 400;
  const chunk = Buffer.alloc(16 * 1024, 1);
  const serverGot = [];
  wss.on('connection', (ws) => {
    for (let i = 0; i < N; i++) ws.send(Buffer.concat([Buffer.from(String(i).padStart(6, '0')), chunk]));
    ws.on('message', (d) => serverGot.push(d.toString()));
  });
  const c = new WebSocket(`ws://127.0.0.1:${wss.address().port}/`);
  const duplex = createWebSocketStream(c, { highWaterMark: 64 * 1024 });
  try {
    await once(c, 'open');
    let sawPause = false;
    const seqs = [];
    const REC = 6 + chunk.length;
    let pending = Buffer.alloc(0);
    // Read slowly at first: the stream's buffer fills, the socket pauses.
    await new Promise((resolve, reject) => {
      duplex.on('error', reject);
      const step = () => {
        if (c.isPaused) sawPause = true;
        const d = duplex.read(REC);
        if (d !== null) {
          pending = Buffer.concat([pending, d]);
          while (pending.length >= REC) {
            seqs.push(Number(pending.subarray(0, 6).toString()));
            pending = pending.subarray(REC);
          }
        }
        if (seqs.length === N) return resolve();
        setTimeout(step, seqs.length < 50 ? 2 : 0);
      };
      step();
      duplex.write('a');
      duplex.write(Buffer.from('b'));
      duplex.write('c');
    });
    await until(() => serverGot.length === 3, 5000, 'the writes');
    assert.deepEqual(serverGot, ['a', 'b', 'c']);
    assert.ok(sawPause, 'the socket was paused while the reader lagged');
    assert.deepEqual(seqs, Array.from({ length: N }, (_, i) => i));
    duplex.end();
    await until(() => c.readyState === WS.CLOSED, 5000, 'closed by end()');
  } finally {
    duplex.destroy();
    await closeServer(wss);
  }
});
