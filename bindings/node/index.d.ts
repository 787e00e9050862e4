// Type definitions for libws, the Node binding of the libws WebSocket engine.
//
// The API is that of the `ws` package (version 8): code written for ws works
// by changing `require('ws')` into `require('libws')`, within the limits
// documented here (look for "libws:" in the comments). The sockets, the
// opening handshake and the protocol run in libws (Go) inside libws.so; events
// reach JavaScript in batches, one crossing per event-loop turn, and sends
// made during one turn leave in one crossing.

/// <reference types="node" />

import { EventEmitter } from 'events';
import { URL } from 'url';
import { Duplex, DuplexOptions } from 'stream';
import { IncomingMessage, Server as HTTPServer } from 'http';
import { Server as HTTPSServer } from 'https';

type RawData = Buffer | ArrayBuffer | Buffer[];
type Data = string | Buffer | ArrayBuffer | ArrayBufferView | number | readonly Uint8Array[] | readonly number[];

declare namespace WebSocket {
  type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments';

  interface ClientOptions {
    /** Sec-WebSocket-Version: 13 (default) or 8. */
    protocolVersion?: number;
    /** Bound on connect + TLS + opening handshake, in ms (libws default 10000). */
    handshakeTimeout?: number;
    /** Largest message accepted, in bytes. Default 100 MiB, as in ws. A larger
     * message (also once inflated) fails the connection with close 1009. 0 means
     * no limit as in ws, which with libws is the largest message the hub can
     * deliver: 2 GiB - 64 bytes. */
    maxPayload?: number;
    /** Extra request headers. */
    headers?: { [name: string]: string | string[] };
    /** Value of the Origin header (Sec-WebSocket-Origin with protocolVersion 8). */
    origin?: string;
    /** false accepts any TLS certificate (testing only). Default true. */
    rejectUnauthorized?: boolean;
    /** TLS server name to verify and send as SNI. */
    servername?: string;
    /** CA certificates to trust instead of the system's roots, as tls.connect
     * takes them: PEM Buffers or strings (or arrays of them). */
    ca?: string | Buffer | Array<string | Buffer>;
    /** Client certificate and key for mutual TLS (PEM Buffers or strings). */
    cert?: string | Buffer;
    key?: string | Buffer;
    /** libws: a PEM CA bundle file path (as `ca`, by name). */
    caFile?: string;
    /** libws: keepalive: ping after this many ms of quiet (default 20000; 0: off). */
    pingInterval?: number;
    /** libws: close (1011) when the pong does not come within this many ms of the ping (default 20000; 0: never). */
    pongTimeout?: number;
    /** Answer pings automatically (default true). */
    autoPong?: boolean;
    /** libws: how long close() waits for the peer's close reply, ms (default 5000). */
    closeTimeout?: number;
    /** permessage-deflate, offered by default as in ws. See PerMessageDeflateOptions
     * for what libws maps; with a libws.so built before compression existed
     * the option is accepted and ignored. */
    perMessageDeflate?: boolean | PerMessageDeflateOptions;
    /** libws: ignored (the ws package's redirects are not supported). */
    followRedirects?: boolean;
    maxRedirects?: number;
    /** libws: ignored, libws always validates UTF-8. */
    skipUTF8Validation?: boolean;
  }

  /** What libws takes from ws's perMessageDeflate object (anything else is ignored). */
  interface PerMessageDeflateOptions {
    /** Messages shorter than this are sent uncompressed (default 1024, as in ws). */
    threshold?: number;
    /** Only `level` (1-9) is used; libws's default is 1. */
    zlibDeflateOptions?: { level?: number };
    /** Client: ask the server for server_max_window_bits (8-15). */
    serverMaxWindowBits?: number;
    /** Server: ask the client for client_max_window_bits (8-15). */
    clientMaxWindowBits?: number;
    /** libws: keep the compression context across messages where the peer
     * agrees (~560 KiB per connection). Default false: libws always asks for
     * *_no_context_takeover, whatever serverNoContextTakeover and
     * clientNoContextTakeover say. */
    contextTakeover?: boolean;
    serverNoContextTakeover?: boolean;
    clientNoContextTakeover?: boolean;
  }

  interface SendOptions {
    /** Send as binary (default: true unless data is a string). */
    binary?: boolean;
    /** false: more fragments of this message follow. libws: the fragments are
     * gathered in JavaScript and leave as one message when `fin: true` comes
     * (the hub sends whole messages); the peer sees the same message. */
    fin?: boolean;
    /** libws: ignored (libws compresses every message over the threshold when
     * permessage-deflate was negotiated). */
    compress?: boolean;
    /** libws: ignored (clients always mask, servers never do). */
    mask?: boolean;
  }

