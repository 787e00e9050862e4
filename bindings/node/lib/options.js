'use strict';
// ws_options_t handles, built from [option, value] lists. Creating one takes
// several calls into Go exports (costly from Node's main thread), so handles
// are cached by content: a thousand clients with the same options cost one
// handle. libws copies options when a hub, listener or connection is made,
// so a cached handle may be freed at any time.

const { C } = require('./native');
const { libwsError } = require('./errors');
const K = require('./constants');

const cache = new Map();
const MAX_CACHED = 64;

// spec: array of [opt, value] where value is a number (int option) or a
// string (string option). Returns null for an empty spec (libws defaults).
function optionsHandle(spec) {
  if (spec.length === 0) return null;
  const key = JSON.stringify(spec);
  let h = cache.get(key);
  if (h !== undefined) return h;
  const out = [null];
  let rc = C.options_new(out);
  if (rc !== 0) throw libwsError(rc, 'ws_options_new');
  h = out[0];
  for (const [opt, value] of spec) {
    rc = typeof value === 'string' ? C.options_set_str(h, opt, value) : C.options_set_int(h, opt, value);
    if (rc !== 0) {
      const msg = C.options_errmsg(h);
      C.options_free(h);
      throw libwsError(rc, msg || `option ${opt} = ${JSON.stringify(value)}`);
    }
  }
  if (cache.size >= MAX_CACHED) {
    const [oldKey, oldHandle] = cache.entries().next().value;
    cache.delete(oldKey);
    C.options_free(oldHandle);
  }
  cache.set(key, h);
  return h;
}

// permessage-deflate (ws's perMessageDeflate option) -> compression options.
// Libraries built before compression existed reject WS_OPT_COMPRESSION:
// the option is then ignored, as the documentation says.
let compression = null;
function compressionSupported() {
  if (compression === null) {
    const out = [null];
    compression = false;
    if (C.options_new(out) === 0) {
      compression = C.options_set_int(out[0], K.OPT_COMPRESSION, 1) === 0;
      C.options_free(out[0]);
    }
  }
  return compression;
}

function deflateSpec(pmd, isServer) {
  if (!pmd || !compressionSupported()) return [];
  const o = typeof pmd === 'object' ? pmd : {};
  const spec = [[K.OPT_COMPRESSION, 1]];
  spec.push([K.OPT_COMPRESSION_THRESHOLD, Number.isInteger(o.threshold) && o.threshold >= 0 ? o.threshold : 1024]);
  const level = o.zlibDeflateOptions && o.zlibDeflateOptions.level;
  if (Number.isInteger(level) && level >= 1 && level <= 9) spec.push([K.OPT_COMPRESSION_LEVEL, level]);
  if (o.contextTakeover === true) spec.push([K.OPT_COMPRESSION_TAKEOVER, 1]);
  const bits = isServer ? o.clientMaxWindowBits : o.serverMaxWindowBits;
  if (Number.isInteger(bits) && bits >= 8 && bits <= 15) spec.push([K.OPT_COMPRESSION_MAX_WINDOW_BITS, bits]);
  return spec;
}

module.exports = { optionsHandle, deflateSpec, compressionSupported };
