const koffi = require('koffi');
const lib = koffi.load('/work/main/bindings/node/libws.so');
koffi.opaque('ws_hub_t'); koffi.opaque('ws_options_t');
const hub_new = lib.func('int ws_hub_new(_Out_ ws_hub_t **out, ws_options_t *opts)');
const mask = lib.func('size_t ws_mask(void *buf, size_t len, const uint8_t *key, size_t off)');
const mode = process.argv[2];
if (mode.includes('h')) { const o=[null]; hub_new(o, null); }
if (mode.includes('m')) { const b = Buffer.alloc(16); mask(b, 16, Buffer.from([1,2,3,4]), 0); }
if (mode.includes('M')) { for (let i=0;i<50;i++){const b = Buffer.alloc(16<<20); mask(b, b.length, Buffer.from([1,2,3,4]), 0);} }
console.log('done', mode);
