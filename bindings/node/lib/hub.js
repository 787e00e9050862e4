'use strict';
// One libws event hub, seen from Node's event loop.
//
// Mode: inline (ws_hub_poll_raw runs the hub's epoll loop on Node's main
// thread, sends write to the sockets at once) whenever Node exports its
// libuv symbols; threaded (a thread of the hub serves the sockets) as a
// fallback. See watcher.js.
//
// Events: the hub's fd (inline: its epoll fd; threaded: its pipe) is watched
// from Node's event loop. When it becomes readable, drain() calls
// ws_hub_poll_raw into one preallocated Buffer and decodes the records in
// JavaScript: every event that is waiting reaches JavaScript in this one
// loop turn.
//
// Commands: sends, closes, terminates, pauses, resumes, topic records and
// answers to request events (accept, reject) are encoded as
// command records into one Buffer and handed over with a single
// ws_hub_send_raw per batch of events: right after the batch is dispatched
// and before the next poll, for what event handlers sent (the contract's
// ordering rule: that poll lets the hub answer the batch's closes, so replies
// must be in first), else from a setImmediate. Messages of
// REF_SEND bytes or more join the batch by reference, not by copy
// (WS_CMD_SEND_REF); of DIRECT_SEND bytes or more they skip the batch and go
// through ws_hub_send right away (after the batch, to keep the order).
//
// The watcher is ref'd only while something that should keep the process
// alive exists (a listening server, a connection not yet closed).

const { C, koffi } = require('./native');
const K = require('./constants');
const { libwsError, connectionError } = require('./errors');
const { UvWatcher, SocketWatcher, uvAvailable } = require('./watcher');

/** True when hubs are inline (see above). */
const INLINE = uvAvailable();
/** The option that picks the mode, for the option list of ws_hub_new. */
const MODE_OPTION = [K.OPT_HUB_THREADED, INLINE ? 0 : 1];

// Events per crossing: up to 4 MiB of records. A turn whose events do not fit
// goes through the hub's own queue (two copies more): 200 connections of
// 16 KiB messages make 3.2 MiB. Pages are only touched as far as used.
const POLL_SIZE = 4 << 20;
const CMD_SIZE = 64 * 1024;
const CMD_KEEP = 4 << 20; // a command buffer that grew past this is dropped after use
// Messages this big skip the batch: ws_hub_send copies them straight from the
// caller's Buffer, sparing a copy into (and growth of) the command buffer.
// Below it every send of a turn shares one crossing (measured: sending 16 KiB
// messages directly was no faster end to end).
const DIRECT_SEND = 256 * 1024;
// Messages from this size on join the batch by reference (WS_CMD_SEND_REF,
// the Buffer's address) rather than by copy; the Buffer is held until the
// flush. Smaller ones are copied: cheaper than finding an address (~0.1 us).
// Never smaller than V8's on-heap typed arrays (64 bytes), whose bytes move.
const REF_SEND = 4096;
// Received payloads are copied out of the poll buffer: small ones into
// Node's own Buffer pool (allocUnsafe), medium ones into a shared slab (a
// fresh ArrayBuffer per message costs ~1 us, more than the copy), big ones
// into a Buffer of their own.
const SLAB_SIZE = 256 * 1024;
const SLAB_MIN = 4 * 1024;
const SLAB_MAX = 64 * 1024;
const MAX_ROUNDS = 64; // polls per wake-up before yielding to other I/O

const { RECORD_HEADER } = K;

/** Bytes a record with a payload of len bytes takes: header, payload, padding to 8. */
function recordSize(len) {
  return RECORD_HEADER + len + ((8 - (len & 7)) & 7);
}


