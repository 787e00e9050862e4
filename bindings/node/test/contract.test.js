'use strict';
// The binding's side of docs/hub-contract.md checked against its sources:
// lib/constants.js against include/ws.h, error objects from the event
// status, the record arithmetic.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { exitWatchdog } = require('../testing/helpers');
const K = require('../lib/constants');
const { connectionError, libwsError } = require('../lib/errors');
const { recordSize } = require('../lib/hub');
const { maxMessageSize } = require('../lib/websocket');
const { WebSocketServer, once, closeServer } = require('../testing/helpers');

exitWatchdog();

const HEADER = path.join(__dirname, '..', '..', '..', 'include', 'ws.h');

// Macros that are not values the binding mirrors: the include guard, and the
// version, which the binding asks the loaded library for (ws_version()).
const NOT_MIRRORED = new Set(['WS_H', 'WS_VERSION_MAJOR', 'WS_VERSION_MINOR', 'WS_VERSION_PATCH',
  'WS_VERSION_STRING', 'WS_VERSION_NUMBER']);

/** Every `#define WS_NAME value` of ws.h with an integer value: { name: number }.
 * A value that is neither an integer expression nor a known exception fails. */
function headerConstants(text) {
  const out = {};
  // Comments out (a value's comment may run over several lines), then
  // continued lines joined.
  const joined = text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '').replace(/\\\r?\n/g, ' ');
  for (const m of joined.matchAll(/^[ \t]*#[ \t]*define[ \t]+(WS_[A-Z0-9_]+)(?:[ \t]+(.*))?$/gm)) {
    const name = m[1];
    if (NOT_MIRRORED.has(name)) continue;
    const value = (m[2] || '').trim();
    // Integer literals, parentheses, + - << and ~ only: safe to evaluate,
    // as BigInts so that 1u << 31 does not wrap as JavaScript's int32 would.
    assert.match(value, /^[\s()0-9a-fA-FxXuUlL+\-<~]+$/, `ws.h: ${name} has a value this test cannot read: ${value}`);
    const expr = value.replace(/\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b/g, '$1n');
    out[name] = Number(Function(`"use strict"; return (${expr});`)());
  }
  return out;
}

// lib/constants.js keys map to ws.h names: WS_E... and WS_OK as they are, the
// rest with WS_ in front.
function headerName(key) {
  return key.startsWith('WS_') ? key : `WS_${key}`;
}

test('lib/constants.js and include/ws.h define the same constants with the same values', () => {
  const header = headerConstants(fs.readFileSync(HEADER, 'utf8'));
  assert.ok(Object.keys(header).length > 50, 'ws.h parsed');
  const mine = {};
  for (const [key, value] of Object.entries(K)) mine[headerName(key)] = value;
  const missing = Object.keys(header).filter((n) => !(n in mine));
  const extra = Object.keys(mine).filter((n) => !(n in header));
  const differ = Object.keys(header).filter((n) => n in mine && mine[n] !== header[n])
    .map((n) => `${n}: ws.h ${header[n]}, constants.js ${mine[n]}`);
  assert.deepEqual({ missing, extra, differ }, { missing: [], extra: [], differ: [] });
});

test('the header parser reads hex, negative, shifted and suffixed values and refuses others', () => {
  assert.deepEqual(headerConstants('#define WS_A 0x1F /* x */\n#define WS_B (-15) /* a comment\n  over two lines */\n#  define WS_C ((1u << 31) - 64) // c\n'),
    { WS_A: 31, WS_B: -15, WS_C: 2147483584 });
  assert.throws(() => headerConstants('#define WS_D some_function(1)\n'), /cannot read/);
});

