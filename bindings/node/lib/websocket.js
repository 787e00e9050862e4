'use strict';
// WebSocket: one connection, client or server side, with the API of the ws
// package (ws 8). Its I/O happens in libws's event hub (see hub.js).

const EventEmitter = require('events');
const K = require('./constants');
const { libwsError } = require('./errors');
const { optionsHandle, deflateSpec } = require('./options');
const { pemFile } = require('./pem');
const { C } = require('./native');

function callAll(cbs, err) {
  for (let i = 0; i < cbs.length; i++) cbs[i](err);
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const readyStates = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];

const BINARY_TYPES = ['nodebuffer', 'arraybuffer', 'fragments'];
const EMPTY = Buffer.alloc(0);
const kServerSide = Symbol('libws server side');
const subprotocolRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

// The hub shared by every client connection of the process, made on first use.
let clientHub = null;
function getClientHub() {
  if (clientHub === null) {
    const { Hub, MODE_OPTION } = require('./hub');
    // Hub defaults for clients: ws's maxPayload (100 MiB); the hub's own
    // send buffer limits (64 MiB per connection, see ws.h).
    const opts = optionsHandle([
      [K.OPT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PAYLOAD],
      // Keepalive on by default, as for servers (see WebSocketServer).
      [K.OPT_HUB_PING_INTERVAL_MS, 20000],
      [K.OPT_HUB_PONG_TIMEOUT_MS, 20000],
      MODE_OPTION, // see WebSocketServer
    ]);
    clientHub = new Hub(opts, {
      onHubError(err) {
        process.emitWarning(`libws client hub: ${err.message}`);
      },
    });
  }
  return clientHub;
}

const DEFAULT_MAX_PAYLOAD = 100 * 1024 * 1024; // ws's default
const NETWORK_FAILURES = new Set([K.WS_EIO, K.WS_ETLS, K.WS_ETIMEDOUT]); // see _onError

// ws's maxPayload -> WS_OPT_MAX_MESSAGE_SIZE. ws reads 0 as "no limit"; the
// hub cannot deliver a message longer than one event record, so "no limit"
// (0, negative, or anything larger) is that bound, WS_RECORD_MAX_LEN
// (2 GiB - 64 bytes). Non-numbers get ws's default.
function maxMessageSize(maxPayload) {
  if (maxPayload === undefined || maxPayload === null) return DEFAULT_MAX_PAYLOAD;
  const n = Math.floor(Number(maxPayload));
  if (Number.isNaN(n)) throw new TypeError(`maxPayload must be a number, got ${maxPayload}`);
  return n > 0 && n < K.RECORD_MAX_LEN ? n : K.RECORD_MAX_LEN;
}