class Hub {
  /**
   * @param {bigint|null} opts ws_options_t handle for ws_hub_new (or null)
   * @param {object} owner receives onOpen(id, listener, peer, path, protocol, headers) for server
   *   connections, and onHubError(err) for errors not tied to a connection.
   */
  constructor(opts, owner) {
    const out = [null];
    const rc = C.hub_new(out, opts);
    if (rc !== 0) throw libwsError(rc, 'ws_hub_new');
    this.ptr = out[0];
    this.owner = owner;
    this.conns = new Map(); // connection id -> WebSocket
    this.refs = 0;
    this.epoch = 0; // flush counter
    // Loop turns in which something was sent (see WebSocket#bufferedAmount):
    // bytes sent during a turn count in full until it ends, as in ws.
    this.turn = 0;
    this.turnScheduled = false;
    this.turnBound = () => {
      this.turnScheduled = false;
      this.turn++;
    };

    this.buf = Buffer.allocUnsafe(POLL_SIZE);
    this.bufDonated = false; // payloads are handed out as views of buf (one-off big buffer)
    this.slab = null;
    this.slabPos = SLAB_SIZE;
    this.pos = 0;
    this.end = 0;
    this.dispatching = false;
    this.needsAck = false; // the last batch had close or error events (see drain)

    this.cmd = Buffer.allocUnsafe(CMD_SIZE);
    this.cmdLen = 0;
    // By-reference sends of the batch: [Buffer, its length, record offset]...
    this.held = [];
    // Address of the last ArrayBuffer a reference was taken in during this
    // batch (received payloads share slabs, so echoes find it here); dropped
    // at the flush so as not to keep the ArrayBuffer alive.
    this.lastAB = null;
    this.lastAddr = 0;
    // Connections whose sends of this batch have callbacks (see flush).
    this.cbConns = new Set();
    this.flushScheduled = false;
    this.flushBound = () => {
      this.flushScheduled = false;
      this.flush();
    };
    // What a throwing listener left: its error first, then the rest of the
    // batch, each from a setImmediate (see onReadable).
    this.thrown = null;
    this.resumeScheduled = false;
    this.resumeBound = () => {
      this.resumeScheduled = false;
      const err = this.thrown;
      if (err !== null) {
        this.thrown = null;
        this.scheduleResume();
        throw err;
      }
      this.drain();
    };

    const fd = C.hub_fd(this.ptr);
    if (fd < 0) {
      C.hub_free(this.ptr);
      throw libwsError(fd, 'ws_hub_fd');
    }
    // See drain(): true when the watcher consumes the hub's wake-up byte.
    this.untilEmpty = !INLINE;
    try {
      this.watcher = INLINE ? new UvWatcher(fd, this) : new SocketWatcher(fd, this);
    } catch (err) {
      C.hub_free(this.ptr);
      throw err;
    }
    this.watcher.unref();
  }

  add(id, ws) {
    this.conns.set(id, ws);
    this.ref();
  }

  ref() {
    if (this.refs++ === 0 && this.watcher !== null) this.watcher.ref();
  }

  unref() {
    if (--this.refs === 0 && this.watcher !== null) this.watcher.unref();
  }

  // ------------------------------------------------------------------ events

  // Watcher callbacks. On the libuv path they run outside any JavaScript
  // callback scope: nothing may throw out of them (the watcher catches what
  // does).
  onReadable() {
    try {
      this.drain();
    } catch (err) {
      // A listener threw. Surface its error as an uncaught exception from a
      // setImmediate, as if thrown there, then dispatch the rest.
      if (this.thrown === null) {
        this.thrown = err;
        this.scheduleResume();
      } else {
        throw err;
      }
    }
  }

  afterTicks() {
    // Sends made by nextTick callbacks and promise continuations of the
    // listeners leave now rather than from the setImmediate.
    if (this.cmdLen > 0) this.flush();
  }

  onWatchError(err) {
    this.onHubError(err);
  }

  scheduleResume() {
    if (!this.resumeScheduled) {
      this.resumeScheduled = true;
      setImmediate(this.resumeBound);
    }
  }

