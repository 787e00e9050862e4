'use strict';
// 1,000 concurrent clients, every byte of every echo checked: ws clients
// against the binding's server, and the binding's clients against a ws
// server.

const test = require('node:test');
const assert = require('node:assert/strict');
const {
  WebSocket, WS, libwsEchoServer, wsEchoServer, closeServer, closeWsServer, pattern, within, exitWatchdog,
} = require('../testing/helpers');

exitWatchdog();

const CLIENTS = 1000;
const ROUNDS = 4;

// Message r of client i: text on even rounds, binary on odd ones, sizes
// from 0 to ~3 KiB, and one 64 KiB message per client.
function message(i, r) {
  const len = r === ROUNDS - 1 ? 65536 + i : (i * 13 + r * 101) % 3000;
  const bytes = pattern(len, i * 1000 + r + 1);
  if (r % 2 === 0) return { data: bytes.toString('base64').slice(0, len), binary: false };
  return { data: bytes, binary: true };
}

function equalMessage(want, data, isBinary) {
  if (isBinary !== want.binary) return false;
  return want.binary ? data.equals(want.data) : data.toString() === want.data;
}

// Runs CLIENTS clients made by make(url) to completion; each sends its
// ROUNDS messages one at a time, checks each echo, then closes.
async function runClients(url, make) {
  let done = 0;
  let bad = 0;
  let opened = 0;
  let closedClean = 0;
  const errors = [];
  await within(new Promise((resolve) => {
    for (let i = 0; i < CLIENTS; i++) {
      const c = make(url);
      let r = 0;
      c.on('open', () => {
        opened++;
        const m = message(i, 0);
        c.send(m.data, { binary: m.binary });
      });
      c.on('message', (data, isBinary) => {
        if (!equalMessage(message(i, r), data, isBinary)) bad++;
        r++;
        if (r < ROUNDS) {
          const m = message(i, r);
          c.send(m.data, { binary: m.binary });
        } else {
          c.close(1000, `client ${i} done`);
        }
      });
      c.on('error', (err) => errors.push(err.message));
      c.on('close', (code) => {
        if (code === 1000 && r === ROUNDS) closedClean++;
        if (++done === CLIENTS) resolve();
      });
    }
  }), 45000, `${CLIENTS} clients`);
  assert.deepEqual(errors.slice(0, 5), []);
  assert.equal(opened, CLIENTS);
  assert.equal(bad, 0, 'wrong echoes');
  assert.equal(closedClean, CLIENTS);
}

test(`${CLIENTS} ws clients against the binding's server`, { timeout: 60000 }, async () => {
  const { wss, url } = await libwsEchoServer();
  let serverCloses = 0;
  wss.on('connection', (ws) => ws.on('close', (code) => { if (code === 1000) serverCloses++; }));
  await runClients(url, (u) => new WS(u, { perMessageDeflate: false }));
  assert.equal(serverCloses, CLIENTS);
  assert.equal(wss.clients.size, 0);
  await closeServer(wss);
});

test(`${CLIENTS} binding clients against a ws server`, { timeout: 60000 }, async () => {
  const { wss, url } = await wsEchoServer({ backlog: 2048 });
  await runClients(url, (u) => new WebSocket(u));
  await closeWsServer(wss);
});