  /** What the 'upgrade' event gives a client (not an http.IncomingMessage). */
  interface UpgradeResponse {
    statusCode: 101;
    statusMessage: string;
    headers: { [name: string]: string | string[] };
    rawHeaders: string[];
  }

  /** Errors of a connection, classified by libws's status code (`errno`, a
   * WS_E* value of ws.h), never by the message text. `code` follows ws where a
   * code fits: 'WS_ERR_PROTOCOL' (WS_EPROTO, close 1002), 'WS_ERR_INVALID_UTF8'
   * (WS_EUTF8, 1007), 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' (WS_ETOOBIG, 1009),
   * 'WS_ERR_POLICY_VIOLATION' (WS_EPOLICY, 1008: a send buffer or memory limit),
   * 'ETIMEDOUT' (WS_ETIMEDOUT), 'WS_ERR_UNEXPECTED_RESPONSE' (WS_EHANDSHAKE: the
   * server refused the handshake; message "Unexpected server response: 401"),
   * 'WS_EIO' (network: refused, reset, name not resolved; the message says
   * which), 'WS_ETLS', 'WS_ECLOSED', 'WS_ERR_INTERNAL', else 'WS_ERR_LIBWS'.
   * As in ws, network failures under an open connection (WS_EIO, WS_ETLS,
   * WS_ETIMEDOUT without a close code) emit no 'error': 'close' 1006 follows. */
  interface WebSocketError extends Error {
    code: string;
    /** The WS_E* status of the error event (negative). */
    errno?: number;
    /** The close code libws sent to the peer because of this error. */
    closeCode?: number;
    /** HTTP status of a refused handshake. */
    statusCode?: number;
    /** libws's own message when `message` was rewritten to match ws. */
    libwsMessage?: string;
  }

  interface Event {
    type: string;
    target: WebSocket;
  }
  interface MessageEvent extends Event {
    /** A string for text messages, else per binaryType. */
    data: string | RawData;
  }
  interface CloseEvent extends Event {
    code: number;
    reason: string;
    wasClean: boolean;
  }
  interface ErrorEvent extends Event {
    error: any;
    message: string;
  }
  interface EventListenerOptions {
    once?: boolean;
  }

