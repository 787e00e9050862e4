const koffi = require('koffi');
const lib = koffi.load('/work/main/bindings/node/libws.so');
koffi.opaque('ws_hub_t'); koffi.opaque('ws_options_t');
const hub_new = lib.func('int ws_hub_new(_Out_ ws_hub_t **out, ws_options_t *opts)');
const hub_fd = lib.func('int ws_hub_fd(ws_hub_t *hub)');
const poll_raw = lib.func('int ws_hub_poll_raw(ws_hub_t *hub, void *buf, size_t cap, int timeout_ms)');
const send_raw = lib.func('int ws_hub_send_raw(ws_hub_t *hub, const void *buf, size_t len)');
const hub_listen = lib.func('int ws_hub_listen(ws_hub_t *hub, const char *host, int port, ws_options_t *opts, _Out_ int *port)');
const mask = lib.func('size_t ws_mask(void *buf, size_t len, const uint8_t *key, size_t off)');
const version_number = lib.func('int ws_version_number(void)');
const out = [null];
let t = process.hrtime.bigint();
console.log(hub_new(out, null), typeof out[0], out[0]);
console.log('hub_new us', Number(process.hrtime.bigint() - t) / 1e3);
const hub = out[0];
const p = [0];
t = process.hrtime.bigint();
console.log('listen', hub_listen(hub, '127.0.0.1', 0, null, p), p);
console.log('listen us', Number(process.hrtime.bigint() - t) / 1e3);
const buf = Buffer.alloc(1 << 20);
function bench(name, f, n) { f(); const t = process.hrtime.bigint(); for (let i = 0; i < n; i++) f(); console.log(name, (Number(process.hrtime.bigint() - t) / n).toFixed(1), 'ns'); }
bench('fd', () => hub_fd(hub), 100000);
bench('poll_raw', () => poll_raw(hub, buf, buf.length, 0), 100000);
bench('send_raw empty', () => send_raw(hub, buf, 0), 100000);
bench('version_number (Go export)', () => version_number(), 200);
const key = Buffer.from([1,2,3,4]);

