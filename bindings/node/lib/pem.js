'use strict';
// TLS material as ws users pass it (cert, key, ca: Buffers or PEM strings,
// or arrays of them) -> the PEM files libws reads (WS_OPT_TLS_*_FILE). A
// value that is not PEM text is taken as a file path. Files go to one
// private directory per process (0700, files 0600), one per content,
// removed at exit.

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');

let dir = null;
const files = new Map();

function pemFile(value) {
  if (value === undefined || value === null || value === false) return null;
  if (Array.isArray(value)) {
    if (value.length === 0) return null;
    value = Buffer.concat(value.map((v) => Buffer.concat([Buffer.from(v), Buffer.from('\n')])));
  }
  if (typeof value === 'string' && !value.includes('-----BEGIN')) return value; // a path
  const bytes = Buffer.from(value);
  const key = crypto.createHash('sha256').update(bytes).digest('hex');
  let file = files.get(key);
  if (file !== undefined) return file;
  if (dir === null) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-tls-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  file = path.join(dir, `${key.slice(0, 16)}.pem`);
  fs.writeFileSync(file, bytes, { mode: 0o600 });
  files.set(key, file);
  return file;
}

module.exports = { pemFile };