function isValidStatusCode(code) {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

function toBuffer(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  // A message received as fragments (RawData's Buffer[]) is sent back whole.
  if (Array.isArray(data) && data.length > 0 && data.every((b) => b instanceof Uint8Array)) return Buffer.concat(data);
  if (typeof Blob !== 'undefined' && data instanceof Blob) {
    throw new TypeError('libws: Blob data is not supported: send Buffer.from(await blob.arrayBuffer())');
  }
  return Buffer.from(data);
}

// A topic name as the hub takes it: 1..TOPIC_MAX_LEN bytes (strings as UTF-8).
function topicBytes(topic) {
  const b = typeof topic === 'string' ? Buffer.from(topic, 'utf8') : topic instanceof Uint8Array ? topic : null;
  if (b === null) throw new TypeError('libws: a topic is a string or a Buffer');
  if (b.length === 0 || b.length > K.TOPIC_MAX_LEN) {
    throw new RangeError(`libws: a topic is 1 to ${K.TOPIC_MAX_LEN} bytes, got ${b.length}`);
  }
  return b;
}

function toArrayBuffer(buf) {
  if (buf.length === buf.buffer.byteLength) return buf.buffer;
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
}

function notOpenError(ws) {
  return new Error(`WebSocket is not open: readyState ${ws.readyState} (${readyStates[ws.readyState]})`);
}

function sendAfterClose(ws, data, cb) {
  if (data) ws._afterClose += typeof data === 'string' ? Buffer.byteLength(data) : toBuffer(data).length;
  if (cb) process.nextTick(cb, notOpenError(ws));
}

function parsePeer(peer) {
  // "1.2.3.4:5678" or "[::1]:5678"
  const i = peer.lastIndexOf(':');
  if (i < 0) return { address: peer, port: undefined, family: undefined };
  let address = peer.slice(0, i);
  const port = Number(peer.slice(i + 1));
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

// "Name: value\r\n" lines -> Node-style headers (lowercase names, repeated
// values joined with ', ', set-cookie as an array) and rawHeaders. Lines
// end at "\r\n" only: a bare LF inside a value stays in that value, so a
// client cannot smuggle in a header line of its own.
function parseHeaders(text) {
  const headers = Object.create(null);
  const raw = [];
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    raw.push(name, value);
    const key = name.toLowerCase();
    if (key === 'set-cookie') {
      (headers[key] || (headers[key] = [])).push(value);
    } else if (headers[key] === undefined) {
      headers[key] = value;
    } else {
      headers[key] += ', ' + value;
    }
  }
  return { headers, rawHeaders: raw };
}

// ------------------------------------------------------------ event target
// The browser-style interface ws offers besides EventEmitter.

class Event {
  constructor(type, target) {
    this.type = type;
    this.target = target;
  }
}
class MessageEvent extends Event {
  constructor(target, data) {
    super('message', target);
    this.data = data;
  }
}
class CloseEvent extends Event {
  constructor(target, code, reason) {
    super('close', target);
    this.code = code;
    this.reason = reason;
    this.wasClean = code !== 1006;
  }
}
class ErrorEvent extends Event {
  constructor(target, error) {
    super('error', target);
    this.error = error;
    this.message = error && error.message;
  }
}

const kListener = Symbol('libws listener');
const kForOnEventAttribute = Symbol('libws on-event attribute');

function wrapListener(ws, type, handler) {
  let wrapped;
  switch (type) {
    case 'message':
      wrapped = (data, isBinary) => call(handler, ws, new MessageEvent(ws, isBinary ? data : data.toString()));
      break;
    case 'close':
      wrapped = (code, reason) => call(handler, ws, new CloseEvent(ws, code, reason.toString()));
      break;
    case 'error':
      wrapped = (error) => call(handler, ws, new ErrorEvent(ws, error));
      break;
    default:
      wrapped = () => call(handler, ws, new Event(type, ws));
  }
  wrapped[kListener] = handler;
  return wrapped;
}

function call(handler, target, event) {
  if (typeof handler === 'object' && handler !== null && typeof handler.handleEvent === 'function') {
    handler.handleEvent.call(handler, event);
  } else {
    handler.call(target, event);
  }
}

// -------------------------------------------------------------- WebSocket

class WebSocket extends EventEmitter {
  /**
   * @param {string|URL} address ws://, wss://, http:// or https:// URL
   * @param {string|string[]} [protocols] subprotocols to offer
   * @param {object} [options]
   */
  constructor(address, protocols, options) {
    super();
    this._hub = null;
    this._id = 0;
    this._idLo = 0;
    this._idHi = 0;
    this._readyState = CONNECTING;
    this._binaryType = BINARY_TYPES[0];
    this._protocol = '';
    this._extensions = '';
    this._url = undefined;
    this._isServer = false;
    this._turnBytes = 0; // bytes sent during loop turn _turn (see bufferedAmount)
    this._turn = -1;
    this._maybeBuffered = false; // the hub may hold unsent bytes of ours
    this._sendCbs = []; // callbacks of sends not yet handed to the hub
    this._writeCbs = []; // ... handed over, waiting for the hub to write them
    this._writeCheck = null;
    this._hubBuffered = 0;
    this._paused = false; // pause() (isPaused)
    this._pressed = false; // the hub's send buffer is over its high-water mark
    this._readPaused = false; // what the hub was last told (WS_CMD_PAUSE / RESUME)
    this._afterClose = 0;
    this._errCode = 0; // close code libws sent because the peer broke the protocol
    this._frag = null; // a message being sent in fragments (fin: false)
    this._silent = false; // a connection the server refused: nobody listens
    this._aborted = false;
    this._server = null;
    this._peer = null;
    this._closeCode = 1006;
    this._closeReason = EMPTY;
    this._upgradeHeaders = null;
    this._latency = 0;
    this._topics = null; // topics subscribed to (names; the hub has the truth)

    if (address === kServerSide) return;
    if (protocols === undefined) {
      protocols = [];
    } else if (!Array.isArray(protocols)) {
      if (typeof protocols === 'object' && protocols !== null) {
        options = protocols;
        protocols = [];
      } else {
        protocols = [protocols];
      }
    }
    initAsClient(this, address, protocols, options);
  }

  get binaryType() {
    return this._binaryType;
  }

  set binaryType(type) {
    if (!BINARY_TYPES.includes(type)) return;
    this._binaryType = type;
  }

  /** Bytes accepted by send() and not yet written to the socket, as in ws:
   * what was sent during this loop turn counts in full (ws's socket buffer
   * holds it until the turn ends), later what the hub still holds (asked of
   * the hub while it may hold any), plus bytes sent after the close. */
  get bufferedAmount() {
    const hub = this._hub;
    const turn = hub !== null && this._turn === hub.turn ? this._turnBytes : 0;
    let held = 0;
    if (this._maybeBuffered && hub !== null) {
      held = hub.bufferedAmount(this._id);
      if (held === 0 && turn === 0) this._maybeBuffered = false;
    }
    return Math.max(turn, held) + this._afterClose;
  }

  /** libws: the round trip of the last keepalive ping, in ms (0: none yet). */
  get latency() {
    return this._latency;
  }

  get extensions() {
    return this._extensions;
  }

  get isPaused() {
    return this._paused;
  }

  get protocol() {
    return this._protocol;
  }

  get readyState() {
    return this._readyState;
  }

  get url() {
    return this._url;
  }

  /** Not part of ws: the peer's "ip:port" as libws reported it. */
  get remoteAddress() {
    return this._peer ? this._peer.address : undefined;
  }

  // ------------------------------------------------------------ sending

  send(data, options, cb) {
    if (this._readyState === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    if (typeof data === 'number') data = data.toString();
    if (this._readyState !== OPEN) {
      sendAfterClose(this, data, cb);
      return;
    }
    let binary = typeof data !== 'string';
    let fin = true;
    if (options !== undefined && options !== null) {
      if (options.binary !== undefined) binary = !!options.binary;
      if (options.fin !== undefined) fin = !!options.fin;
    }
    const opcode = binary ? K.OP_BINARY : K.OP_TEXT;
    if (!fin || this._frag !== null) {
      this._sendFragment(data, opcode, fin, cb);
      return;
    }
    const hub = this._hub;
    const n = typeof data === 'string' ? hub.sendString(this, opcode, data, cb) : hub.sendBytes(this, opcode, toBuffer(data), cb);
    this._account(n);
  }

  _account(n) {
    const hub = this._hub;
    this._maybeBuffered = true;
    hub.markTurn();
    if (this._turn !== hub.turn) {
      this._turn = hub.turn;
      this._turnBytes = n;
    } else {
      this._turnBytes += n;
    }
  }

  // The sends with callbacks were handed to the hub (err: refused): their
  // callbacks run once the hub holds none of our bytes (ws calls back once
  // the data is written), checked after this turn, on drain events, and
  // every few ms while below the high-water mark (no event will come).
  _flushed(err) {
    const cbs = this._sendCbs;
    if (cbs.length === 0) return;
    this._sendCbs = [];
    if (err !== undefined) {
      process.nextTick(callAll, cbs, err);
      return;
    }
    for (let i = 0; i < cbs.length; i++) this._writeCbs.push(cbs[i]);
    this._scheduleWriteCheck(0);
  }

  _scheduleWriteCheck(ms) {
    if (this._writeCheck !== null || this._writeCbs.length === 0) return;
    const run = () => {
      this._writeCheck = null;
      this._checkWritten();
    };
    this._writeCheck = ms === 0 ? setImmediate(run) : setTimeout(run, ms);
  }

  _checkWritten() {
    if (this._writeCbs.length === 0 || this._hub === null) return;
    if (this._readyState === CLOSED) return;
    const held = this._hub.bufferedAmount(this._id);
    if (held === 0) {
      const cbs = this._writeCbs;
      this._writeCbs = [];
      callAll(cbs, undefined);
    } else if (!this._pressed || !this._isServer) {
      this._scheduleWriteCheck(5);
    } // else the drain event checks again
  }

  // The hub sends whole messages only, so fragments are gathered here and
  // leave as one message with the first fragment's type when fin comes.
  _sendFragment(data, opcode, fin, cb) {
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(toBuffer(data));
    if (this._frag === null) this._frag = { opcode, parts: [], size: 0 };
    this._frag.parts.push(chunk);
    this._frag.size += chunk.length;
    if (!fin) {
      if (cb) process.nextTick(cb);
      return;
    }
    const frag = this._frag;
    this._frag = null;
    const msg = frag.parts.length === 1 ? frag.parts[0] : Buffer.concat(frag.parts, frag.size);
    this._account(this._hub.sendBytes(this, frag.opcode, msg, cb));
  }

  // ------------------------------------------------------------ topics
  // uWebSockets.js' names. The hub delivers publishes to subscribers; a
  // connection leaves its topics when it closes.

  /** Subscribes this connection to topic. Returns false when it is not open. */
  subscribe(topic) {
    const t = topicBytes(topic);
    if (this._readyState !== OPEN) return false;
    if (this._topics === null) this._topics = new Set();
    this._topics.add(typeof topic === 'string' ? topic : t.toString('latin1'));
    this._hub.sendTopic(K.CMD_SUBSCRIBE, this, t);
    return true;
  }

  unsubscribe(topic) {
    const t = topicBytes(topic);
    if (this._readyState !== OPEN) return false;
    const had = this._topics !== null && this._topics.delete(typeof topic === 'string' ? topic : t.toString('latin1'));
    this._hub.sendTopic(K.CMD_UNSUBSCRIBE, this, t);
    return had;
  }

  isSubscribed(topic) {
    return this._topics !== null && this._topics.has(typeof topic === 'string' ? topic : topicBytes(topic).toString('latin1'));
  }

  getTopics() {
    return this._topics === null ? [] : [...this._topics];
  }

  /** Publishes to every subscriber of topic but this connection (uWS). */
  publish(topic, data, options) {
    const t = topicBytes(topic);
    if (this._readyState !== OPEN) return false;
    publishOn(this._hub, t, data, options, this._id);
    return true;
  }

  _control(opcode, data, mask, cb) {
    if (this._readyState === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (typeof data === 'function') {
      cb = data;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    if (typeof data === 'number') data = data.toString();
    if (this._readyState !== OPEN) {
      sendAfterClose(this, data, cb);
      return;
    }
    const buf = data === undefined || data === null ? EMPTY : typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
    if (buf.length > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    this._account(this._hub.sendBytes(this, opcode, buf, cb));
  }

  ping(data, mask, cb) {
    this._control(K.OP_PING, data, mask, cb);
  }

  pong(data, mask, cb) {
    this._control(K.OP_PONG, data, mask, cb);
  }

  close(code, data) {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) {
      this._abort('WebSocket was closed before the connection was established');
      return;
    }
    if (this._readyState === CLOSING) return;
    let reason = EMPTY;
    if (code === undefined) {
      code = 0;
    } else {
      if (typeof code !== 'number' || !isValidStatusCode(code)) {
        throw new TypeError('First argument must be a valid error code number');
      }
      if (data !== undefined && data !== null) {
        reason = typeof data === 'string' ? Buffer.from(data, 'utf8') : toBuffer(data);
        if (reason.length > 123) throw new RangeError('The message must not be greater than 123 bytes');
      }
    }
    this._readyState = CLOSING;
    this._hub.sendClose(this, code, reason);
  }

  terminate() {
    if (this._readyState === CLOSED) return;
    if (this._readyState === CONNECTING) {
      this._abort('WebSocket was closed before the connection was established');
      return;
    }
    this._readyState = CLOSING;
    this._hub.sendTerminate(this);
  }

  /** Stops reading from the peer (the hub's WS_CMD_PAUSE): TCP pushes back on
   * it. Events libws already read are still emitted, as in ws. */
  pause() {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    this._paused = true;
    this._updateReading();
  }

  resume() {
    if (this._readyState === CONNECTING || this._readyState === CLOSED) return;
    this._paused = false;
    this._updateReading();
  }

  // Reading is paused while the application asked for it (pause()), while
  // a server connection's peer is not taking what is sent to it (the hub's
  // backpressure event until its drain event: a client that sends without
  // reading its replies is then held back by TCP instead of filling the send
  // buffer). Clients keep reading under backpressure: a
  // client that stopped too would deadlock with a server doing the above
  // (each side's buffer full, neither reading).
  _updateReading() {
    const paused = this._paused || this._pressed;
    if (paused === this._readPaused || this._readyState === CLOSED || this._hub === null) return;
    this._readPaused = paused;
    this._hub.sendPause(this, paused);
  }

  _abort(message) {
    this._aborted = true;
    this._readyState = CLOSING;
    this._hub.sendTerminate(this);
    const err = new Error(message);
    process.nextTick(() => this._emit('error', err));
  }

  // ------------------------------------------------------ hub callbacks

  _emit(name, a, b) {
    if (this._silent) return;
    this.emit(name, a, b);
  }

  _onOpen(peer, path, protocol, headers) {
    if (this._aborted) return;
    this._readyState = OPEN;
    this._protocol = protocol;
    this._peer = parsePeer(peer);
    const res = { statusCode: 101, statusMessage: 'Switching Protocols', ...parseHeaders(headers) };
    this._upgradeHeaders = res.headers;
    const ext = res.headers['sec-websocket-extensions'];
    if (typeof ext === 'string') this._extensions = ext;
    this._emit('upgrade', res);
    this._emit('open');
  }

  _onMessage(data, isBinary) {
    if (isBinary && this._binaryType !== 'nodebuffer') {
      data = this._binaryType === 'arraybuffer' ? toArrayBuffer(data) : [data];
    }
    if (!this._silent) this.emit('message', data, isBinary);
  }

  _onPing(data) {
    this._emit('ping', data);
  }

  // rtt: round trip of the keepalive ping this pong answers, in
  // microseconds (0: it answers none).
  _onPong(data, rtt) {
    if (rtt > 0) this._latency = rtt / 1000;
    this._emit('pong', data);
  }

  _onBackpressure(buffered) {
    this._hubBuffered = buffered;
    if (!this._isServer) return;
    this._pressed = true;
    this._updateReading();
  }

  _onDrain() {
    this._hubBuffered = 0;
    this._pressed = false;
    this._updateReading();
    this._scheduleWriteCheck(0);
  }

  // code: the close code libws sent (0 if none), or the HTTP status of a
  // refused handshake, which is no close code: close stays 1006, as in ws.
  _onError(code, err) {
    if (code >= 1000) this._errCode = code;
    if (this._aborted) return;
    // As in ws, a failure of the network under an established connection
    // (reset, a TLS record error, a close handshake or idle timeout) only
    // ends it: 'close' 1006 follows, and no 'error', which the many
    // applications without an 'error' listener would not survive. ws emits
    // 'error' for what the peer sent (protocol, UTF-8, size) and while
    // connecting.
    if (this._readyState !== CONNECTING && code === 0 && NETWORK_FAILURES.has(err.errno)) return;
    // The keepalive's pong timeout (close 1011 sent) is a peer gone, not a
    // fault of the application: 'close' 1011 alone, no 'error' to crash
    // applications without an 'error' listener.
    if (this._readyState !== CONNECTING && err.errno === K.WS_ETIMEDOUT) return;
    if (this._readyState === CONNECTING || code !== 0) this._readyState = CLOSING;
    this._emit('error', err);
  }

  _onClose(code, reason) {
    if (code === 1006 && this._errCode !== 0) code = this._errCode;
    this._readyState = CLOSED;
    this._closeCode = code;
    this._closeReason = reason;
    this._hubBuffered = 0;
    this._topics = null;
    // Callbacks of sends the hub did not confirm written: as in ws, an error.
    const pending = this._sendCbs.concat(this._writeCbs);
    this._sendCbs = [];
    this._writeCbs = [];
    if (this._writeCheck !== null) {
      clearTimeout(this._writeCheck);
      clearImmediate(this._writeCheck);
      this._writeCheck = null;
    }
    if (pending.length > 0) {
      process.nextTick(callAll, pending, new Error('The socket was closed while data was being compressed or sent'));
    }
    if (this._server !== null) this._server._removeClient(this);
    this._emit('close', code, reason);
  }

  // ------------------------------------------------------- event target

  addEventListener(type, handler, options = {}) {
    if (typeof handler !== 'function' && !(handler && typeof handler.handleEvent === 'function')) return;
    if (!options[kForOnEventAttribute]) {
      for (const l of this.listeners(type)) {
        if (!l[kForOnEventAttribute] && l[kListener] === handler) return;
      }
    }
    const wrapped = wrapListener(this, type, handler);
    wrapped[kForOnEventAttribute] = !!options[kForOnEventAttribute];
    if (options.once) this.once(type, wrapped);
    else this.on(type, wrapped);
  }

  removeEventListener(type, handler) {
    for (const l of this.listeners(type)) {
      if (l[kListener] === handler && !l[kForOnEventAttribute]) {
        this.removeListener(type, l);
        break;
      }
    }
  }
}

for (const [name, value] of [['CONNECTING', CONNECTING], ['OPEN', OPEN], ['CLOSING', CLOSING], ['CLOSED', CLOSED]]) {
  Object.defineProperty(WebSocket, name, { enumerable: true, value });
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value });
}

for (const type of ['open', 'error', 'close', 'message']) {
  Object.defineProperty(WebSocket.prototype, `on${type}`, {
    enumerable: true,
    get() {
      for (const l of this.listeners(type)) if (l[kForOnEventAttribute]) return l[kListener];
      return null;
    },
    set(handler) {
      for (const l of this.listeners(type)) {
        if (l[kForOnEventAttribute]) {
          this.removeListener(type, l);
          break;
        }
      }
      if (typeof handler !== 'function') return;
      this.addEventListener(type, handler, { [kForOnEventAttribute]: true });
    },
  });
}

// options: { binary } or a boolean isBinary (uWS); default: binary unless data is a string.
function publishOn(hub, topic, data, options, exclude) {
  if (typeof data === 'number') data = data.toString();
  let binary = typeof data !== 'string';
  if (typeof options === 'boolean') binary = options;
  else if (options && options.binary !== undefined) binary = !!options.binary;
  hub.publish(topic, binary ? K.OP_BINARY : K.OP_TEXT, typeof data === 'string' ? data : toBuffer(data), exclude);
}

function setId(ws, hub, id) {
  ws._hub = hub;
  ws._id = id;
  ws._idLo = id >>> 0;
  ws._idHi = Math.floor(id / 4294967296);
}

function headerLines(headers) {
  let s = '';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) s += `${name}: ${v}\r\n`;
  }
  return s;
}