  interface ServerOptions {
    /** Address to listen on; default: every interface. */
    host?: string;
    /** Port to listen on; 0 picks a free one (see address()). One of port, server, noServer. */
    port?: number;
    /** libws: accepted for ws compatibility; not used (Go's listen backlog applies). */
    backlog?: number;
    /** An http.Server or https.Server whose 'upgrade' requests this server
     * takes, as in ws. libws: plain sockets are handed to libws (their
     * descriptor); TLS sockets are carried through a socket pair whose bytes
     * Node copies (slower, same behaviour). */
    server?: HTTPServer | HTTPSServer;
    /** Upgrades come from handleUpgrade() only, as in ws. */
    noServer?: boolean;
    /** Accept only this path (query ignored); others get HTTP 400, as in ws. */
    path?: string;
    /** Largest message accepted, bytes (also once inflated; close 1009 above
     * it). Default 100 MiB, as in ws. 0 means no limit as in ws, which with
     * libws is the largest message the hub can deliver: 2 GiB - 64 bytes. */
    maxPayload?: number;
    /** Keep `server.clients` (default true). */
    clientTracking?: boolean;
    /** permessage-deflate, off by default as in ws: when on, libws accepts it
     * whenever a client offers it. See PerMessageDeflateOptions; with a libws.so
     * built before compression existed the option is accepted and ignored. */
    perMessageDeflate?: boolean | PerMessageDeflateOptions;
    /** libws: ignored, libws always validates UTF-8. */
    skipUTF8Validation?: boolean;
    /** Answer pings automatically (default true). */
    autoPong?: boolean;
    /**
     * Subprotocol selection. A function, as in ws: called before the 101 when
     * the client offers subprotocols; its result (one of them) is chosen,
     * false chooses none. libws also takes a list, most preferred first (an
     * array or a comma-separated string): the first of the list the client
     * offers is chosen.
     */
    handleProtocols?: string[] | string | ((protocols: Set<string>, request: UpgradeRequest) => string | false);
    /** libws: the list of subprotocols to negotiate (as handleProtocols' list form). */
    protocols?: string[] | string;
    /**
     * Vet a client before the 101, as in ws: a refused client gets the HTTP
     * status (401 by default; the callback form's code, message and headers),
     * so a ws client sees "Unexpected server response: 401". The callback form
     * may answer later (bounded by handshakeTimeout: then 503).
     */
    verifyClient?: (
      info: { origin: string | undefined; secure: boolean; req: UpgradeRequest },
      /** Present (and to be called) only when the function declares two parameters. */
      callback: (result: boolean, code?: number, message?: string, headers?: object) => void,
    ) => boolean | void;
    /** libws: how long server.close() and ws.close() wait for close replies, ms
     * (server.close() default 2000, ws.close() default 5000). */
    closeTimeout?: number;
    /** libws: bound on each opening handshake, ms (default 10000). */
    handshakeTimeout?: number;
    /** libws: unsent bytes above which a connection reports backpressure (its
     * bufferedAmount then includes them) and its client is no longer read
     * from until they drain. Default 1 MiB. */
    highWaterMark?: number;
    /** libws: unsent bytes at which a connection whose peer does not read is
     * failed with close 1008. Default 64 MiB (the hub's). */
    maxBufferedAmount?: number;
    /** libws: unsent bytes of all connections of the server together past which
     * the connections with the largest buffers are failed with close 1008.
     * Default 256 MiB (the hub's). */
    maxTotalBuffered?: number;
    /** libws: keepalive: ping a connection quiet this long, ms (default 20000; 0: off). */
    pingInterval?: number;
    /** libws: close (1011) a connection whose pong does not come within this
     * many ms of the ping (default 20000; 0: never): a peer gone without a FIN
     * is closed within pingInterval + pongTimeout. */
    pongTimeout?: number;
    /** libws: drop a connection quiet this long, ms (0: never). */
    idleTimeout?: number;
    /** libws: a Redis URL ("redis://host:port/db"): every server given the same
     * one is one system of topics: a publish on any reaches the subscribers of
     * all exactly once, in publish order. 'broker' events report outages. */
    broker?: string;
    /** libws: SO_REUSEPORT, so several processes (or servers) listen on one
     * port and the kernel spreads connections among them. Each must set it. */
    reusePort?: boolean;
    /** libws: serve wss:// with this certificate chain and key: PEM Buffers or
     * strings, or file paths; ca: client certificates must be signed by it. */
    tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer | Array<string | Buffer> };
  }

  /** The subset of http.IncomingMessage libws fills in for 'connection'. */
  interface UpgradeRequest {
    method: string;
    /** Request target, e.g. "/chat?room=1". */
    url: string;
    httpVersion: string;
    httpVersionMajor: number;
    httpVersionMinor: number;
    /** Lower-case names; repeated headers joined with ", " (set-cookie: array). */
    headers: { [name: string]: string | string[] | undefined };
    rawHeaders: string[];
    socket: {
      remoteAddress: string;
      remotePort: number;
      remoteFamily: 'IPv4' | 'IPv6';
      localAddress: string;
      localPort: number;
      encrypted: boolean;
    };
    connection: UpgradeRequest['socket'];
  }

  interface AddressInfo {
    address: string;
    family: string;
    port: number;
  }

  class Server extends EventEmitter {
    constructor(options: ServerOptions, callback?: () => void);
    options: ServerOptions;
    /** The open connections (undefined with clientTracking: false). */
    clients: Set<WebSocket>;
    /** { address, family, port }; null once closed or if listening failed. */
    address(): AddressInfo | null;
    /**
     * Stop listening and end the server; the callback runs on 'close' (with an
     * Error if the server was not running). libws: unlike ws, which leaves open
     * connections alone (and calls back only once they are gone), every
     * connection of this server is closed with 1001 Going Away, waiting up to
     * closeTimeout for their close replies: the C ABI can stop a listener only
     * by shutting down its hub. The connections' 'close' events come before
     * the server's.
     */
    close(cb?: (err?: Error) => void): void;
    /** ws's path check. */
    shouldHandle(request: UpgradeRequest): boolean;
    /** As in ws: complete the upgrade of a request from an http(s).Server's
     * 'upgrade' event, then call back with the connection (not emitting
     * 'connection': the callback usually does). */
    handleUpgrade(request: IncomingMessage, socket: import('stream').Duplex, head: Buffer,
      callback: (ws: WebSocket, request: IncomingMessage) => void): void;
    /**
     * libws (uWebSockets.js' name): send data to every subscriber of topic
     * (see WebSocket#subscribe), framed once; with `broker`, on every server
     * sharing it. options: { binary } or a boolean isBinary; by default binary
     * unless data is a string. Returns false once the server is closed.
     * Topics are 1 to 1024 bytes (RangeError otherwise).
     */
    publish(topic: string | Buffer, data: Data, options?: { binary?: boolean } | boolean): boolean;
    /** libws: this server's open connections subscribed to topic (not other servers'). */
    numSubscribers(topic: string | Buffer): number;
    /** libws: the broker connected (and resubscribed) or went down; publishes
     * reach this server's subscribers meanwhile, others' are dropped. */
    on(event: 'broker', listener: (state: 'up' | 'down', detail: string) => void): this;

    on(event: 'connection', listener: (socket: WebSocket, request: UpgradeRequest) => void): this;
    on(event: 'listening', listener: () => void): this;
    /** Before the 101: push "Name: value" strings onto headers to add response headers. */
    on(event: 'headers', listener: (headers: string[], request: UpgradeRequest) => void): this;
    on(event: 'close', listener: () => void): this;
    /** Listening failed (err.code 'EADDRINUSE' ...) or a hub error. */
    on(event: 'error', listener: (err: Error & { code?: string }) => void): this;
    on(event: string | symbol, listener: (...args: any[]) => void): this;
    once(event: 'connection', listener: (socket: WebSocket, request: UpgradeRequest) => void): this;
    once(event: 'listening' | 'close', listener: () => void): this;
    once(event: 'error', listener: (err: Error & { code?: string }) => void): this;
    once(event: string | symbol, listener: (...args: any[]) => void): this;
  }
}

