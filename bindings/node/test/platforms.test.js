'use strict';
// The library file by platform: what lib/native.js would open for each
// platform and architecture the npm tarball of ./build.sh dist carries a
// prebuilt library for (prebuilds/<platform>-<arch>/), without loading it.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const native = require('../lib/native');

// process.platform-process.arch -> the file there.
const PREBUILDS = {
  'linux-x64': 'libws.so',
  'darwin-arm64': 'libws.dylib',
  'darwin-x64': 'libws.dylib',
  'win32-x64': 'libws.dll',
};

function packageDir(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libws-platforms-'));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), 'not a library');
  }
  return dir;
}

function withPrebuilds(t) {
  const dir = packageDir(Object.entries(PREBUILDS).map(([plat, name]) => `prebuilds/${plat}/${name}`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('libName by process.platform', () => {
  assert.strictEqual(native.libName('linux'), 'libws.so');
  assert.strictEqual(native.libName('darwin'), 'libws.dylib');
  assert.strictEqual(native.libName('win32'), 'libws.dll');
  assert.strictEqual(native.libName('freebsd'), 'libws.so');
  assert.strictEqual(native.libName(), path.basename(native.file));
});

for (const [plat, name] of Object.entries(PREBUILDS)) {
  const [platform, arch] = plat.split('-');
  test(`the prebuilt library of ${plat} is ${name}`, (t) => {
    const dir = withPrebuilds(t);
    const tried = [];
    const got = native.packageCandidates({ platform, arch, packageDir: dir }, tried);
    assert.deepStrictEqual(got.map((c) => c.file), [path.join(dir, 'prebuilds', plat, name)]);
    assert.match(got[0].where, new RegExp(`prebuilt library for ${plat}`));
    assert.deepStrictEqual(tried, [`the package: ${path.join(dir, name)} does not exist`]);
  });

  test(`on ${plat} the package's own ${name} comes first`, (t) => {
    const dir = withPrebuilds(t);
    fs.writeFileSync(path.join(dir, name), 'not a library');
    const got = native.packageCandidates({ platform, arch, packageDir: dir });
    assert.deepStrictEqual(got.map((c) => c.file), [path.join(dir, name)]);
  });
}

test('another platform\'s file name is not taken', (t) => {
  // A darwin-arm64 directory holding a libws.so, a win32-x64 one a libws.dylib.
  const dir = packageDir(['prebuilds/darwin-arm64/libws.so', 'prebuilds/win32-x64/libws.dylib', 'libws.so']);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [platform, arch] of [['darwin', 'arm64'], ['win32', 'x64']]) {
    const tried = [];
    assert.deepStrictEqual(native.packageCandidates({ platform, arch, packageDir: dir }, tried), []);
    // Neither directory holds its platform's file: none is listed as there.
    assert.strictEqual(tried[1], `the package's prebuilt library for ${platform}-${arch}: ` +
      `${path.join(dir, 'prebuilds', `${platform}-${arch}`, native.libName(platform))} does not exist`);
  }
});

test('a platform without a prebuilt library lists the ones there are', (t) => {
  const dir = withPrebuilds(t);
  const tried = [];
  assert.deepStrictEqual(native.packageCandidates({ platform: 'linux', arch: 'arm64', packageDir: dir }, tried), []);
  assert.strictEqual(tried[1],
    'the package\'s prebuilt library for linux-arm64: none (it has darwin-arm64, darwin-x64, linux-x64, win32-x64)');
});
