'use strict';
// WebSocketServer with the API of ws 8. Each server owns one libws event hub:
// the C ABI can stop listening only by shutting a whole hub down
// (ws_hub_shutdown), so a hub per server is what lets server.close() free
// its port without touching other servers or clients. Every upgrade
// request reaches JavaScript as a request event before the 101 (handshake
// control), so verifyClient, handleProtocols and 'headers' work as in ws.

const EventEmitter = require('events');
const http = require('http');
const net = require('net');
const crypto = require('crypto');
const K = require('./constants');
const { Hub, MODE_OPTION } = require('./hub');
const { C, dupCloexec, closeFd, socketPair } = require('./native');
const { libwsError } = require('./errors');
const { optionsHandle, deflateSpec } = require('./options');
const { pemFile } = require('./pem');
const { WebSocket, kServerSide, setId, parsePeer, parseHeaders, maxMessageSize, topicBytes, publishOn, OPEN } = require('./websocket');

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const subprotocolRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/** The subset of http.IncomingMessage that libws can fill in after the handshake. */
class UpgradeRequest {
  constructor(url, headerText, peer, localAddress, localPort, secure, method = 'GET') {
    const { headers, rawHeaders } = parseHeaders(headerText);
    this.method = method;
    this.url = url;
    this.httpVersion = '1.1';
    this.httpVersionMajor = 1;
    this.httpVersionMinor = 1;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.socket = {
      remoteAddress: peer.address,
      remotePort: peer.port,
      remoteFamily: peer.family,
      localAddress,
      localPort,
      encrypted: secure,
    };
    this.connection = this.socket;
  }
}

function acceptKey(key) {
  return crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

// Header lines ("Name: value\r\n") from an object, CR/LF refused.
function headerText(headers) {
  let s = '';
  if (!headers) return s;
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      const line = `${name}: ${v}`;
      if (/[\r\n\0]/.test(line)) throw new TypeError(`libws: invalid header ${JSON.stringify(name)}`);
      s += `${line}\r\n`;
    }
  }
  return s;
}

// ws's abortHandshake as a request event's answer: status, text/html body.
function rejectWith(hub, id, code, message, headers) {
  const body = message || http.STATUS_CODES[code] || '';
  let status = Number(code);
  if (!Number.isInteger(status) || status < 200 || status > 599) status = 500;
  hub.reject(id, status, `Content-Type: text/html\r\n${headerText(headers)}`, Buffer.from(body));
}

// ws's abortHandshake on a Node socket (handleUpgrade's own refusals).
function abortSocket(socket, code, headers) {
  if (socket.writable) {
    const message = http.STATUS_CODES[code];
    socket.end(`HTTP/1.1 ${code} ${message}\r\nConnection: close\r\nContent-Type: text/html\r\n` +
      `Content-Length: ${Buffer.byteLength(message)}\r\n${headerText(headers)}\r\n${message}`);
  }
  socket.destroy();
}