declare class WebSocket extends EventEmitter {
  static readonly CONNECTING: 0;
  static readonly OPEN: 1;
  static readonly CLOSING: 2;
  static readonly CLOSED: 3;
  readonly CONNECTING: 0;
  readonly OPEN: 1;
  readonly CLOSING: 2;
  readonly CLOSED: 3;

  /**
   * Decodes the frame header at the start of buf, with the rules of
   * ws_parse_header (implemented in JavaScript: a call into the Go export
   * costs ~100 us from the main thread). Returns null when buf does not hold
   * the whole header yet; throws an Error with code 'WS_EPROTO' for a reserved
   * opcode, a fragmented control frame, a control payload over 125 bytes or a
   * 64-bit length with its top bit set. `length` is a bigint above 2^53 - 1.
   */
  static parseHeader(buf: ArrayBufferView | ArrayBuffer): WebSocket.FrameHeader | null;
  /**
   * XORs buf in place with the 4-byte key from key byte `offset & 3` on and
   * returns the key offset for the byte after buf. JavaScript below 512 KiB
   * (~2 GB/s), the ws_mask Go export (AVX2) above, where it pays for the
   * ~100 us crossing; not meant for a per-message hot path on the main thread.
   */
  static mask(buf: ArrayBufferView | ArrayBuffer, key: ArrayBufferView | ArrayBuffer, offset?: number): number;
  static unmask: typeof WebSocket.mask;
  /** The C ABI functions themselves (Go exports: ~0.5 us per call from the main thread). */
  static native: {
    parseHeader: typeof WebSocket.parseHeader;
    mask: typeof WebSocket.mask;
  };
  /** The libws.so this process loaded. */
  static libraryPath: string;
  /** ws_version(): "MAJOR.MINOR.PATCH" of the loaded library. */
  static version(): string;

  /** A client connection. The URL may be ws:, wss:, http: or https: (ws+unix: is
   * not supported). Errors in the URL or subprotocols throw a SyntaxError. */
  constructor(address: string | URL, options?: WebSocket.ClientOptions);
  constructor(address: string | URL, protocols?: string | string[], options?: WebSocket.ClientOptions);

  binaryType: WebSocket.BinaryType;
  /**
   * Bytes accepted by send() and not yet written to the socket, as in ws:
   * what was sent during the current loop turn counts in full (a 4 MiB send
   * reads ~4 MiB right after), then what libws still holds for the
   * connection; plus, as in ws, bytes passed to send() after the close.
   */
  readonly bufferedAmount: number;
  /** Negotiated extensions: a client has the server's Sec-WebSocket-Extensions
   * value; a server connection has 'permessage-deflate' when it was accepted
   * (libws does not report the parameters), else ''. */
  readonly extensions: string;
  /** Whether pause() is in effect (resume() ends it), as in ws. */
  readonly isPaused: boolean;
  readonly protocol: string;
  readonly readyState: 0 | 1 | 2 | 3;
  /** The URL of a client connection; undefined on the server side. */
  readonly url: string;
  /** libws: the peer's IP address. */
  readonly remoteAddress: string | undefined;
  /** libws: the round trip of the last keepalive ping, in ms (0 until one was answered). */
  readonly latency: number;

