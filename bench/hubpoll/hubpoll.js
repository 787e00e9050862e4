#!/usr/bin/env node
'use strict';
// Cost of one ws_hub_poll_raw() call from Node through koffi (the call the
// Node binding makes), returning 1 and 64 events already waiting, and
// finding none; the twin of hubpoll.py (see there for the method).
//
// Usage: node bench/hubpoll/hubpoll.js   (after ./build.sh and npm ci in bindings/node)

const path = require('path');
const koffi = require(path.join(__dirname, '..', '..', 'bindings', 'node', 'node_modules', 'koffi'));

const lib = koffi.load(path.join(__dirname, '..', '..', 'build', 'lib', 'libws.so'));
const fn = (s) => lib.func(s);
const optionsNew = fn('int ws_options_new(_Out_ void **out)');
const optionsSetInt = fn('int ws_options_set_int(void *o, int opt, int64_t v)');
const optionsFree = fn('void ws_options_free(void *o)');
const hubNew = fn('int ws_hub_new(_Out_ void **out, void *opts)');
const hubListen = fn('int ws_hub_listen(void *h, const char *host, int port, void *opts, _Out_ int *port)');
const hubConnect = fn('int ws_hub_connect(void *h, const char *url, void *opts, _Out_ uint64_t *conn)');
const pollRaw = fn('int ws_hub_poll_raw(void *h, uint8_t *buf, size_t cap, int timeout)');
const sendRaw = fn('int ws_hub_send_raw(void *h, const uint8_t *rec, size_t len)');
const hubFree = fn('void ws_hub_free(void *h)');

const BATCH = 2000, SIZE = 20, ROUNDS = 20, HEADER = 24;
const RECORD = HEADER + Math.ceil(SIZE / 8) * 8;
const WS_OPT_HUB_THREADED = 105, WS_EVENT_OPEN = 1, WS_CMD_SEND = 1, WS_OP_BINARY = 2;

function newHub(threaded) {
  const o = [null];
  optionsNew(o);
  optionsSetInt(o[0], WS_OPT_HUB_THREADED, threaded);
  const h = [null];
  const rc = hubNew(h, o[0]);
  optionsFree(o[0]);
  if (rc !== 0) throw new Error(`ws_hub_new: ${rc}`);
  return h[0];
}

function median(a) {
  const s = Float64Array.from(a).sort();
  return s[s.length >> 1];
}

const now = process.hrtime.bigint;
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

function measure(threaded) {
  const srv = newHub(threaded), cli = newHub(0);
  const port = [0];
  if (hubListen(srv, '127.0.0.1', 0, null, port) <= 0) throw new Error('listen');
  const conn = [0n];
  if (hubConnect(cli, `ws://127.0.0.1:${port[0]}/`, null, conn) !== 0) throw new Error('connect');
  const buf = Buffer.alloc(1 << 16);
  let opened = false, accepted = false;
  const deadline = Date.now() + 5000;
  while (!(opened && accepted) && Date.now() < deadline) {
    if (pollRaw(cli, buf, buf.length, 1) > 0 && buf[0] === WS_EVENT_OPEN) opened = true;
    if (pollRaw(srv, buf, buf.length, 1) > 0 && buf[0] === WS_EVENT_OPEN) accepted = true;
  }
  if (!opened || !accepted) throw new Error('no open');
  const records = Buffer.alloc(RECORD * BATCH);
  for (let i = 0; i < BATCH; i++) {
    const o = i * RECORD;
    records[o] = WS_CMD_SEND;
    records[o + 1] = WS_OP_BINARY;
    records.writeUInt32LE(SIZE, o + 4);
    records.writeBigUInt64LE(BigInt(conn[0]), o + 8);
  }
  const out = {};
  for (const want of [1, 64]) {
    const samples = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (sendRaw(cli, records, records.length) !== BATCH) throw new Error('send');
      sleep(20);
      let got = pollRaw(srv, buf, RECORD, 1000) / RECORD;
      const cap = want * RECORD;
      for (;;) {
        const t0 = now();
        const n = pollRaw(srv, buf, cap, 0);
        const dt = Number(now() - t0);
        if (n <= 0) break;
        got += n / RECORD;
        if (n === cap) samples.push(dt);
      }
      if (got !== BATCH) throw new Error(`got ${got}`);
    }
    out[want] = median(samples);
  }
  const samples = [];
  for (let i = 0; i < 20000; i++) {
    const t0 = now();
    pollRaw(srv, buf, buf.length, 0);
    samples.push(Number(now() - t0));
  }
  out[0] = median(samples);
  hubFree(cli);
  hubFree(srv);
  return out;
}

const timer = median(Array.from({ length: 10000 }, () => Number(-(now() - now()))));
console.log(`ws_hub_poll_raw from Node koffi (median ns/call, timer cost ${timer.toFixed(0)} ns subtracted)`);
console.log(`${''.padEnd(16)} ${'1 event'.padStart(10)} ${'64 events'.padStart(10)} ${'none'.padStart(10)}`);
for (const threaded of [0, 1]) {
  const r = measure(threaded);
  const f = (x) => (x - timer).toFixed(0).padStart(10);
  console.log(`${(threaded ? 'threaded hub' : 'inline hub').padEnd(16)} ${f(r[1])} ${f(r[64])} ${f(r[0])}`);
}