  // The ordering rule of the host contract (docs/hub-contract.md): every
  // reply to a batch is handed to the hub (flush) before the next poll,
  // since that poll acknowledges the batch's close and error events and the
  // hub then sends its close frame; replies flushed after it would be lost.
  drain() {
    if (this.ptr === null) return;
    if (this.pos < this.end) {
      this.dispatch(); // what a throwing listener left
      if (this.bufDonated) {
        this.buf = Buffer.allocUnsafe(POLL_SIZE);
        this.bufDonated = false;
      }
    }
    // Replies of a batch whose dispatch a throwing listener cut short (or
    // that a listener sent from elsewhere) are still queued: they leave
    // before the poll that lets the hub answer that batch's closes.
    this.flush();
    for (let round = 0; round < MAX_ROUNDS && this.ptr !== null; round++) {
      const n = C.hub_poll_raw(this.ptr, this.buf, this.buf.length, 0);
      if (n > 0) {
        this.pos = 0;
        this.end = n;
        this.needsAck = false;
        this.dispatch();
        this.flush();
        if (this.bufDonated) {
          this.buf = Buffer.allocUnsafe(POLL_SIZE);
          this.bufDonated = false;
        }
        // Inline, poll again only if the buffer may have been too small for
        // what was waiting, or to acknowledge close and error events (the
        // next poll does that; the hub's close frame waits for it): the watched epoll fd stays readable while anything
        // waits. The net.Socket on a threaded hub's pipe reads the hub's one
        // wake-up byte, and the hub writes no other while it believes that
        // one is there: poll until the queue is empty (the poll that finds it
        // empty resets that), or nothing would wake us for what is left (a
        // short poll does not mean an empty queue: the hub hands its queue
        // over in two halves).
        if (!this.untilEmpty && !this.needsAck && n < this.buf.length - 65536) break;
      } else if (n === 0) {
        return this.flush();
      } else if (n === K.WS_ENOSPACE) {
        // The next record alone is bigger than the buffer; its header is in
        // buf, so its size is known. The big buffer is used once and its
        // payloads are handed out without copying.
        const need = recordSize(this.buf.readUInt32LE(4));
        if (need <= this.buf.length) {
          this.onHubError(libwsError(n, `ws_hub_poll_raw: a record of ${need} bytes does not fit ${this.buf.length}`));
          break;
        }
        this.buf = Buffer.allocUnsafe(need);
        this.bufDonated = true;
      } else if (n === K.WS_ECLOSED) {
        break; // the hub shut down and everything was delivered
      } else {
        this.onHubError(libwsError(n, 'ws_hub_poll_raw'));
        break;
      }
      if (round === MAX_ROUNDS - 1 && this.untilEmpty) this.scheduleResume(); // yield to other I/O, then go on
    }
    this.flush();
  }

  onHubError(err) {
    if (this.owner && this.owner.onHubError) this.owner.onHubError(err);
  }

  payload(p, len) {
    if (this.bufDonated) return this.buf.subarray(p, p + len);
    let b;
    if (len >= SLAB_MIN && len <= SLAB_MAX) {
      if (this.slabPos + len > SLAB_SIZE) {
        this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
        this.slabPos = 0;
      }
      const at = this.slabPos;
      this.slabPos = (at + len + 7) & ~7;
      b = this.slab.subarray(at, at + len);
    } else {
      b = Buffer.allocUnsafe(len);
    }
    this.buf.copy(b, 0, p, p + len);
    return b;
  }

