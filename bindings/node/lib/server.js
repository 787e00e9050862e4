'use strict';
// WebSocketServer with the API of ws 8. Each server owns one libws event hub:
// the C ABI can stop listening only by shutting a whole hub down
// (ws_hub_shutdown), so a hub per server is what lets server.close() free
// its port without touching other servers or clients.

const EventEmitter = require('events');
const http = require('http');
const K = require('./constants');
const { Hub, MODE_OPTION } = require('./hub');
const { C } = require('./native');
const { libwsError } = require('./errors');
const { optionsHandle, deflateSpec } = require('./options');
const { WebSocket, kServerSide, setId, parsePeer, parseHeaders, maxMessageSize, topicBytes, publishOn, OPEN } = require('./websocket');

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const subprotocolRegex = /^[!#$%&'*+\-.0-9A-Z^_`|a-z~]+$/;

/** The subset of http.IncomingMessage that libws can fill in after the handshake. */
class UpgradeRequest {
  constructor(url, headerText, peer, localAddress, localPort, secure) {
    const { headers, rawHeaders } = parseHeaders(headerText);
    this.method = 'GET';
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
    if (options.server || options.noServer) {
      throw new Error('libws: the "server" and "noServer" options are not supported: libws owns the listening socket; use "port"');
    }
    const port = Number(options.port);
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

    const spec = [[K.OPT_MAX_MESSAGE_SIZE, maxMessageSize(options.maxPayload)]];
    if (protocols && protocols.length) spec.push([K.OPT_SUBPROTOCOLS, protocols.join(',')]);
    if (options.autoPong === false) spec.push([K.OPT_AUTO_PONG, 0]);
    if (options.closeTimeout !== undefined) spec.push([K.OPT_CLOSE_TIMEOUT_MS, Math.max(1, Math.ceil(options.closeTimeout))]);
    if (options.handshakeTimeout !== undefined) spec.push([K.OPT_TIMEOUT_MS, Math.max(1, Math.ceil(options.handshakeTimeout))]);
    if (options.maxBufferedAmount > 0) spec.push([K.OPT_HUB_MAX_BUFFERED, options.maxBufferedAmount]);
    if (options.maxTotalBuffered > 0) spec.push([K.OPT_HUB_MAX_TOTAL_BUFFERED, options.maxTotalBuffered]);
    if (options.highWaterMark > 0) spec.push([K.OPT_HUB_HIGH_WATER, options.highWaterMark]);
    if (options.pingInterval > 0) spec.push([K.OPT_HUB_PING_INTERVAL_MS, options.pingInterval]);
    if (options.idleTimeout > 0) spec.push([K.OPT_HUB_IDLE_TIMEOUT_MS, options.idleTimeout]);
    if (options.tls) {
      if (options.tls.cert) spec.push([K.OPT_TLS_CERT_FILE, String(options.tls.cert)]);
      if (options.tls.key) spec.push([K.OPT_TLS_KEY_FILE, String(options.tls.key)]);
      if (options.tls.ca) spec.push([K.OPT_TLS_CA_FILE, String(options.tls.ca)]);
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
    const outPort = [0];
    const rc = C.hub_listen(this._hub.ptr, this._host, port, handle, outPort);
    if (callback) this.once('listening', callback);
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
    const hub = this._hub;
    const timeout = this.options.closeTimeout !== undefined ? Math.max(0, Math.ceil(this.options.closeTimeout)) : 2000;
    hub.unref(); // no longer listening
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

  handleUpgrade() {
    throw new Error('libws: handleUpgrade is not supported: libws performs the handshake itself');
  }

  // -------------------------------------------------------- hub callbacks

  onHubError(err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(`libws server: ${err.message}`);
  }

  onOpen(id, listener, peerText, path, protocol, headers) {
    const hub = this._hub;
    const ws = new WebSocket(kServerSide);
    setId(ws, hub, id);
    ws._isServer = true;
    ws._readyState = OPEN;
    ws._protocol = protocol;
    ws._peer = parsePeer(peerText);
    ws._held = [];
    hub.add(id, ws);
    this._live++;
    ws._server = this;
    if (this._state !== RUNNING) {
      this._refuse(ws, 1001, 'server shutting down');
      return;
    }
    const req = new UpgradeRequest(path, headers, ws._peer, this._host, this._port, this._secure);
    // libws accepts permessage-deflate whenever the client offers it and the
    // server enabled it (the open event does not carry the parameters).
    if (this._deflate && /permessage-deflate/i.test(String(req.headers['sec-websocket-extensions'] || ''))) {
      ws._extensions = 'permessage-deflate';
    }
    if (!this.shouldHandle(req)) {
      this._refuse(ws, 1008, http.STATUS_CODES[400]);
      return;
    }
    if (typeof this.options.handleProtocols === 'function') {
      const offered = new Set(
        (req.headers['sec-websocket-protocol'] || '').split(',').map((s) => s.trim()).filter(Boolean));
      const chosen = this.options.handleProtocols(offered, req);
      if (chosen === false || (offered.size > 0 && chosen !== protocol)) {
        this._refuse(ws, 1008, 'subprotocol refused');
        return;
      }
    }
    const verify = this.options.verifyClient;
    if (verify) {
      const version = Number(req.headers['sec-websocket-version']);
      const info = {
        origin: req.headers[version === 8 ? 'sec-websocket-origin' : 'origin'],
        secure: this._secure,
        req,
      };
      if (verify.length === 2) {
        // Until the answer comes the connection's events are held: it is
        // not read from meanwhile, so what is held stays small.
        ws._updateReading();
        verify(info, (verified, code, message) => {
          if (!verified) this._refuse(ws, 1008, message || http.STATUS_CODES[code || 401]);
          else this._accept(ws, req);
        });
        return;
      }
      if (!verify(info)) {
        this._refuse(ws, 1008, http.STATUS_CODES[401]);
        return;
      }
    }
    this._accept(ws, req);
  }

  _accept(ws, req) {
    if (this.clients && ws._readyState !== 3) this.clients.add(ws);
    const held = ws._held || [];
    ws._held = null;
    ws._updateReading();
    this.emit('connection', ws, req);
    for (const [name, a, b] of held) ws.emit(name, a, b);
  }

  // The handshake already happened in libws: a refused client is closed
  // with a close frame instead of an HTTP error status.
  _refuse(ws, code, reason) {
    ws._silent = true;
    ws._held = null;
    if (ws._readyState === OPEN) ws.close(code, Buffer.from(String(reason)).subarray(0, 123));
  }

  _removeClient(ws) {
    this._live--;
    if (this.clients) this.clients.delete(ws);
  }
}

module.exports = { WebSocketServer, UpgradeRequest };
