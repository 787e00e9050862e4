'use strict';
// Watches a hub's file descriptor (ws_hub_fd) from Node's event loop.
//
// UvWatcher (used whenever it can be): a libuv poll handle on Node's own
// loop, made through koffi from the libuv symbols the node executable
// exports (koffi.load(null)). It accepts any pollable fd, in particular an
// inline hub's epoll fd, which net.Socket refuses (ERR_INVALID_FD_TYPE).
// libuv calls back on the main thread from its poll phase.
//
// SocketWatcher (fallback, for a Node without exported libuv symbols): a
// net.Socket on a duplicate of a threaded hub's pipe.
//
// Both offer ref(), unref(), pause(), resume() and close(), and call
// onReadable() whenever the fd is readable (level-triggered: again on the
// next loop turn while it stays readable).

const net = require('net');
const fs = require('fs');
const { koffi, dupCloexec } = require('./native');

const UV_POLL = 8; // uv_handle_type (uv.h): UV_UNKNOWN_HANDLE 0, UV_ASYNC, UV_CHECK, UV_FS_EVENT, UV_FS_POLL, UV_HANDLE, UV_IDLE, UV_NAMED_PIPE, UV_POLL
const UV_READABLE = 1;

// ------------------------------------------------------------ libuv binding

let uv; // undefined: not tried yet; null: unavailable; else the functions

function loadUv() {
  if (uv !== undefined) return uv;
  uv = null;
  if (process.env.LIBWS_NODE_WATCHER === 'socket') return null; // tests force the fallback
  try {
    const self = koffi.load(null);
    const PollCb = koffi.proto('void libws_uv_poll_cb(void *handle, int status, int events)');
    const CloseCb = koffi.proto('void libws_uv_close_cb(void *handle)');
    const f = {
      default_loop: self.func('void *uv_default_loop(void)'),
      handle_size: self.func('size_t uv_handle_size(int type)'),
      poll_init: self.func('int uv_poll_init(void *loop, void *handle, int fd)'),
      poll_start: self.func('int uv_poll_start(void *handle, int events, libws_uv_poll_cb *cb)'),
      poll_stop: self.func('int uv_poll_stop(void *handle)'),
      close: self.func('void uv_close(void *handle, libws_uv_close_cb *cb)'),
      ref: self.func('void uv_ref(void *handle)'),
      unref: self.func('void uv_unref(void *handle)'),
      strerror: self.func('const char *uv_strerror(int err)'),
      PollCbPtr: koffi.pointer(PollCb),
      closeCb: null,
      loop: null,
      size: 0,
    };
    f.loop = f.default_loop();
    f.size = Number(f.handle_size(UV_POLL));
    if (!f.loop || !(f.size > 0 && f.size < 4096)) return null;
    // One close callback for every handle of the process: it frees the
    // handle's memory and its poll callback once libuv is done with them.
    f.closeCb = koffi.register((handle) => {
      const key = koffi.address(handle);
      const w = closing.get(key);
      if (w === undefined) return;
      closing.delete(key);
      try {
        koffi.unregister(w.cb);
        koffi.free(w.handle);
      } catch {
        // nothing sensible to do from inside libuv
      }
      w.cb = null;
      w.handle = null;
    }, koffi.pointer(CloseCb));
    uv = f;
  } catch {
    uv = null;
  }
  return uv;
}

// Handles being closed (address -> watcher), kept referenced until libuv
// calls the close callback.
const closing = new Map();

// What MakeCallback does after a callback from libuv: run the nextTick queue
// and the microtasks. A koffi callback runs outside any callback scope, so
// without this, promise continuations and nextTicks of event listeners
// would wait for some unrelated callback.
const runTicks = typeof process._tickCallback === 'function' ? process._tickCallback.bind(process) : null;

// Errors thrown by listeners must not unwind into koffi and libuv (koffi
// would swallow them and keep the N-API exception pending): they are thrown
// again from a setImmediate, where they reach 'uncaughtException' as usual.
function throwLater(err) {
  setImmediate(() => {
    throw err;
  });
}