  dispatch() {
    const buf = this.buf;
    this.dispatching = true;
    try {
      while (this.pos < this.end) {
        const off = this.pos;
        const kind = buf[off];
        const len = buf.readUInt32LE(off + 4);
        const id = buf.readUInt32LE(off + 8) + buf.readUInt32LE(off + 12) * 4294967296;
        const p = off + RECORD_HEADER;
        if (len > this.end - p) {
          // A record running past what the hub handed over: never read
          // what follows as records (they would be forged events).
          this.pos = this.end;
          this.onHubError(libwsError(K.WS_EINTERNAL, `ws_hub_poll_raw: a record of ${len} bytes at ${off} runs past the ${this.end} bytes handed over`));
          break;
        }
        this.pos = p + len + ((8 - (len & 7)) & 7);
        if (kind === K.EVENT_MESSAGE) {
          const ws = this.conns.get(id);
          if (ws !== undefined) ws._onMessage(this.payload(p, len), buf[off + 1] === K.OP_BINARY);
          continue;
        }
        switch (kind) {
          case K.EVENT_OPEN:
            this.onOpen(id, buf.readUInt32LE(off + 16), p, len);
            break;
          case K.EVENT_REQUEST:
            this.onRequest(id, buf.readUInt32LE(off + 16), p, len);
            break;
          case K.EVENT_PING: {
            const ws = this.conns.get(id);
            if (ws !== undefined) ws._onPing(this.payload(p, len));
            break;
          }
          case K.EVENT_PONG: {
            const ws = this.conns.get(id);
            if (ws !== undefined) ws._onPong(this.payload(p, len), buf.readUInt32LE(off + 16));
            break;
          }
          case K.EVENT_CLOSE: {
            this.needsAck = true;
            const ws = this.conns.get(id);
            if (ws !== undefined) {
              this.conns.delete(id);
              this.unref();
              ws._onClose(buf[off + 2] | (buf[off + 3] << 8), this.payload(p, len));
            } else if (this.owner && this.owner.onGone) {
              this.owner.onGone(id); // a request rejected or never opened
            }
            break;
          }
          case K.EVENT_ERROR: {
            this.needsAck = true;
            const code = buf[off + 2] | (buf[off + 3] << 8);
            const err = connectionError(code, buf.readInt32LE(off + 20), buf.toString('utf8', p, p + len));
            const ws = this.conns.get(id);
            if (ws !== undefined) ws._onError(code, err);
            else if (id === 0) this.onHubError(err);
            break;
          }
          case K.EVENT_BACKPRESSURE: {
            const ws = this.conns.get(id);
            if (ws !== undefined) ws._onBackpressure(buf.readUInt32LE(off + 16));
            break;
          }
          case K.EVENT_DRAIN: {
            const ws = this.conns.get(id);
            if (ws !== undefined) ws._onDrain();
            break;
          }
          case K.EVENT_BROKER:
            if (this.owner && this.owner.onBroker) {
              this.owner.onBroker(buf[off + 2] | (buf[off + 3] << 8), buf.toString('utf8', p, p + len));
            }
            break;
          default:
            break; // unknown kinds are skipped: newer libws versions may add some
        }
      }
    } finally {
      this.dispatching = false;
      // A listener threw: the exception goes on up, the remaining records are
      // dispatched on the next turn.
      if (this.pos < this.end) this.scheduleResume();
    }
  }

  // The fields of an open or request event's payload (docs/hub-contract.md):
  // each a u32 length, the bytes and a NUL; fields after the first `count`
  // are a later version's. The lengths alone delimit the fields: no byte a
  // client sent can move one into the next. Headers (field 3) are latin1 as
  // HTTP/1.1 has them (Node's http does the same). null: malformed.
  fields(p, len, count) {
    const buf = this.buf;
    const end = p + len;
    const fields = new Array(count);
    let at = p;
    for (let i = 0; i < count; i++) {
      if (at + 4 > end) return null;
      const n = buf.readUInt32LE(at);
      if (n + 5 > end - at || buf[at + 4 + n] !== 0) return null;
      fields[i] = buf.toString(i === 3 ? 'latin1' : 'utf8', at + 4, at + 4 + n);
      at += 5 + n;
    }
    return fields;
  }

  onOpen(id, listener, p, len) {
    // peer, request target, subprotocol, request headers.
    const fields = this.fields(p, len, 4);
    if (fields === null) return this.badOpen(id);
    const ws = listener === 0 ? this.conns.get(id) : undefined;
    if (ws !== undefined) ws._onOpen(fields[0], fields[1], fields[2], fields[3]);
    else if (this.owner && this.owner.onOpen) this.owner.onOpen(id, listener, fields[0], fields[1], fields[2], fields[3]);
    else this.terminate(id);
  }

  onRequest(id, listener, p, len) {
    // peer, target, offered subprotocols, headers, method, offered extensions.
    const fields = this.fields(p, len, 6);
    if (fields === null) return this.badOpen(id);
    if (this.owner && this.owner.onRequest) this.owner.onRequest(id, listener, fields);
    else this.reject(id, 500, '', null);
  }

