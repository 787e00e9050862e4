'use strict';
// bufferedAmount and send callbacks: the same program against ws and libws
// servers, asserting the same observable behaviour (issue #18).

const test = require('node:test');
const assert = require('node:assert/strict');
const { WebSocketServer, WS, once, until, closeServer, exitWatchdog } = require('../testing/helpers');

exitWatchdog();

const MiB = 1 << 20;
const IMPLS = [['ws', WS.WebSocketServer], ['libws', WebSocketServer]];

async function pair(Server) {
  const wss = new Server({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const conn = once(wss, 'connection');
  // A ws client whose socket stops reading on demand (TCP pushes back).
  const c = new WS(`ws://127.0.0.1:${wss.address().port}/`);
  c.on('error', () => {});
  await once(c, 'open');
  const [ws] = await conn;
  return { wss, ws, c };
}

function stop(wss) {
  return wss instanceof WebSocketServer ? closeServer(wss) : new Promise((r) => {
    for (const ws of wss.clients) ws.terminate();
    wss.close(() => r());
  });
}

for (const [name, Server] of IMPLS) {
  test(`${name}: bufferedAmount reads ~4 MiB right after a 4 MiB send, adds up, and falls to 0 once written`, async () => {
    const { wss, ws, c } = await pair(Server);
    try {
      c._socket.pause();
      assert.equal(ws.bufferedAmount, 0);
      for (let i = 0; i < 10; i++) ws.send(Buffer.alloc(1000));
      const small = ws.bufferedAmount;
      // ws wrote these at once (0); libws counts them until the turn ends.
      assert.ok(small === 0 || (small >= 10000 && small < 11000), `after 10 x 1000 B: ${small}`);
      ws.send(Buffer.alloc(4 * MiB));
      const after = ws.bufferedAmount;
      assert.ok(after >= 4 * MiB + small && after < 4 * MiB + 20000, `after 4 MiB more: ${after}`);
      // Later turns: the peer does not read, so most of it is still held.
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(ws.bufferedAmount > 0, `still held while the peer does not read: ${ws.bufferedAmount}`);
      let got = 0;
      c.on('message', (d) => { got += d.length; });
      c._socket.resume();
      await until(() => got === 4 * MiB + 10000, 10000, 'every byte');
      await until(() => ws.bufferedAmount === 0, 5000, 'bufferedAmount 0');
    } finally {
      c.terminate();
      await stop(wss);
    }
  });

  test(`${name}: send(data, cb) calls back once the data is written, not on hand-off`, async () => {
    const { wss, ws, c } = await pair(Server);
    try {
      c._socket.pause();
      let called = null;
      ws.send(Buffer.alloc(16 * MiB), (err) => { called = err === undefined || err === null ? 'ok' : err; });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(called, null, 'not called while the peer reads nothing');
      let got = 0;
      c.on('message', (d) => { got += d.length; });
      c._socket.resume();
      await until(() => called !== null, 10000, 'the callback');
      assert.equal(called, 'ok');
      await until(() => got === 16 * MiB, 10000, 'the message');
      // Small sends: called back too, in order.
      const order = [];
      for (let i = 0; i < 5; i++) ws.send(`m${i}`, () => order.push(i));
      await until(() => order.length === 5, 5000, 'small callbacks');
      assert.deepEqual(order, [0, 1, 2, 3, 4]);
    } finally {
      c.terminate();
      await stop(wss);
    }
  });
}

test('libws: send callbacks of data never written get an error when the connection ends', async () => {
  const { wss, ws, c } = await pair(WebSocketServer);
  try {
    c._socket.pause();
    let result = null;
    ws.send(Buffer.alloc(16 * MiB), (err) => { result = err || 'ok'; });
    await new Promise((r) => setTimeout(r, 100));
    ws.terminate();
    await until(() => result !== null, 5000, 'the callback');
    assert.ok(result instanceof Error, String(result));
  } finally {
    c.terminate();
    await stop(wss);
  }
});

test('libws: a message received as fragments (Buffer[]) is sent back whole', async () => {
  const { wss, ws, c } = await pair(WebSocketServer);
  try {
    const got = once(c, 'message');
    ws.send([Buffer.from('ab'), Buffer.from('cd')]);
    const [data, isBinary] = await got;
    assert.equal(isBinary, true);
    assert.equal(data.toString(), 'abcd');
  } finally {
    c.terminate();
    await stop(wss);
  }
});