class UvWatcher {
  /**
   * @param {number} fd descriptor to watch; not closed by the watcher
   * @param {object} target target.onReadable() is called when fd is readable
   *   (on the main thread), then the nextTick queue and microtasks run, then
   *   target.afterTicks(); target.onWatchError(err) if the poll handle fails.
   */
  constructor(fd, target) {
    const u = loadUv();
    if (u === null) throw new Error('libws: libuv symbols are not available');
    this.u = u;
    this.target = target;
    this.active = false;
    this.closing = false;
    this.refd = true; // libuv handles start ref'd
    // Memory of its own (calloc, never moved), freed by the close callback.
    this.handle = koffi.alloc('uint64_t', Math.ceil(u.size / 8));
    let rc = u.poll_init(u.loop, this.handle, fd);
    if (rc !== 0) {
      koffi.free(this.handle);
      this.handle = null;
      throw new Error(`libws: uv_poll_init on the hub's fd failed: ${u.strerror(rc)}`);
    }
    this.cb = koffi.register((handle, status, events) => this.fire(status), u.PollCbPtr);
    rc = this.resume();
    if (rc !== 0) {
      this.close();
      throw new Error(`libws: uv_poll_start on the hub's fd failed: ${u.strerror(rc)}`);
    }
  }

  fire(status) {
    const target = this.target;
    try {
      if (status < 0) target.onWatchError(new Error(`libws: watching the hub's fd failed: ${this.u.strerror(status)}`));
      else target.onReadable();
    } catch (err) {
      throwLater(err);
    }
    if (runTicks !== null) {
      try {
        runTicks();
      } catch (err) {
        // A nextTick callback threw: the rest of the queue runs after the
        // next callback (at the latest the setImmediate that throws this).
        throwLater(err);
      }
    }
    try {
      target.afterTicks();
    } catch (err) {
      throwLater(err);
    }
  }

  ref() {
    if (this.handle !== null && !this.refd) {
      this.refd = true;
      this.u.ref(this.handle);
    }
  }

  unref() {
    if (this.handle !== null && this.refd) {
      this.refd = false;
      this.u.unref(this.handle);
    }
  }

  /** Stops calling onReadable until resume(). */
  pause() {
    if (this.handle !== null && this.active) {
      this.active = false;
      this.u.poll_stop(this.handle);
    }
  }

  resume() {
    if (this.handle === null || this.active) return 0;
    const rc = this.u.poll_start(this.handle, UV_READABLE, this.cb);
    if (rc === 0) this.active = true;
    return rc;
  }

  /** Stops watching at once (the fd may be closed right after); the memory
   * goes when libuv's close callback comes. */
  close() {
    if (this.handle === null || this.closing) return;
    this.closing = true;
    this.active = false;
    closing.set(koffi.address(this.handle), this);
    this.u.close(this.handle, this.u.closeCb); // stops the poll: epoll_ctl(DEL) now
  }
}

// ------------------------------------------------------------ net.Socket

class SocketWatcher {
  constructor(fd, target) {
    // Watch a duplicate: the socket closes its descriptor when destroyed,
    // ws_hub_free closes the hub's own.
    let watchFd = dupCloexec ? dupCloexec(fd) : -1;
    if (watchFd < 0) watchFd = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    this.socket = new net.Socket({
      fd: watchFd,
      readable: true,
      writable: false,
      onread: { buffer: Buffer.allocUnsafe(64), callback: () => { target.onReadable(); } },
    });
    this.socket.on('error', (err) => target.onWatchError(err));
  }

  ref() {
    if (this.socket !== null) this.socket.ref();
  }

  unref() {
    if (this.socket !== null) this.socket.unref();
  }

  // A threaded hub serves its sockets whether Node reads its pipe or not:
  // nothing to pause.
  pause() {}

  resume() {}

  close() {
    if (this.socket !== null) {
      this.socket.destroy();
      this.socket = null;
    }
  }
}

/** True when hubs can be inline (watched by a libuv poll handle). */
function uvAvailable() {
  return loadUv() !== null;
}

module.exports = { UvWatcher, SocketWatcher, uvAvailable, runTicks };