// The server option: ws's upgrade, listening and error forwarding.
function attachServer(wss, server) {
  const onListening = () => wss.emit('listening');
  const onError = (err) => wss.emit('error', err);
  const onUpgrade = (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('listening', onListening);
  server.on('error', onError);
  server.on('upgrade', onUpgrade);
  wss._detach = () => {
    server.removeListener('listening', onListening);
    server.removeListener('error', onError);
    server.removeListener('upgrade', onUpgrade);
    wss._detach = null;
  };
}

// A destroyed socket forgets its addresses; req.socket keeps them for the app.
function keepAddresses(socket) {
  for (const name of ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort']) {
    const value = socket[name];
    Object.defineProperty(socket, name, { value, configurable: true });
  }
}

// Hands socket to the hub: its descriptor (a duplicate: Node closes its own
// without writing), or, for sockets without one it may take (TLS), one end
// of a socket pair whose bytes Node copies both ways. Returns the
// connection id, or null after answering the client itself.
function adoptSocket(wss, socket, bytes) {
  const hub = wss._hub;
  const fd = !socket.encrypted && socket._handle && typeof socket._handle.fd === 'number' ? socket._handle.fd : -1;
  const out = [0];
  if (fd >= 0 && dupCloexec !== null) {
    const dup = dupCloexec(fd);
    if (dup >= 0) {
      const rc = C.hub_adopt(hub.ptr, dup, bytes, bytes.length, wss._adoptHandle, out);
      if (rc === 0) {
        keepAddresses(socket);
        socket.destroy();
        return Number(out[0]);
      }
      closeFd(dup);
    }
  }
  // The slower path: a socket pair.
  const pair = socketPair();
  if (pair === null) {
    abortSocket(socket, 500);
    return null;
  }
  const rc = C.hub_adopt(hub.ptr, pair[0], bytes, bytes.length, wss._adoptHandle, out);
  if (rc !== 0) {
    closeFd(pair[0]);
    closeFd(pair[1]);
    abortSocket(socket, 500);
    return null;
  }
  const local = new net.Socket({ fd: pair[1], readable: true, writable: true });
  local.on('error', () => socket.destroy());
  socket.on('close', () => local.destroy());
  local.on('close', () => socket.destroy());
  socket.pipe(local);
  local.pipe(socket);
  socket.resume();
  return Number(out[0]);
}

function emitClose(server) {
  server._state = CLOSED;
  server.emit('close');
}

class WebSocketServer extends EventEmitter {
  constructor(options, callback) {
    super();
    options = {
      maxPayload: 100 * 1024 * 1024,
      skipUTF8Validation: false,
      perMessageDeflate: false,
      handleProtocols: null,
      clientTracking: true,
      verifyClient: null,
      noServer: false,
      backlog: null,
      server: null,
      host: null,
      path: null,
      port: null,
      autoPong: true,
      ...options,
    };
    if (
      (options.port == null && !options.server && !options.noServer) ||
      (options.port != null && (options.server || options.noServer)) ||
      (options.server && options.noServer)
    ) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    const port = options.port == null ? 0 : Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(`options.port should be >= 0 and < 65536. Received ${options.port}.`);
    }
    this.options = options;
    this._state = RUNNING;
    this._listener = 0;
    this._port = 0;
    this._host = options.host == null ? '' : String(options.host);
    this._secure = !!(options.tls && options.tls.cert);
    this.clients = options.clientTracking ? new Set() : undefined;
    this._live = 0; // connections not yet closed (tracked or not)
    // Handshake control: request events awaiting an answer, and accepted
    // requests awaiting their open event: id -> { req, cb, protocol }.
    this._requests = new Map();
    this._server = null;
    this._adoptHandle = null;

    // Subprotocols: libws negotiates them in Go during the handshake, from a
    // fixed list (most preferred first).
    let protocols = options.protocols;
    if (Array.isArray(options.handleProtocols) || typeof options.handleProtocols === 'string') {
      protocols = options.handleProtocols;
    }
    if (typeof protocols === 'string') protocols = protocols.split(',').map((s) => s.trim()).filter(Boolean);
    if (protocols !== undefined && protocols !== null) {
      for (const p of protocols) {
        if (typeof p !== 'string' || !subprotocolRegex.test(p)) throw new SyntaxError(`Invalid subprotocol: ${p}`);
      }
    }

    this._protocols = protocols ? [...protocols] : [];
    const spec = [[K.OPT_MAX_MESSAGE_SIZE, maxMessageSize(options.maxPayload)]];
    if (protocols && protocols.length) spec.push([K.OPT_SUBPROTOCOLS, protocols.join(',')]);
    if (options.autoPong === false) spec.push([K.OPT_AUTO_PONG, 0]);
    if (options.closeTimeout !== undefined) spec.push([K.OPT_CLOSE_TIMEOUT_MS, Math.max(1, Math.ceil(options.closeTimeout))]);
    if (options.handshakeTimeout !== undefined) spec.push([K.OPT_TIMEOUT_MS, Math.max(1, Math.ceil(options.handshakeTimeout))]);
    // Keepalive on by default (a ping after 20 s of quiet, 20 s for its
    // pong), as in websockets; 0 turns either off.
    const pingInterval = options.pingInterval === undefined ? 20000 : Math.max(0, Math.ceil(Number(options.pingInterval) || 0));
    const pongTimeout = options.pongTimeout === undefined ? 20000 : Math.max(0, Math.ceil(Number(options.pongTimeout) || 0));
    spec.push([K.OPT_HUB_PING_INTERVAL_MS, pingInterval], [K.OPT_HUB_PONG_TIMEOUT_MS, pingInterval > 0 ? pongTimeout : 0]);
    // Every request comes as a request event first: verifyClient,
    // handleProtocols and 'headers' decide before the 101, as in ws.
    spec.push([K.OPT_HUB_HANDSHAKE_CONTROL, 1]);
    if (options.maxBufferedAmount > 0) spec.push([K.OPT_HUB_MAX_BUFFERED, options.maxBufferedAmount]);
    if (options.maxTotalBuffered > 0) spec.push([K.OPT_HUB_MAX_TOTAL_BUFFERED, options.maxTotalBuffered]);
    if (options.highWaterMark > 0) spec.push([K.OPT_HUB_HIGH_WATER, options.highWaterMark]);
    if (options.idleTimeout > 0) spec.push([K.OPT_HUB_IDLE_TIMEOUT_MS, options.idleTimeout]);
    if (options.tls) {
      // File paths, or the PEM text itself (Buffers or strings), as ws users
      // pass them to https.createServer.
      const cert = pemFile(options.tls.cert);
      const key = pemFile(options.tls.key);
      const ca = pemFile(options.tls.ca);
      if (cert) spec.push([K.OPT_TLS_CERT_FILE, cert]);
      if (key) spec.push([K.OPT_TLS_KEY_FILE, key]);
      if (ca) spec.push([K.OPT_TLS_CA_FILE, ca]);
    }
    const deflate = deflateSpec(options.perMessageDeflate, true);
    this._deflate = deflate.length > 0;
    spec.push(...deflate);
    if (options.reusePort) spec.push([K.OPT_HUB_REUSEPORT, 1]);
    // Inline hub (its sockets are served from Node's main thread) unless
    // Node's libuv is out of reach: see hub.js.
    spec.push(MODE_OPTION);
    const handle = optionsHandle(spec);

    // The broker is a hub option only (listeners refuse it).
    const hubHandle = options.broker ? optionsHandle([...spec, [K.OPT_HUB_BROKER, String(options.broker)]]) : handle;
    this._hub = new Hub(hubHandle, this);
    if (callback) this.once('listening', callback);
    if (options.server || options.noServer) {
      // Upgrades come from Node's http server: handleUpgrade hands each
      // socket to the hub (ws_hub_adopt), which takes no TLS options.
      this._adoptHandle = optionsHandle(spec.filter(([o]) => o !== K.OPT_TLS_CERT_FILE && o !== K.OPT_TLS_KEY_FILE && o !== K.OPT_TLS_CA_FILE && o !== K.OPT_HUB_REUSEPORT));
      if (options.server) attachServer(this, options.server);
      return;
    }
    const outPort = [0];
    const rc = C.hub_listen(this._hub.ptr, this._host, port, handle, outPort);
    if (rc <= 0) {
      const msg = C.hub_errmsg(this._hub.ptr);
      const err = libwsError(rc, msg || 'ws_hub_listen');
      if (/address already in use/i.test(msg)) err.code = 'EADDRINUSE';
      else if (/permission denied/i.test(msg)) err.code = 'EACCES';
      else if (/cannot assign requested address|no such host/i.test(msg)) err.code = 'EADDRNOTAVAIL';
      err.syscall = 'listen';
      err.port = port;
      this._state = CLOSED;
      const hub = this._hub;
      this._hub = null;
      hub.destroy();
      process.nextTick(() => this.emit('error', err));
      return;
    }
    this._listener = rc;
    this._port = outPort[0];
    this._hub.ref(); // listening keeps the process alive
    process.nextTick(() => {
      if (this._state === RUNNING) this.emit('listening');
    });
  }

  /** { address, family, port } like net.Server#address(); null once closed. */
  address() {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (this.options.server) return this.options.server.address();
    if (this._state === CLOSED || this._hub === null) return null;
    let address = this._host;
    if (address === '' || address === '::') address = '::';
    else if (address === 'localhost') address = '127.0.0.1';
    return { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: this._port };
  }

  /**
   * Stops listening and ends the server. Unlike ws, which leaves open
   * connections alone, every connection of this server is closed with 1001
   * (Going Away), waiting up to options.closeTimeout (default 2000 ms) for
   * the close handshakes: the C ABI stops a listener only with its hub.
   */
  close(cb) {
    if (this._state === CLOSED) {
      if (cb) this.once('close', () => cb(new Error('The server is not running')));
      process.nextTick(emitClose, this);
      return;
    }
    if (cb) this.once('close', cb);
    if (this._state === CLOSING) return;
    this._state = CLOSING;
    if (this._detach) this._detach();
    const hub = this._hub;
    const timeout = this.options.closeTimeout !== undefined ? Math.max(0, Math.ceil(this.options.closeTimeout)) : 2000;
    if (this._listener !== 0) hub.unref(); // no longer listening
    hub.shutdown(timeout, () => {
      this._hub = null;
      emitClose(this);
    });
  }

  /**
   * Publishes data to every subscriber of topic (uWebSockets.js' name), on
   * this server and, with the broker option, on every server sharing it.
   * options: { binary } or a boolean; by default binary unless data is a
   * string. Returns false once the server is closed.
   */
  publish(topic, data, options) {
    const t = topicBytes(topic);
    if (this._hub === null || this._state === CLOSED) return false;
    publishOn(this._hub, t, data, options, 0);
    return true;
  }

  /** This server's open connections subscribed to topic (not other servers'). */
  numSubscribers(topic) {
    const t = topicBytes(topic);
    if (this._hub === null) return 0;
    this._hub.flush(); // counts follow the subscriptions queued before
    const n = C.hub_topic_count(this._hub.ptr, t.toString('utf8'));
    if (n < 0) throw libwsError(Number(n), 'ws_hub_topic_count');
    return Number(n);
  }

  // WS_EVENT_BROKER: 'broker' with ('up', address) or ('down', error message).
  onBroker(code, text) {
    this.emit('broker', code === K.BROKER_UP ? 'up' : 'down', text);
  }

  /** ws's check of the request path (and nothing else: the rest is libws's). */
  shouldHandle(req) {
    if (this.options.path) {
      const index = req.url.indexOf('?');
      const pathname = index !== -1 ? req.url.slice(0, index) : req.url;
      if (pathname !== this.options.path) return false;
    }
    return true;
  }

  /**
   * As in ws: completes the upgrade of a request Node's http server
   * received ('upgrade'), then calls cb(ws, req). The socket goes to the hub
   * (adopted: its descriptor and the request bytes); one whose descriptor
   * cannot be handed over (a TLSSocket of https.Server) is carried through
   * a socket pair whose other end the hub adopts, its bytes copied by Node.
   */
  handleUpgrade(req, socket, head, cb) {
    socket.on('error', () => {});
    if (this._state !== RUNNING || this._hub === null) {
      abortSocket(socket, 503);
      return;
    }
    const h = req.headers;
    const key = h['sec-websocket-key'];
    const version = Number(h['sec-websocket-version']);
    if (req.method !== 'GET' || String(h.upgrade || '').toLowerCase() !== 'websocket' || !key || !/^[+/0-9A-Za-z]{22}==$/.test(key)) {
      abortSocket(socket, 400);
      return;
    }
    if (version !== 8 && version !== 13) {
      abortSocket(socket, 400, { 'Sec-WebSocket-Version': '13, 8' });
      return;
    }
    if (!this.shouldHandle(req)) {
      abortSocket(socket, 400);
      return;
    }
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    text += '\r\n';
    const parts = [Buffer.from(text, 'latin1')];
    if (head && head.length) parts.push(head);
    const buffered = socket.readableLength > 0 ? socket.read() : null;
    if (buffered) parts.push(buffered);
    const bytes = Buffer.concat(parts);
    const id = adoptSocket(this, socket, bytes);
    if (id === null) return;
    this._requests.set(id, { req, cb, protocol: null, secure: !!socket.encrypted });
    this._hub.ref(); // until its close event
  }

  // -------------------------------------------------------- hub callbacks

  onHubError(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(`libws server: ${err.message}`);
  }

  // A request event (handshake control): verifyClient, handleProtocols and
  // 'headers' decide, then the hub gets WS_CMD_ACCEPT or WS_CMD_REJECT.
  onRequest(id, listener, fields) {
    const [peerText, target, offeredText, headerText, method] = fields;
    let entry = this._requests.get(id);
    if (entry === undefined) {
      const peer = parsePeer(peerText);
      const req = new UpgradeRequest(target, headerText, peer, this._host, this._port, this._secure, method);
      entry = { req, cb: null, protocol: null, secure: this._secure, adopted: false };
      this._requests.set(id, entry);
    } else {
      entry.adopted = true;
    }
    const hub = this._hub;
    const req = entry.req;
    if (this._state !== RUNNING) return hub.reject(id, 503, '', null);
    if (!entry.adopted && !this.shouldHandle(req)) return hub.reject(id, 400, '', http.STATUS_CODES[400]);
    const offered = offeredText.split(',').map((x) => x.trim()).filter(Boolean);
    const decide = () => {
      let protocol = null;
      if (typeof this.options.handleProtocols === 'function' && offered.length > 0) {
        let chosen;
        try {
          chosen = this.options.handleProtocols(new Set(offered), req);
        } catch (err) {
          hub.reject(id, 500, '', null);
          throw err;
        }
        protocol = typeof chosen === 'string' && offered.includes(chosen) ? chosen : '';
      } else if (offered.length > 0 && this._protocols.length === 0) {
        protocol = offered[0]; // ws's default: the first one offered
      }
      entry.protocol = protocol;
      let extra = '';
      if (this.listenerCount('headers') > 0) {
        const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
          `Sec-WebSocket-Accept: ${acceptKey(req.headers['sec-websocket-key'])}`];
        const n = lines.length;
        this.emit('headers', lines, req);
        for (const l of lines.slice(n)) extra += `${l}\r\n`;
      }
      hub.accept(id, protocol, extra);
    };
    const verify = this.options.verifyClient;
    if (!verify) return decide();
    const version = Number(req.headers['sec-websocket-version']);
    const info = {
      origin: req.headers[version === 8 ? 'sec-websocket-origin' : 'origin'],
      secure: entry.secure,
      req,
    };
    if (verify.length === 2) {
      let answered = false;
      verify(info, (verified, code, message, headers) => {
        if (answered) return;
        answered = true;
        if (this._hub !== hub || hub.ptr === null) return;
        if (!verified) rejectWith(hub, id, code || 401, message, headers);
        else decide();
      });
      return;
    }
    if (!verify(info)) return rejectWith(hub, id, 401);
    decide();
  }

  // The close event of a request that never opened (rejected, timed out).
  onGone(id) {
    const entry = this._requests.get(id);
    if (entry === undefined) return;
    this._requests.delete(id);
    if (entry.cb !== null || entry.adopted) this._hub.unref();
  }

  onOpen(id, listener, peerText, path, protocol, headers) {
    const hub = this._hub;
    const entry = this._requests.get(id);
    this._requests.delete(id);
    const ws = new WebSocket(kServerSide);
    setId(ws, hub, id);
    ws._isServer = true;
    ws._readyState = OPEN;
    ws._protocol = protocol;
    ws._peer = parsePeer(peerText);
    hub.add(id, ws);
    if (entry !== undefined && (entry.cb !== null || entry.adopted)) hub.unref(); // hub.add holds it now
    this._live++;
    ws._server = this;
    if (this._state !== RUNNING) {
      this._refuse(ws, 1001, 'server shutting down');
      return;
    }
    const req = entry !== undefined ? entry.req : new UpgradeRequest(path, headers, ws._peer, this._host, this._port, this._secure);
    if (entry !== undefined && entry.adopted && entry.req.socket && entry.req.socket.remoteAddress) {
      ws._peer = { address: entry.req.socket.remoteAddress, port: entry.req.socket.remotePort, family: entry.req.socket.remoteFamily };
    }
    // libws accepts permessage-deflate whenever the client offers it and the
    // server enabled it (the open event does not carry the parameters).
    if (this._deflate && /permessage-deflate/i.test(String(req.headers['sec-websocket-extensions'] || ''))) {
      ws._extensions = 'permessage-deflate';
    }
    if (this.clients) this.clients.add(ws);
    if (entry !== undefined && entry.cb) entry.cb(ws, req);
    else this.emit('connection', ws, req);
  }

  _refuse(ws, code, reason) {
    ws._silent = true;
    if (ws._readyState === OPEN) ws.close(code, Buffer.from(String(reason)).subarray(0, 123));
  }

  _removeClient(ws) {
    this._live--;
    if (this.clients) this.clients.delete(ws);
  }
}

module.exports = { WebSocketServer, UpgradeRequest };