function initAsClient(ws, address, protocols, options) {
  const opts = {
    autoPong: true,
    protocolVersion: 13,
    maxPayload: 100 * 1024 * 1024,
    handshakeTimeout: undefined,
    rejectUnauthorized: true,
    perMessageDeflate: true,
    ...options,
  };
  if (opts.protocolVersion !== 13 && opts.protocolVersion !== 8) {
    throw new RangeError(`Unsupported protocol version: ${opts.protocolVersion} (supported versions: 8, 13)`);
  }
  let url;
  if (address instanceof URL) {
    url = new URL(address.href);
  } else {
    try {
      url = new URL(address);
    } catch {
      throw new SyntaxError(`Invalid URL: ${address}`);
    }
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  ws._url = url.href;
  if (url.protocol === 'ws+unix:') {
    throw new SyntaxError('libws: ws+unix: URLs are not supported');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"');
  }
  if (url.hash) throw new SyntaxError('The URL contains a fragment identifier');
  const seen = new Set();
  for (const p of protocols) {
    if (typeof p !== 'string' || !subprotocolRegex.test(p) || seen.has(p)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    seen.add(p);
  }

  const spec = [];
  const maxSize = maxMessageSize(opts.maxPayload);
  if (maxSize !== DEFAULT_MAX_PAYLOAD) spec.push([K.OPT_MAX_MESSAGE_SIZE, maxSize]);
  if (opts.handshakeTimeout !== undefined) spec.push([K.OPT_TIMEOUT_MS, Math.max(1, Math.ceil(opts.handshakeTimeout))]);
  if (protocols.length) spec.push([K.OPT_SUBPROTOCOLS, protocols.join(',')]);
  const headers = { ...(opts.headers || {}) };
  if (opts.origin !== undefined) {
    if (opts.protocolVersion === 13) headers.Origin = opts.origin;
    else headers['Sec-WebSocket-Origin'] = opts.origin;
  }
  const lines = headerLines(headers);
  if (lines) spec.push([K.OPT_HEADERS, lines]);
  if (opts.rejectUnauthorized === false) spec.push([K.OPT_TLS_VERIFY, 0]);
  if (opts.servername) spec.push([K.OPT_TLS_SERVER_NAME, String(opts.servername)]);
  // ca, cert, key as tls.connect takes them (Buffers or PEM strings); caFile: a path.
  const ca = pemFile(opts.ca !== undefined ? opts.ca : opts.caFile);
  const cert = pemFile(opts.cert);
  const key = pemFile(opts.key);
  if (ca) spec.push([K.OPT_TLS_CA_FILE, ca]);
  if (cert) spec.push([K.OPT_TLS_CERT_FILE, cert]);
  if (key) spec.push([K.OPT_TLS_KEY_FILE, key]);
  if (opts.autoPong === false) spec.push([K.OPT_AUTO_PONG, 0]);
  if (opts.pingInterval !== undefined || opts.pongTimeout !== undefined) {
    const interval = opts.pingInterval === undefined ? 20000 : Math.max(0, Math.ceil(Number(opts.pingInterval) || 0));
    const timeout = opts.pongTimeout === undefined ? 20000 : Math.max(0, Math.ceil(Number(opts.pongTimeout) || 0));
    spec.push([K.OPT_HUB_PING_INTERVAL_MS, interval], [K.OPT_HUB_PONG_TIMEOUT_MS, interval > 0 ? timeout : 0]);
  }
  if (opts.closeTimeout !== undefined) spec.push([K.OPT_CLOSE_TIMEOUT_MS, Math.max(1, Math.ceil(opts.closeTimeout))]);
  spec.push(...deflateSpec(opts.perMessageDeflate, false));

  const hub = getClientHub();
  const handle = optionsHandle(spec);
  const out = [0];
  const rc = C.hub_connect(hub.ptr, url.href, handle, out);
  if (rc !== 0) throw libwsError(rc, C.hub_errmsg(hub.ptr) || 'ws_hub_connect');
  setId(ws, hub, Number(out[0]));
  hub.add(ws._id, ws);
}

module.exports = {
  WebSocket,
  kServerSide,
  setId,
  parsePeer,
  parseHeaders,
  isValidStatusCode,
  maxMessageSize,
  topicBytes,
  publishOn,
  CONNECTING,
  OPEN,
  CLOSING,
  CLOSED,
};