test('error objects come from the status word, never from the message text', () => {
  const cases = [
    [1002, K.WS_EPROTO, 'WS_ERR_PROTOCOL'],
    [1007, K.WS_EUTF8, 'WS_ERR_INVALID_UTF8'],
    [1009, K.WS_ETOOBIG, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
    [1008, K.WS_EPOLICY, 'WS_ERR_POLICY_VIOLATION'],
    [0, K.WS_ETIMEDOUT, 'ETIMEDOUT'],
    [0, K.WS_EIO, 'WS_EIO'],
    [0, K.WS_ETLS, 'WS_ETLS'],
    [1011, K.WS_EINTERNAL, 'WS_ERR_INTERNAL'],
    [0, K.WS_EHANDSHAKE, 'WS_ERR_UNEXPECTED_RESPONSE'],
  ];
  for (const [close, status, code] of cases) {
    // A misleading text: the code must not follow it.
    const err = connectionError(close, status, 'connection refused: invalid UTF-8, i/o timeout, message too big');
    assert.equal(err.code, code, `status ${status}`);
    assert.equal(err.errno, status);
    assert.equal(err.closeCode, close === 0 ? undefined : close);
    assert.equal(err.message, 'connection refused: invalid UTF-8, i/o timeout, message too big');
  }
  const refused = connectionError(0, K.WS_EHANDSHAKE, 'libws: handshake: server did not switch protocols: 403');
  assert.equal(refused.message, 'Unexpected server response: 403');
  assert.equal(refused.statusCode, 403);
});

test('record sizes: header, payload, padding to 8 (what WS_ENOSPACE asks for)', () => {
  assert.equal(K.RECORD_HEADER, 24);
  assert.equal(recordSize(0), 24);
  assert.equal(recordSize(1), 32);
  assert.equal(recordSize(8), 32);
  assert.equal(recordSize(9), 40);
  assert.equal(recordSize(K.RECORD_MAX_LEN), 24 + K.RECORD_MAX_LEN);
});

test('maxPayload: ws\'s default (100 MiB); 0 ("no limit" in ws) is the largest record, never 2^53', async () => {
  assert.equal(maxMessageSize(undefined), 100 * 1024 * 1024);
  assert.equal(maxMessageSize(1), 1);
  assert.equal(maxMessageSize(5e6), 5e6);
  assert.equal(maxMessageSize(0), K.RECORD_MAX_LEN);
  assert.equal(maxMessageSize(-1), K.RECORD_MAX_LEN);
  assert.equal(maxMessageSize(2 ** 53), K.RECORD_MAX_LEN);
  assert.throws(() => maxMessageSize('lots'), TypeError);
  // libws takes the bound as a message size.
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 0 });
  await once(wss, 'listening');
  await closeServer(wss);
});

test('a record whose length runs past the batch is reported, and nothing after it is read as records', () => {
  const { Hub, MODE_OPTION } = require('../lib/hub');
  const { optionsHandle } = require('../lib/options');
  const errors = [];
  const hub = new Hub(optionsHandle([MODE_OPTION]), { onHubError: (err) => errors.push(err) });
  try {
    const got = [];
    hub.conns.set(7, { _onMessage: (data) => got.push(data.toString()) });
    const rec = (len, payload) => {
      const b = Buffer.alloc(recordSize(payload.length));
      b[0] = K.EVENT_MESSAGE;
      b[1] = K.OP_TEXT;
      b.writeUInt32LE(len, 4);
      b.writeUInt32LE(7, 8);
      Buffer.from(payload).copy(b, K.RECORD_HEADER);
      return b;
    };
    // A good record, then one claiming more bytes than were handed over
    // (the bytes past them are stale: earlier batches, other connections).
    const forged = rec(5, 'forge');
    const batch = Buffer.concat([rec(2, 'ok'), rec(200, Buffer.concat([forged, forged]))]);
    batch.copy(hub.buf);
    hub.pos = 0;
    hub.end = batch.length;
    hub.dispatch();
    assert.deepEqual(got, ['ok']);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].code, 'WS_EINTERNAL');
    assert.equal(hub.pos, hub.end);
  } finally {
    hub.conns.clear();
    hub.destroy();
  }
});

test('libwsError says "libws: " once, whether or not libws\'s message already has it', () => {
  const a = libwsError(K.WS_EIO, 'libws: connect: connection refused');
  assert.ok(a.message.startsWith('libws: connect: connection refused'), a.message);
  assert.equal(a.message.split('libws: ').length, 2, a.message);
  const b = libwsError(K.WS_EINVAL, 'ws_hub_listen');
  assert.ok(b.message.startsWith('libws: ws_hub_listen ('), b.message);
  assert.equal(b.code, 'WS_EINVAL');
});
