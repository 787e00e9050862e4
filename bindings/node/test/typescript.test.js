'use strict';
// index.d.ts against a program written for @types/ws (test/types/ws_style.ts):
// tsc --strict --noEmit must accept it.
const test = require('node:test');
const assert = require('node:assert');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('a @types/ws-style program type-checks against index.d.ts (tsc --strict --noEmit)', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const root = path.join(__dirname, '..');
  const r = spawnSync(process.execPath, [
    tsc, '--noEmit', '--strict', '--esModuleInterop', '--skipLibCheck',
    '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022',
    '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'),
    path.join(__dirname, 'types', 'ws_style.ts'),
  ], { cwd: root, encoding: 'utf8', timeout: 120000 });
  assert.strictEqual(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
