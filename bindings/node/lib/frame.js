'use strict';
// Frame utilities: parseHeader and mask.
//
// Both exist in libws as Go exports (ws_parse_header, ws_mask), but a call
// from Node's main thread into a Go export cost ~100-290 us when this was
// written (~0.47 us since capi/stackbound.c), so:
//   - parseHeader is implemented in JavaScript (well under a microsecond) with
//     exactly the rules of ws_parse_header; nativeParseHeader calls the C ABI.
//   - mask runs in JavaScript below MASK_NATIVE_THRESHOLD bytes (~2 GB/s) and
//     calls ws_mask above it, where Go's AVX2 loop (~40 GB/s here) pays for the
//     crossing. See README.md for the measurements.

const { C } = require('./native');
const K = require('./constants');

// JS masking runs at ~1.8-2 GB/s, ws_mask at ~100 us + len / 40 GB/s from
// the main thread: they crossed at ~200-500 KiB. With the crossing now at
// ~0.47 us they would cross near 1 KiB; the threshold awaits a measurement
// on a quiet machine.
const MASK_NATIVE_THRESHOLD = 512 * 1024;

function protoError(message) {
  const err = new Error(message);
  err.code = 'WS_EPROTO';
  err.errno = K.WS_EPROTO;
  return err;
}

function asBytes(buf, what) {
  if (buf instanceof Uint8Array) return buf;
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  throw new TypeError(`${what} must be a Buffer, a TypedArray, a DataView or an ArrayBuffer`);
}

/**
 * Decodes the frame header at the start of buf. Returns null when buf does
 * not hold the whole header yet; throws (err.code 'WS_EPROTO') for headers
 * no connection may accept: reserved opcodes, fragmented control frames,
 * control payloads over 125 bytes, 64-bit lengths with the top bit set.
 * Masking direction and reserved bits are not checked (they depend on the
 * connection), as in ws_parse_header.
 */
function parseHeader(buf) {
  const b = asBytes(buf, 'buf');
  if (b.length < 2) return null;
  const b0 = b[0];
  const b1 = b[1];
  const fin = (b0 & 0x80) !== 0;
  const rsv = (b0 >> 4) & 7;
  const opcode = b0 & 0x0f;
  const masked = (b1 & 0x80) !== 0;
  let n = 2;
  let length;
  const l = b1 & 0x7f;
  if (l === 126) {
    if (b.length < 4) return null;
    length = (b[2] << 8) | b[3];
    n = 4;
  } else if (l === 127) {
    if (b.length < 10) return null;
    if (b[2] & 0x80) throw protoError('64-bit payload length with the most significant bit set');
    const hi = ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0;
    const lo = ((b[6] << 24) | (b[7] << 16) | (b[8] << 8) | b[9]) >>> 0;
    if (hi < 0x200000) length = hi * 4294967296 + lo;
    else length = (BigInt(hi) << 32n) | BigInt(lo);
    n = 10;
  } else {
    length = l;
  }
  if ((opcode >= 3 && opcode <= 7) || opcode >= 0xb) throw protoError(`reserved opcode ${opcode}`);
  if (opcode >= 8) {
    if (!fin) throw protoError('fragmented control frame');
    if (length > 125) throw protoError('control frame payload over 125 bytes');
  }
  let mask = null;
  if (masked) {
    if (b.length < n + 4) return null;
    mask = Buffer.from(b.subarray(n, n + 4));
    n += 4;
  }
  return { fin, rsv, opcode, masked, mask, length, headerLength: n };
}

/** parseHeader through the C ABI (ws_parse_header, a Go export: ~100 us a call). */
function nativeParseHeader(buf) {
  const b = asBytes(buf, 'buf');
  const out = {};
  const rc = C.parse_header(b, b.length, out);
  if (rc === 0) return null;
  if (rc < 0) {
    const err = new Error(`ws_parse_header: ${C.strerror(rc)}`);
    err.errno = rc;
    if (rc === K.WS_EPROTO) err.code = 'WS_EPROTO';
    throw err;
  }
  let length = out.length;
  if (typeof length === 'bigint' && length <= BigInt(Number.MAX_SAFE_INTEGER)) length = Number(length);
  return {
    fin: out.fin !== 0,
    rsv: out.rsv,
    opcode: out.opcode,
    masked: out.masked !== 0,
    mask: out.masked ? Buffer.from(out.mask) : null,
    length,
    headerLength: rc,
  };
}

function keyBytes(key) {
  const k = asBytes(key, 'key');
  if (k.length < 4) throw new RangeError('key must hold 4 bytes');
  return k;
}

function maskJS(b, k, offset) {
  const len = b.length;
  let off = offset & 3;
  let i = 0;
  if (len >= 32) {
    const base = b.byteOffset;
    while (((base + i) & 3) !== 0) {
      b[i] ^= k[off];
      off = (off + 1) & 3;
      i++;
    }
    const words = (len - i) >>> 2;
    // The key as it lines up with the word at b[i] (little-endian).
    const kw = k[off] | (k[(off + 1) & 3] << 8) | (k[(off + 2) & 3] << 16) | (k[(off + 3) & 3] << 24);
    const w32 = new Int32Array(b.buffer, base + i, words);
    for (let w = 0; w < words; w++) w32[w] ^= kw;
    i += words << 2;
  }
  for (; i < len; i++) {
    b[i] ^= k[off];
    off = (off + 1) & 3;
  }
  return off;
}

/**
 * XORs buf in place with the 4-byte masking key, starting at key byte
 * offset & 3, and returns the key offset for the byte after buf, so a payload
 * can be (un)masked in pieces. Masking twice restores the data.
 */
function mask(buf, key, offset = 0) {
  const b = asBytes(buf, 'buf');
  const k = keyBytes(key);
  if (b.length >= MASK_NATIVE_THRESHOLD) return Number(C.mask(b, b.length, k, offset & 3));
  return maskJS(b, k, offset);
}

/** mask through the C ABI only (ws_mask, a Go export: ~100 us a call). */
function nativeMask(buf, key, offset = 0) {
  const b = asBytes(buf, 'buf');
  return Number(C.mask(b, b.length, keyBytes(key), offset & 3));
}

module.exports = {
  parseHeader,
  mask,
  unmask: mask,
  native: { parseHeader: nativeParseHeader, mask: nativeMask },
  maskJS: (buf, key, offset = 0) => maskJS(asBytes(buf, 'buf'), keyBytes(key), offset),
  MASK_NATIVE_THRESHOLD,
};
