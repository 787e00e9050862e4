'use strict';
// Loads libws.so through koffi and declares the C functions the binding uses.
//
// Where the library comes from, in this order (the first that exists wins):
//   1. libws.so inside this package (copied there by ./build.sh in a checkout),
//   2. prebuilds/<platform>-<arch>/libws.so inside this package (what the npm
//      tarball of ./build.sh dist carries; <platform>-<arch> as in
//      process.platform and process.arch: linux-x64, and where the cross
//      builds ran darwin-arm64, darwin-x64 and win32-x64),
//   3. the file named by the environment variable LIBWS_LIBRARY,
//   4. the system's dynamic loader (LD_LIBRARY_PATH, /etc/ld.so.cache,
//      /usr/lib ...): "libws.so.MAJOR" (the SONAME, what the runtime package
//      libws0 installs), then "libws.so".
// A candidate that exists but cannot be loaded is an error at once: once a Go
// c-shared library was loaded into a process, loading a second one (another
// candidate) is unsupported by Go.
//
// Cost model (measured with Node 20 and koffi 3): a call from the main thread
// into a Go export costs ~100-290 us, a call into a plain C function ~60-200
// ns. The per-message path of this binding only calls plain C functions
// (ws_hub_poll_raw, ws_hub_send_raw, ws_hub_send); Go exports are used for
// setup (ws_hub_new, ws_hub_listen, ws_hub_connect, options) and teardown.

const fs = require('fs');
const path = require('path');
const koffi = require('koffi');

const PACKAGE_DIR = path.join(__dirname, '..');
// The library's file name on a platform (process.platform), in 1. and 2.
// above: libws.dylib on macOS, libws.dll on Windows (README: "Platforms").
function libName(platform = process.platform) {
  return { darwin: 'libws.dylib', win32: 'libws.dll' }[platform] || 'libws.so';
}
const LIB_NAME = libName();
const PLATFORM = `${process.platform}-${process.arch}`;
// The SONAME's major version is the package's (both come from ws.h).
function sonameMajor() {
  try {
    return require('../package.json').version.split('.')[0];
  } catch {
    return null; // lib/ used without its package.json: libws.so alone
  }
}

// The prebuilt libraries are linked with glibc: on another C library (musl:
// Alpine) the linux-* one does not fit, and loading it would fail obscurely.
function libcMismatch(platform) {
  if (platform !== 'linux' || process.platform !== 'linux') return null;
  if (!process.report || typeof process.report.getReport !== 'function') return null;
  // The report's network part can take seconds to gather, and is not needed.
  const exclude = process.report.excludeNetwork;
  process.report.excludeNetwork = true;
  let header;
  try {
    header = process.report.getReport().header;
  } finally {
    process.report.excludeNetwork = exclude;
  }
  if (header && !header.glibcVersionRuntime) return 'this system\'s C library is not glibc';
  return null;
}

function prebuiltCandidate(tried, candidates, { platform, arch, packageDir }) {
  const name = libName(platform);
  const plat = `${platform}-${arch}`;
  const prebuilds = path.join(packageDir, 'prebuilds');
  const file = path.join(prebuilds, plat, name);
  let available = [];
  try {
    // Each prebuilds/<platform>-<arch>/ holds its platform's file name.
    available = fs.readdirSync(prebuilds).filter((d) =>
      fs.existsSync(path.join(prebuilds, d, libName(d.split('-')[0]))));
  } catch {
    available = [];
  }
  if (!fs.existsSync(file)) {
    tried.push(`the package's prebuilt library for ${plat}: ` + (available.length
      ? `none (it has ${available.join(', ')})`
      : `${file} does not exist`));
    return;
  }
  const mismatch = libcMismatch(platform);
  if (mismatch) {
    tried.push(`the package's prebuilt library for ${plat}: built for glibc, and ${mismatch}`);
    return;
  }
  candidates.push({ where: `the package's prebuilt library for ${plat} (${file})`, file });
}

// Steps 1 and 2 above: the files of the package the loader tries, for this
// process or, in tests, another platform and architecture.
function packageCandidates({ platform = process.platform, arch = process.arch, packageDir = PACKAGE_DIR } = {},
  tried = []) {
  const candidates = [];
  const own = path.join(packageDir, libName(platform));
  if (fs.existsSync(own)) {
    candidates.push({ where: `the package (${own})`, file: own });
  } else {
    tried.push(`the package: ${own} does not exist`);
    prebuiltCandidate(tried, candidates, { platform, arch, packageDir });
  }
  return candidates;
}

function loadLibrary() {
  const tried = [];
  const candidates = packageCandidates({}, tried);
  const env = process.env.LIBWS_LIBRARY;
  if (env) {
    if (fs.existsSync(env)) candidates.push({ where: `LIBWS_LIBRARY (${env})`, file: env });
    else tried.push(`LIBWS_LIBRARY: ${env} does not exist`);
  } else {
    tried.push('LIBWS_LIBRARY: not set');
  }
  const major = sonameMajor();
  for (const name of major && LIB_NAME === 'libws.so' ? [`libws.so.${major}`, LIB_NAME] : [LIB_NAME]) {
    candidates.push({ where: `the system (dynamic loader search for "${name}")`, file: name, system: true });
  }
  for (const c of candidates) {
    try {
      return { lib: koffi.load(c.file), file: c.file, where: c.where };
    } catch (err) {
      if (!c.system) {
        // The file exists but does not load: stop here (see above).
        throw new Error(`libws: cannot load ${c.where}: ${err.message}`);
      }
      tried.push(`${c.where}: ${err.message}`);
    }
  }
  throw new Error(
    `libws: ${LIB_NAME} not found for this platform (${PLATFORM}). Looked in, in order:\n  - ` +
    tried.join('\n  - ') +
    '\nInstall a libws package that has a prebuilt library for this platform, build it with ' +
    './build.sh (which copies it into bindings/node/), set LIBWS_LIBRARY to its path, ' +
    'or install it where the dynamic loader finds it (the libws0 Debian package).');
}