  // An open event that does not decode (a libws older or newer than this
  // binding): the connection is dropped, never guessed at.
  badOpen(id) {
    this.terminate(id);
    const ws = this.conns.get(id);
    const err = libwsError(K.WS_EINTERNAL, 'malformed open event (libws.so and the binding differ in version?)');
    if (ws !== undefined) ws._onError(0, err);
    else this.onHubError(err);
  }

  // ---------------------------------------------------------------- commands

  schedule() {
    if (!this.flushScheduled && !this.dispatching) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  reserve(n) {
    const need = this.cmdLen + n;
    if (need <= this.cmd.length) return;
    let size = this.cmd.length * 2;
    while (size < need) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.cmd.copy(bigger, 0, 0, this.cmdLen);
    this.cmd = bigger;
  }

  // Writes a record header at cmdLen (reserve first) and pads the payload.
  record(kind, opcode, code, lo, hi, len) {
    const c = this.cmd;
    const o = this.cmdLen;
    c[o] = kind;
    c[o + 1] = opcode;
    c[o + 2] = code & 0xff;
    c[o + 3] = code >>> 8;
    c[o + 4] = len & 0xff;
    c[o + 5] = (len >>> 8) & 0xff;
    c[o + 6] = (len >>> 16) & 0xff;
    c[o + 7] = len >>> 24;
    c[o + 8] = lo & 0xff;
    c[o + 9] = (lo >>> 8) & 0xff;
    c[o + 10] = (lo >>> 16) & 0xff;
    c[o + 11] = lo >>> 24;
    c[o + 12] = hi & 0xff;
    c[o + 13] = (hi >>> 8) & 0xff;
    c[o + 14] = (hi >>> 16) & 0xff;
    c[o + 15] = hi >>> 24;
    for (let i = 16; i < 24; i++) c[o + i] = 0;
    let end = o + RECORD_HEADER + len;
    while ((end & 7) !== 0) c[end++] = 0;
    this.cmdLen = end;
    if (!this.flushScheduled && !this.dispatching) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  addCallback(ws, cb) {
    ws._sendCbs.push(cb);
    this.cbConns.add(ws);
  }

  markTurn() {
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(this.turnBound);
    }
  }

  /** Unsent bytes of connection id in the hub (0 when gone). A Go call. */
  bufferedAmount(id) {
    if (this.ptr === null) return 0;
    const n = Number(C.hub_buffered_amount(this.ptr, id));
    return n > 0 ? n : 0;
  }

  // data: a Uint8Array. Returns the bytes queued.
  sendBytes(ws, opcode, data, cb) {
    const len = data.length;
    if (len >= DIRECT_SEND) {
      this.flush();
      const rc = this.ptr === null ? K.WS_ECLOSED : C.hub_send(this.ptr, ws._id, opcode, data, len);
      if (cb) ws._sendCbs.push(cb);
      ws._flushed(rc < 0 ? libwsError(rc, 'send') : undefined);
      return len;
    }
    if (len >= REF_SEND) {
      this.reserve(RECORD_HEADER + 16);
      const ab = data.buffer;
      if (ab !== this.lastAB) {
        this.lastAddr = Number(koffi.address(ab));
        this.lastAB = ab;
      }
      const addr = this.lastAddr + data.byteOffset;
      const c = this.cmd;
      const p = this.cmdLen + RECORD_HEADER;
      this.held.push(data, len, this.cmdLen);
      c.writeUInt32LE(addr % 4294967296, p);
      c.writeUInt32LE(Math.floor(addr / 4294967296), p + 4);
      c.writeUInt32LE(len, p + 8);
      c.writeUInt32LE(0, p + 12);
      this.record(K.CMD_SEND_REF, opcode, 0, ws._idLo, ws._idHi, 16);
    } else {
      this.reserve(RECORD_HEADER + len + 8);
      if (len > 0) this.cmd.set(data, this.cmdLen + RECORD_HEADER);
      this.record(K.CMD_SEND, opcode, 0, ws._idLo, ws._idHi, len);
    }
    if (cb) this.addCallback(ws, cb);
    return len;
  }

  // A Buffer sent by reference lost its bytes before the flush (its
  // ArrayBuffer was transferred): its record becomes a close (1011) of
  // that connection, as the message can no longer be sent.
  checkHeld() {
    const held = this.held;
    for (let i = 0; i < held.length; i += 3) {
      if (held[i].byteLength === held[i + 1]) continue;
      const o = held[i + 2];
      const c = this.cmd;
      const reason = 'buffer detached'; // fits the 16 bytes of the reference
      c[o] = K.CMD_CLOSE;
      c[o + 1] = 0;
      c.writeUInt16LE(1011, o + 2);
      c.writeUInt32LE(reason.length, o + 4);
      c.fill(0, o + RECORD_HEADER, o + RECORD_HEADER + 16);
      c.write(reason, o + RECORD_HEADER, 'latin1');
    }
  }

  sendString(ws, opcode, str, cb) {
    const max = str.length * 3;
    if (max >= DIRECT_SEND) return this.sendBytes(ws, opcode, Buffer.from(str, 'utf8'), cb);
    this.reserve(RECORD_HEADER + max + 8);
    const len = max === 0 ? 0 : this.cmd.utf8Write(str, this.cmdLen + RECORD_HEADER, max);
    this.record(K.CMD_SEND, opcode, 0, ws._idLo, ws._idHi, len);
    if (cb) this.addCallback(ws, cb);
    return len;
  }

  sendClose(ws, code, reason) {
    const len = reason.length;
    this.reserve(RECORD_HEADER + len + 8);
    if (len > 0) this.cmd.set(reason, this.cmdLen + RECORD_HEADER);
    this.record(K.CMD_CLOSE, 0, code, ws._idLo, ws._idHi, len);
  }

  // Stops (or restarts) reading ws's socket: WS_CMD_PAUSE / WS_CMD_RESUME.
  sendPause(ws, paused) {
    this.reserve(RECORD_HEADER);
    this.record(paused ? K.CMD_PAUSE : K.CMD_RESUME, 0, 0, ws._idLo, ws._idHi, 0);
  }

  // Topics (docs/hub-contract.md "Topics"): records in the batch, no
  // crossing of their own. topic: a Buffer of 1..TOPIC_MAX_LEN bytes.
  sendTopic(kind, ws, topic) {
    const len = topic.length;
    this.reserve(RECORD_HEADER + len + 8);
    this.cmd.set(topic, this.cmdLen + RECORD_HEADER);
    this.record(kind, 0, 0, ws._idLo, ws._idHi, len);
  }

  // A publish to topic's subscribers but exclude (a connection id, or 0).
  // data: a string or a Uint8Array.
  publish(topic, opcode, data, exclude) {
    const tlen = topic.length;
    const max = typeof data === 'string' ? data.length * 3 : data.length;
    if (2 + tlen + max > K.RECORD_MAX_LEN) throw new RangeError('libws: publish: message too big for one record');
    this.reserve(RECORD_HEADER + 2 + tlen + max + 8);
    const p = this.cmdLen + RECORD_HEADER;
    const c = this.cmd;
    c[p] = tlen & 0xff;
    c[p + 1] = tlen >>> 8;
    c.set(topic, p + 2);
    let n;
    if (typeof data === 'string') {
      n = max === 0 ? 0 : c.utf8Write(data, p + 2 + tlen, max);
    } else {
      n = data.length;
      if (n > 0) c.set(data, p + 2 + tlen);
    }
    this.record(K.CMD_PUBLISH, opcode, 0, exclude >>> 0, Math.floor(exclude / 4294967296), 2 + tlen + n);
  }

  // Fields of WS_CMD_ACCEPT / WS_CMD_REJECT: as those of events. Returns the
  // payload length written at cmdLen + RECORD_HEADER (reserve first).
  writeFields(list) {
    let at = this.cmdLen + RECORD_HEADER;
    const c = this.cmd;
    for (const f of list) {
      const n = f.length;
      c.writeUInt32LE(n, at);
      if (n > 0) c.set(f, at + 4);
      c[at + 4 + n] = 0;
      at += 5 + n;
    }
    return at - this.cmdLen - RECORD_HEADER;
  }

  // Answers a request event: the 101 with protocol (null: the listener's
  // choice) and extra header lines ("Name: value\r\n"...).
  accept(id, protocol, headers) {
    const f = [Buffer.from(protocol || '', 'utf8'), Buffer.from(headers || '', 'latin1')];
    this.reserve(RECORD_HEADER + f[0].length + f[1].length + 16);
    const len = this.writeFields(f);
    this.record(K.CMD_ACCEPT, protocol === null ? 0 : 1, 0, id >>> 0, Math.floor(id / 4294967296), len);
  }

  // Answers a request event with an HTTP response (status 200..599).
  reject(id, status, headers, body) {
    const f = [Buffer.from(headers || '', 'latin1'), body ? Buffer.from(body) : Buffer.alloc(0)];
    this.reserve(RECORD_HEADER + f[0].length + f[1].length + 16);
    const len = this.writeFields(f);
    this.record(K.CMD_REJECT, 0, status, id >>> 0, Math.floor(id / 4294967296), len);
  }

  sendTerminate(ws) {
    this.reserve(RECORD_HEADER);
    this.record(K.CMD_TERMINATE, 0, 0, ws._idLo, ws._idHi, 0);
  }

  terminate(id) {
    this.reserve(RECORD_HEADER);
    this.record(K.CMD_TERMINATE, 0, 0, id >>> 0, Math.floor(id / 4294967296), 0);
  }

  flush() {
    if (this.cmdLen === 0) return;
    const len = this.cmdLen;
    this.cmdLen = 0;
    this.epoch++;
    if (this.held.length > 0) this.checkHeld();
    const rc = this.ptr === null ? K.WS_ECLOSED : C.hub_send_raw(this.ptr, this.cmd, len);
    if (this.held.length > 0) {
      this.held.length = 0;
      this.lastAB = null;
    }
    if (this.cmd.length > CMD_KEEP) this.cmd = Buffer.allocUnsafe(CMD_SIZE);
    if (this.cbConns.size > 0) {
      const err = rc < 0 ? libwsError(rc, 'send') : undefined;
      for (const ws of this.cbConns) ws._flushed(err);
      this.cbConns.clear();
    }
    if (rc < 0 && rc !== K.WS_ECLOSED) {
      // Only a bug in the binding (a malformed record) or ENOMEM gets here.
      this.onHubError(libwsError(rc, 'ws_hub_send_raw'));
    }
  }

  // ---------------------------------------------------------------- lifetime

  /** ws_hub_shutdown on a worker thread (it blocks up to timeoutMs), then free. */
  shutdown(timeoutMs, done) {
    if (this.ptr === null) {
      process.nextTick(done);
      return;
    }
    this.flush();
    const ptr = this.ptr;
    this.ref(); // until the hub is freed
    // An inline hub is driven to its end by ws_hub_shutdown on the worker
    // thread; polling it meanwhile from here would wait for that thread.
    // Everything it delivers is drained when it is done.
    this.watcher.pause();
    C.hub_shutdown.async(ptr, timeoutMs, (err) => {
      if (err) {
        // The worker call itself failed: fall back to a synchronous shutdown
        // without waiting for close handshakes.
        C.hub_shutdown(ptr, 0);
      }
      try {
        this.drain(); // every close event is queued by now
      } finally {
        this.destroy();
        done();
      }
    });
  }

  destroy() {
    if (this.ptr === null) return;
    const ptr = this.ptr;
    // Connections whose close event never came (should not happen: shutdown
    // queues them all) are closed as dropped.
    const left = [...this.conns.values()];
    this.conns.clear();
    this.ptr = null;
    this.cmdLen = 0;
    // Stop watching before the fd goes away with the hub.
    this.watcher.close();
    this.watcher = null;
    C.hub_free(ptr);
    for (const ws of left) ws._onClose(1006, Buffer.alloc(0));
  }
}

module.exports = { Hub, recordSize, POLL_SIZE, DIRECT_SEND, INLINE, MODE_OPTION };
