'use strict';
// Frame utilities: parseHeader and mask, checked against the C ABI
// (ws_parse_header, ws_mask) they mirror.

const test = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('..');
const { pattern, exitWatchdog } = require('../testing/helpers');

exitWatchdog();

const { parseHeader, mask, unmask, native } = WebSocket;

test('parseHeader decodes every length encoding', () => {
  assert.deepEqual(parseHeader(Buffer.from([0x81, 0x05])), {
    fin: true, rsv: 0, opcode: 1, masked: false, mask: null, length: 5, headerLength: 2,
  });
  const h = parseHeader(Buffer.from([0x02, 0xfe, 0x01, 0x00, 1, 2, 3, 4]));
  assert.deepEqual(h, {
    fin: false, rsv: 0, opcode: 2, masked: true, mask: Buffer.from([1, 2, 3, 4]), length: 256, headerLength: 8,
  });
  const big = Buffer.from([0xc2, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.deepEqual(parseHeader(big), {
    fin: true, rsv: 4, opcode: 2, masked: false, mask: null, length: 2 ** 32, headerLength: 10,
  });
  const huge = Buffer.from([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.equal(parseHeader(huge).length, 2n ** 63n - 1n);
  // Any ArrayBuffer view or ArrayBuffer.
  assert.equal(parseHeader(new Uint8Array([0x89, 0x00]).buffer).opcode, 9);
});

test('parseHeader returns null until the header is complete', () => {
  assert.equal(parseHeader(Buffer.alloc(0)), null);
  assert.equal(parseHeader(Buffer.from([0x81])), null);
  assert.equal(parseHeader(Buffer.from([0x81, 126, 0])), null);
  assert.equal(parseHeader(Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 0, 0])), null);
  assert.equal(parseHeader(Buffer.from([0x81, 0x85, 1, 2, 3])), null);
});

test('parseHeader rejects headers no connection may accept', () => {
  const bad = [
    [0x83, 0x00], // reserved opcode
    [0x8b, 0x00], // reserved control opcode
    [0x09, 0x00], // fragmented ping
    [0x89, 126, 0, 126], // ping over 125 bytes
    [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], // 64-bit length with the top bit set
  ];
  for (const b of bad) {
    assert.throws(() => parseHeader(Buffer.from(b)), { code: 'WS_EPROTO' }, Buffer.from(b).toString('hex'));
  }
  assert.throws(() => parseHeader('x'), TypeError);
});

test('parseHeader agrees with ws_parse_header on random headers', () => {
  let x = 12345;
  const rnd = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x >>> 16;
  };
  for (let i = 0; i < 300; i++) {
    const len = rnd() % 16;
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = rnd() & 0xff;
    // Make the interesting cases common.
    if (len > 1 && i % 3 === 0) b[1] = (b[1] & 0x80) | [125, 126, 127][i % 9 / 3 | 0];
    let want;
    let got;
    try {
      want = native.parseHeader(b);
    } catch (err) {
      want = err.code;
    }
    try {
      got = parseHeader(b);
    } catch (err) {
      got = err.code;
    }
    assert.deepEqual(got, want, b.toString('hex'));
  }
});

test('mask is its own inverse and works in pieces at any offset', () => {
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  for (const len of [0, 1, 3, 4, 5, 31, 32, 33, 100, 1000, 4099]) {
    for (let start = 0; start < 4; start++) {
      const orig = pattern(len + start, len).subarray(start);
      const data = Buffer.from(orig);
      // in one go
      assert.equal(mask(data, key), len & 3);
      if (len > 3) assert.notDeepEqual(data, orig);
      unmask(data, key);
      assert.deepEqual(data, orig);
      // in two pieces
      const cut = Math.floor(len / 3);
      const off = mask(data.subarray(0, cut), key, 0);
      mask(data.subarray(cut), key, off);
      const once = Buffer.from(orig);
      mask(once, key);
      assert.deepEqual(data, once, `len ${len} start ${start}`);
    }
  }
});

test('mask agrees with ws_mask, below and above the native threshold', () => {
  const key = new Uint8Array([1, 2, 3, 250]);
  for (const len of [7, 64, 1000, 600 * 1024]) {
    for (const off of [0, 1, 2, 3, 6]) {
      const a = pattern(len, off + 1);
      const b = Buffer.from(a);
      const ra = mask(a, key, off);
      const rb = native.mask(b, key, off);
      assert.equal(ra, rb);
      assert.ok(a.equals(b), `len ${len} offset ${off}`);
    }
  }
  assert.throws(() => mask(Buffer.alloc(4), Buffer.alloc(3)), RangeError);
});