const loaded = loadLibrary();
const lib = loaded.lib;

koffi.opaque('ws_hub_t');
koffi.opaque('ws_options_t');
const wsHeader = koffi.struct('ws_header_t', {
  fin: 'uint8_t',
  rsv: 'uint8_t',
  opcode: 'uint8_t',
  masked: 'uint8_t',
  mask: koffi.array('uint8_t', 4, 'Array'),
  length: 'uint64_t',
});

function fn(proto) {
  try {
    return lib.func(proto);
  } catch (err) {
    throw new Error(`libws: ${loaded.where} lacks a function this binding needs (${proto}): ` +
      `${err.message}. The library is probably older than the binding; rebuild it with ./build.sh.`);
  }
}

const C = {
  // Plain C (cheap from the main thread).
  version: fn('const char *ws_version(void)'),
  version_number: fn('int ws_version_number(void)'),
  strerror: fn('const char *ws_strerror(int code)'),
  errmsg: fn('const char *ws_errmsg(void)'),
  hub_fd: fn('int ws_hub_fd(ws_hub_t *hub)'),
  hub_poll_raw: fn('int ws_hub_poll_raw(ws_hub_t *hub, void *buf, size_t cap, int timeout_ms)'),
  hub_send_raw: fn('int ws_hub_send_raw(ws_hub_t *hub, const void *records, size_t len)'),
  hub_send: fn('int ws_hub_send(ws_hub_t *hub, uint64_t conn, int opcode, const void *data, size_t len)'),
  hub_close: fn('int ws_hub_close(ws_hub_t *hub, uint64_t conn, int code, const char *reason)'),
  hub_terminate: fn('int ws_hub_terminate(ws_hub_t *hub, uint64_t conn)'),
  // Go exports (costly from the main thread: setup and teardown only).
  hub_new: fn('int ws_hub_new(_Out_ ws_hub_t **out, ws_options_t *opts)'),
  hub_listen: fn('int ws_hub_listen(ws_hub_t *hub, const char *host, int port, ws_options_t *opts, _Out_ int *out_port)'),
  hub_connect: fn('int ws_hub_connect(ws_hub_t *hub, const char *url, ws_options_t *opts, _Out_ uint64_t *out_conn)'),
  hub_adopt: fn('int ws_hub_adopt(ws_hub_t *hub, int fd, const uint8_t *head, size_t len, ws_options_t *opts, _Out_ uint64_t *out_conn)'),
  hub_topic_count: fn('int64_t ws_hub_topic_count(ws_hub_t *hub, const char *topic)'),
  hub_latency: fn('int64_t ws_hub_latency(ws_hub_t *hub, uint64_t conn)'),
  hub_shutdown: fn('int ws_hub_shutdown(ws_hub_t *hub, int timeout_ms)'),
  hub_free: fn('void ws_hub_free(ws_hub_t *hub)'),
  hub_errmsg: fn('const char *ws_hub_errmsg(ws_hub_t *hub)'),
  hub_buffered_amount: fn('int64_t ws_hub_buffered_amount(ws_hub_t *hub, uint64_t conn)'),
  options_new: fn('int ws_options_new(_Out_ ws_options_t **out)'),
  options_free: fn('void ws_options_free(ws_options_t *o)'),
  options_set_int: fn('int ws_options_set_int(ws_options_t *o, int opt, int64_t value)'),
  options_set_str: fn('int ws_options_set_str(ws_options_t *o, int opt, const char *value)'),
  options_errmsg: fn('const char *ws_options_errmsg(ws_options_t *o)'),
  parse_header: fn('int ws_parse_header(const void *buf, size_t len, _Out_ ws_header_t *out)'),
  mask: fn('size_t ws_mask(void *buf, size_t len, const uint8_t *key, size_t offset)'),
};

// fcntl(fd, F_DUPFD_CLOEXEC, 0) from libc: the hub's pipe is watched through
// a duplicate, because a net.Socket closes its descriptor when destroyed and
// the hub closes its own in ws_hub_free.
// close(2) and socketpair(2) serve WebSocketServer#handleUpgrade (adopted
// sockets).
let dupCloexec = null;
let closeFd = () => {};
let socketPair = () => null;
try {
  const libc = koffi.load('libc.so.6');
  const fcntl = libc.func('int fcntl(int fd, int cmd, ...)');
  const F_DUPFD_CLOEXEC = 1030;
  dupCloexec = (fd) => fcntl(fd, F_DUPFD_CLOEXEC, 'int', 0);
  const close = libc.func('int close(int fd)');
  closeFd = (fd) => close(fd);
  const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)');
  const AF_UNIX = 1;
  const SOCK_STREAM_CLOEXEC = 1 | 0x80000;
  socketPair = () => {
    const sv = [0, 0];
    return socketpair(AF_UNIX, SOCK_STREAM_CLOEXEC, 0, sv) === 0 ? sv : null;
  };
} catch {
  dupCloexec = null;
}

module.exports = {
  koffi, lib, C, file: loaded.file, where: loaded.where, wsHeader, dupCloexec, closeFd, socketPair,
  libName, packageCandidates,
};
