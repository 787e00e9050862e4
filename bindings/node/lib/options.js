'use strict';
// ws_options_t handles, built from [option, value] lists. Creating one takes
// several calls into Go exports (costly from Node's main thread), so handles
// are cached by content: a thousand clients with the same options cost one
// handle. libws copies options when a hub, listener or connection is made,
// so a cached handle may be freed at any time.

const { C } = require('./native');
const { libwsError } = require('./errors');

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

module.exports = { optionsHandle };