  onopen: ((event: WebSocket.Event) => void) | null;
  onerror: ((event: WebSocket.ErrorEvent) => void) | null;
  onclose: ((event: WebSocket.CloseEvent) => void) | null;
  onmessage: ((event: WebSocket.MessageEvent) => void) | null;

  /**
   * Queue a message. Throws while CONNECTING; after closing, the callback (if
   * any) gets an Error and nothing is sent. The callback runs once libws
   * holds none of the connection's bytes any more (the message was written
   * to the socket), or with an Error if the connection ended first. Blob
   * data is not supported.
   */
  send(data: Data, cb?: (err?: Error) => void): void;
  send(data: Data, options: WebSocket.SendOptions, cb?: (err?: Error) => void): void;
  /** Ping with up to 125 bytes (RangeError above). `mask` is ignored. */
  ping(data?: Data, mask?: boolean, cb?: (err?: Error) => void): void;
  pong(data?: Data, mask?: boolean, cb?: (err?: Error) => void): void;
  /**
   * Start the closing handshake; 'close' follows when the peer answered (or
   * after the close timeout). code: 1000-1014 (not 1004-1006) or 3000-4999,
   * else TypeError; reason at most 123 bytes, else RangeError. While
   * CONNECTING, aborts the handshake ('error', then 'close' 1006).
   */
  close(code?: number, reason?: string | Buffer): void;
  /** Drop the connection without a closing handshake ('close' 1006 follows). */
  terminate(): void;
  /** Stop reading from the peer (the hub stops reading its socket, so TCP
   * pushes back on it); messages libws already read are still emitted. No-op
   * while CONNECTING or once CLOSED, as in ws. Independently of pause(), a
   * server connection is not read from while its unsent bytes are over the
   * high-water mark. */
  pause(): void;
  /** Read from the peer again after pause(). */
  resume(): void;
  /** libws (uWebSockets.js' names): subscribe to a topic (1 to 1024 bytes);
   * the connection gets every publish to it until unsubscribe() or its close.
   * Return false when the connection is not open (unsubscribe: or was not
   * subscribed). */
  subscribe(topic: string | Buffer): boolean;
  unsubscribe(topic: string | Buffer): boolean;
  isSubscribed(topic: string | Buffer): boolean;
  getTopics(): string[];
  /** libws: publish to every subscriber of topic but this connection. */
  publish(topic: string | Buffer, data: Data, options?: { binary?: boolean } | boolean): boolean;

  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: ((event: any) => void) | { handleEvent(event: any): void }, options?: WebSocket.EventListenerOptions): void;
  removeEventListener(type: 'open' | 'close' | 'error' | 'message', listener: ((event: any) => void) | { handleEvent(event: any): void }): void;

  on(event: 'open', listener: () => void): this;
  /** Data is a Buffer for text (isBinary false) and, by default, binary messages. */
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
  /** code: the peer's close code (1005 none, 1006 dropped, or the code libws sent
   * when the peer broke the protocol, e.g. 1007); reason: a Buffer. */
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'error', listener: (err: WebSocket.WebSocketError) => void): this;
  /** libws answered the ping already unless autoPong is false. */
  on(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  /** Client: the handshake response (headers only). */
  on(event: 'upgrade', listener: (response: WebSocket.UpgradeResponse) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'open', listener: () => void): this;
  once(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
  once(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  once(event: 'error', listener: (err: WebSocket.WebSocketError) => void): this;
  once(event: 'ping' | 'pong', listener: (data: Buffer) => void): this;
  once(event: 'upgrade', listener: (response: WebSocket.UpgradeResponse) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

declare const WebSocketAlias: typeof WebSocket;
interface WebSocketAlias extends WebSocket {}

declare namespace WebSocket {
  type RawData = Buffer | ArrayBuffer | Buffer[];
  type Data = string | Buffer | ArrayBuffer | ArrayBufferView | number | readonly Uint8Array[] | readonly number[];
  /** As in ws: a Duplex over ws; a slow reader pauses the socket (ws.pause()). */
  function createWebSocketStream(websocket: WebSocket, options?: DuplexOptions): Duplex;
  const WebSocketServer: typeof Server;
  interface WebSocketServer extends Server {}
  const WebSocket: typeof WebSocketAlias;
  interface WebSocket extends WebSocketAlias {}

  interface FrameHeader {
    fin: boolean;
    /** Reserved bits as a number: RSV1 = 4, RSV2 = 2, RSV3 = 1. */
    rsv: number;
    opcode: number;
    masked: boolean;
    /** The 4-byte masking key, or null. */
    mask: Buffer | null;
    length: number | bigint;
    /** Size of the encoded header (2..14). */
    headerLength: number;
  }
}

export = WebSocket;
