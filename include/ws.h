/*
 * ws.h -- the C interface of libws, an RFC 6455 WebSocket engine.
 *
 * libws is written in Go and shipped as the shared library libws.so. This
 * header is the whole public contract: every function is documented above
 * its declaration with what it does, who owns each pointer, how long a
 * returned pointer stays valid, the errors it returns, whether it blocks and
 * which threads may call it.
 *
 * ----------------------------------------------------------------------
 * Layers
 * ----------------------------------------------------------------------
 *   1. Frame primitives (ws_parse_header, ws_encode_header, ws_mask,
 *      ws_accept_key, ws_utf8_valid): stateless, no allocation, no handle.
 *   2. ws_parser_t: the RFC 6455 state machine without I/O. Feed it the
 *      bytes you received, take frames or whole messages out, send the bytes
 *      it gives you. For applications with their own event loop.
 *   3. ws_listener_t / ws_conn_t: connections whose sockets Go runs, with
 *      blocking reads and writes (ws_listen, ws_accept, ws_adopt_fd,
 *      ws_connect, ws_read_message, ws_write_message, ws_close ...).
 *   4. The event hub (ws_hub_*, at the end of this file) for async hosts.
 *
 *   Choosing between 3 and 4 for a server: a thread per connection on layer
 *   3 is the simplest to write, but each message then wakes its own host
 *   thread and passes it through the Go scheduler; on two cores that
 *   costs about 2.4 times the server CPU per message of the hub, which
 *   runs every connection from one thread and batches its events (see
 *   bench/README.md). Serve many connections from the hub.
 *
 * ----------------------------------------------------------------------
 * Conventions
 * ----------------------------------------------------------------------
 * Results. Functions return int: WS_OK (0) or a positive count on success,
 *   a negative WS_E* code on failure. ws_strerror(code) names a code. Parsing
 *   functions return the number of bytes consumed (> 0), 0 for "need more
 *   bytes", or a negative code.
 *
 * Error messages. Every failing call records a detailed message twice:
 *   - for the calling thread: ws_errmsg(). This is the only place for the
 *     message of a call that has no handle or failed to create one
 *     (ws_connect, ws_listen, ws_parse_header, ...).
 *   - on the handle it was called on: ws_conn_errmsg(c), ws_parser_errmsg(p),
 *     ws_listener_errmsg(l), ws_options_errmsg(o).
 *   Successful calls leave both unchanged (like errno), so read the message
 *   right after the failing call.
 *   A message starts with "libws: " once, then says what failed, e.g.
 *   "libws: ws_connect ws://h/: handshake failed (403): ...".
 *
 * Handles. ws_options_t, ws_parser_t, ws_listener_t and ws_conn_t are
 *   opaque. Each has exactly one constructor (ws_*_new, ws_listen, ws_accept,
 *   ws_adopt_fd, ws_connect) and one destructor (ws_*_free); freeing NULL is
 *   a no-op. A handle that was freed, or a pointer that never was a handle
 *   of that type, makes every call return WS_EBADHANDLE instead of crashing
 *   (and freeing it again is a no-op). libws recognises the last 1024 freed
 *   handles for certain; after that a stale pointer may in principle equal a
 *   newer handle's address, as with any allocator, so do not rely on
 *   WS_EBADHANDLE as a feature.
 *
 * Ownership. Input buffers stay the caller's: libws reads them during the
 *   call only and never keeps a pointer to them. Data handed back is either
 *   copied into a caller buffer (ws_read_message_into, ws_close_status) or
 *   borrowed, and then its lifetime is stated in the function's
 *   documentation, usually "until the next call on the same handle".
 *   Borrowed data lives in one of two places, both owned by the handle:
 *     - C heap memory (malloc) owned by a ws_parser_t: frame payloads
 *       returned by ws_parser_next;
 *     - Go heap memory pinned with runtime.Pinner until the next call on the
 *       handle: ws_parser_output, and the payloads of ws_read_frame and
 *       ws_read_message.
 *   Either way: never free it, never write to it, and copy what you want to
 *   keep. Borrowed data pointers are never NULL, even for zero lengths.
 *   String results (ws_version, ws_strerror, ws_*_errmsg,
 *   ws_conn_subprotocol, ws_conn_path, ws_conn_headers, ws_conn_peer) are
 *   NUL-terminated and owned by libws.
 *
 * Threads. Frame primitives and ws_strerror/ws_version/ws_errmsg may be
 *   called from any thread at any time. Each handle type documents its own
 *   rules; in short: a ws_conn_t allows one thread reading while other
 *   threads write, ping or close; a ws_listener_t may be used from any
 *   threads; a ws_parser_t and a ws_options_t should be used by one thread
 *   at a time (calls are serialised by a lock, so concurrent use cannot
 *   corrupt memory, but it invalidates borrowed pointers).
 *
 * Blocking. Only functions documented as blocking wait for the network:
 *   ws_accept, ws_adopt_fd, ws_connect, ws_read_*, ws_write_*, ws_ping,
 *   ws_pong and ws_close. Everything else returns at once.
 *
 * Process rules that come from the Go runtime inside libws.so:
 *   - The Go runtime starts when libws.so is loaded: it creates threads and
 *     installs signal handlers (it chains to handlers installed before it;
 *     install your own with SA_ONSTACK). SIGPIPE from libws's own sockets
 *     never kills the process.
 *   - Not fork-safe: after fork() only the parent may use libws. A child
 *     that calls into libws (or runs anything that touches the Go scheduler)
 *     may hang; a child must exec() or _exit() without calling libws.
 *   - Only one Go c-shared library per process: loading libws.so next to
 *     another shared library built with -buildmode=c-shared is unsupported
 *     by Go.
 *   - Memory for handles and Go objects is managed by Go's garbage
 *     collector; malloc'd memory is always released by the destructors.
 *
 * Building against it: include this header and link with -lws (pkg-config
 * libws, or CMake find_package(libws) and target libws::libws). The header
 * needs only <stdint.h> and <stddef.h> and is C99 and C++ compatible.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================
 * Version
 * ====================================================================== */
#define WS_VERSION_MAJOR 0
#define WS_VERSION_MINOR 1
#define WS_VERSION_PATCH 0
#define WS_VERSION_STRING "0.1.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, comparable with ws_version_number(). */
#define WS_VERSION_NUMBER \
    (WS_VERSION_MAJOR * 10000 + WS_VERSION_MINOR * 100 + WS_VERSION_PATCH)

/* ======================================================================
 * Result codes
 * ====================================================================== */
#define WS_OK          0    /* success                                        */
#define WS_EINVAL      (-1) /* invalid argument (NULL, range, wrong opcode)   */
#define WS_EBADHANDLE  (-2) /* freed, made-up or wrong-type handle            */
#define WS_ENOMEM      (-3) /* out of memory                                  */
#define WS_EPROTO      (-4) /* the peer broke RFC 6455 (close code 1002)      */
#define WS_EUTF8       (-5) /* invalid UTF-8 in text or close reason (1007)   */
#define WS_ETOOBIG     (-6) /* frame or message over the limit (1009)        */
#define WS_ECLOSED     (-7) /* connection closed / close already sent         */
#define WS_ETIMEDOUT   (-8) /* a timeout expired                              */
#define WS_EIO         (-9) /* network or system error (refused, reset ...)   */
#define WS_EHANDSHAKE  (-10) /* the opening handshake was refused or invalid  */
#define WS_ETLS        (-11) /* TLS handshake, certificate or key error       */
#define WS_ENOSPACE    (-12) /* caller buffer too small (size reported)       */
#define WS_EAGAIN      (-13) /* nothing ready now and the call may not wait   */
#define WS_EINTERNAL   (-14) /* a bug in libws (a recovered Go panic)         */
#define WS_EPOLICY     (-15) /* a limit of the hub: send buffer full, hub-wide
                                memory cap (close code 1008)                  */
#define WS_EINTR       (-16) /* a signal handler ran while ws_hub_poll waited  */

/* ======================================================================
 * Protocol constants
 * ====================================================================== */
#define WS_OP_CONTINUATION 0x0
#define WS_OP_TEXT         0x1
#define WS_OP_BINARY       0x2
#define WS_OP_CLOSE        0x8
#define WS_OP_PING         0x9
#define WS_OP_PONG         0xA

/* Reserved header bits as ws_header_t.rsv and ws_frame_t.rsv hold them. */
#define WS_RSV1 0x4
#define WS_RSV2 0x2
#define WS_RSV3 0x1

#define WS_CLOSE_NORMAL           1000
#define WS_CLOSE_GOING_AWAY       1001
#define WS_CLOSE_PROTOCOL_ERROR   1002
#define WS_CLOSE_UNSUPPORTED_DATA 1003
#define WS_CLOSE_NO_STATUS        1005 /* never sent: close frame had no code */
#define WS_CLOSE_ABNORMAL         1006 /* never sent: dropped without a close */
#define WS_CLOSE_INVALID_PAYLOAD  1007
#define WS_CLOSE_POLICY_VIOLATION 1008
#define WS_CLOSE_MESSAGE_TOO_BIG  1009
#define WS_CLOSE_MANDATORY_EXT    1010
#define WS_CLOSE_INTERNAL_ERROR   1011

#define WS_MAX_HEADER_SIZE      14  /* largest encoded frame header          */
#define WS_MAX_CONTROL_PAYLOAD  125 /* largest ping/pong/close payload       */
#define WS_MAX_CLOSE_REASON     123 /* a reason buffer of 124 always suffices */

/* Roles for ws_parser_new. The server expects masked input, the client
 * masks what it sends. */
#define WS_ROLE_SERVER 0
#define WS_ROLE_CLIENT 1

/* Flags for ws_parser_next. */
#define WS_MESSAGES 0x1 /* join fragments: return whole data messages */

/* Flags for ws_read_message_timeout. */
#define WS_READ_CONTROL 0x1 /* also return pings and pongs, in arrival order */

/* ======================================================================
 * Types
 * ====================================================================== */

/* A decoded frame header (RFC 6455 section 5.2). */
typedef struct ws_header {
    uint8_t fin;     /* 1 if this is the final fragment                   */
    uint8_t rsv;     /* reserved bits: WS_RSV1 | WS_RSV2 | WS_RSV3        */
    uint8_t opcode;  /* WS_OP_*                                           */
    uint8_t masked;  /* 1 if a masking key follows                        */
    uint8_t mask[4]; /* the masking key when masked                       */
    uint64_t length; /* payload length, at most 2^63 - 1                  */
} ws_header_t;

/* A frame or whole message handed to the application. data is borrowed:
 * the function that filled the struct says for how long it stays valid.
 * data is never NULL (it points at a valid byte even when len is 0). */
typedef struct ws_frame {
    int opcode;          /* WS_OP_*; whole messages: WS_OP_TEXT/BINARY      */
    int fin;             /* 1 on final fragments and whole messages         */
    int rsv;             /* reserved bits (0 without extensions)            */
    const uint8_t *data; /* unmasked payload                                */
    size_t len;          /* payload length                                  */
} ws_frame_t;

typedef struct ws_options ws_options_t;   /* settings, copied at use      */
typedef struct ws_parser ws_parser_t;     /* sans-I/O protocol engine     */
typedef struct ws_listener ws_listener_t; /* a listening socket           */
typedef struct ws_conn ws_conn_t;         /* a live WebSocket connection  */

/* ======================================================================
 * Options (ws_options_set_int / ws_options_set_str)
 *
 * Numbering: 1-49 integer options, 50-99 string options of this section,
 * 100-199 event hub options, 200-299 compression options. Each option
 * says which constructors read it; others ignore it.
 * ====================================================================== */

/* Integer options. */
/* Largest accepted frame payload in bytes; a larger frame fails the
 * connection with close 1009 before it is buffered. 0 (default) = same as
 * WS_OPT_MAX_MESSAGE_SIZE. Parser and connections. */
#define WS_OPT_MAX_FRAME_SIZE     1
/* Largest accepted message (sum of fragments); 1009 when exceeded.
 * 0 (default) = 64 MiB. Parser and connections. */
#define WS_OPT_MAX_MESSAGE_SIZE   2
/* 1 (default): answer every ping with a pong automatically. 0: don't.
 * Parser and connections. */
#define WS_OPT_AUTO_PONG          3
/* 1 (default): answer the peer's close frame automatically. 0: the
 * application must call ws_close / ws_parser_close itself. */
#define WS_OPT_AUTO_CLOSE         4
/* Bound on connect + TLS + opening handshake in ms (ws_connect, ws_accept's
 * per-client handshake, ws_adopt_fd). 0 = no bound. Default 10000. */
#define WS_OPT_TIMEOUT_MS         5
/* How long ws_close waits for the peer's close reply, in ms (>= 1).
 * Default 5000. */
#define WS_OPT_CLOSE_TIMEOUT_MS   6
/* Client TLS: 1 (default) verifies the server certificate and name; 0
 * accepts any certificate (testing only). */
#define WS_OPT_TLS_VERIFY         7
/* Bound on each ws_read_frame / ws_read_message / ws_read_message_into
 * call in ms; 0 (default) = wait forever. After such a read times out
 * (WS_ETIMEDOUT) the connection can only be closed. For a bound that
 * leaves the connection usable, give ws_read_message_timeout one (it
 * ignores this option). */
#define WS_OPT_READ_TIMEOUT_MS    8
/* Bound on each ws_write_* / ws_ping / ws_pong call in ms; 0 (default) =
 * none. After a write times out the connection can only be closed. */
#define WS_OPT_WRITE_TIMEOUT_MS   9
/* Size of the buffer socket reads go through, bytes. 0 (default): a plain
 * TCP connection borrows a pooled 32 KiB buffer while data arrives and an
 * idle one holds none (TLS keeps 4 KiB of its own); 64 and up: the
 * connection's own buffer of that size. */
#define WS_OPT_READ_BUFFER_SIZE   10
/* Size of the buffer frames are assembled in when they cannot go out as
 * they are, bytes. 0 (default): borrowed from a pool per write; 64 and up:
 * the connection's own. */
#define WS_OPT_WRITE_BUFFER_SIZE  11

/* String options (copied by ws_options_set_str; NULL unsets). */
/* Comma-separated subprotocols. Client: offered, most preferred first.
 * Server: supported, most preferred first; the first one the client also
 * offers is chosen (see ws_conn_subprotocol). */
#define WS_OPT_SUBPROTOCOLS       50
/* Extra HTTP headers as "Name: value\r\n" lines ("\n" also accepted).
 * Client: added to the upgrade request. Server: added to the 101 reply. */
#define WS_OPT_HEADERS            51
/* PEM certificate chain file. Server: turns TLS on (needs
 * WS_OPT_TLS_KEY_FILE too). Client: certificate presented for mutual TLS. */
#define WS_OPT_TLS_CERT_FILE      52
/* PEM private key file matching WS_OPT_TLS_CERT_FILE. */
#define WS_OPT_TLS_KEY_FILE       53
/* PEM CA bundle. Client: trusted roots instead of the system's. Server:
 * clients must present a certificate signed by one of them (mutual TLS). */
#define WS_OPT_TLS_CA_FILE        54
/* Client: sent as the Origin header. Server: comma-separated list of
 * allowed origins (case-insensitive exact match); a request whose Origin
 * is not listed gets 403. Requests without Origin (non-browsers) pass.
 * Unset (default) on a server allows every origin. */
#define WS_OPT_ORIGIN             55
/* Client TLS: the name to verify the certificate against (and send as
 * SNI) instead of the URL's host. */
#define WS_OPT_TLS_SERVER_NAME    56

/* Compression: permessage-deflate (RFC 7692), read by ws_listen,
 * ws_adopt_fd and ws_connect (per connection) and by ws_hub_new,
 * ws_hub_listen and ws_hub_connect. A server accepts it when a client
 * offers it (every browser does); a client offers it. Compressed messages
 * are inflated before the message functions and events return them, and
 * WS_OPT_MAX_MESSAGE_SIZE applies to the inflated size, checked while
 * inflating (a decompression bomb fails with 1009 before the memory is
 * spent). The raw frame functions return frames as on the wire (WS_RSV1
 * set, payload compressed). ws_parser_t does not negotiate extensions.
 *
 * Memory per connection: without context takeover (the default) nothing
 * is held between messages (compressors are pooled); with takeover about
 * 480 KiB for the compressor at level 1 and 77 KiB to inflate. */
#define WS_OPT_COMPRESSION                200 /* 1: enable; 0 (default): off             */
#define WS_OPT_COMPRESSION_LEVEL          201 /* flate level 1 (default, fastest) to 9    */
#define WS_OPT_COMPRESSION_THRESHOLD      202 /* send messages shorter than this uncompressed (default 128) */
#define WS_OPT_COMPRESSION_TAKEOVER       203 /* 1: keep context across messages where the peer agrees; 0 (default): *_no_context_takeover */
#define WS_OPT_COMPRESSION_MAX_WINDOW_BITS 204 /* 8-15: ask the peer to compress with at most 2^n window; 0 (default): no request */

#ifndef WS_NO_PROTOTYPES
/* WS_NO_PROTOTYPES is defined only while libws's own Go code includes this
 * header for its types and constants; applications never define it. */

/* ======================================================================
 * Version and errors
 * ====================================================================== */

/* The library's version as "MAJOR.MINOR.PATCH", e.g. "0.1.0". Static
 * string. Compare with WS_VERSION_STRING to detect a header/library
 * mismatch. Any thread. */
const char *ws_version(void);

/* The library's version as MAJOR * 10000 + MINOR * 100 + PATCH (compare
 * with WS_VERSION_NUMBER). Any thread. */
int ws_version_number(void);

/* A static English description of a result code ("invalid argument" ...);
 * unknown codes give "unknown error". Never NULL, never to be freed. Any
 * thread. */
const char *ws_strerror(int code);

/* The detailed message of the most recent failed libws call made by the
 * calling thread, whatever its handle, or "" if none failed yet. The
 * string is thread-local, owned by libws, and valid until the calling
 * thread's next failing libws call (messages over 511 bytes are cut).
 * Any thread. */
const char *ws_errmsg(void);

/* ======================================================================
 * Frame primitives: stateless, allocation-free, any thread.
 * ====================================================================== */

/* Decode the frame header at the start of buf[0..len). Returns the size of
 * the encoded header (2..14) and fills *out; returns 0 if buf does not yet
 * hold the whole header (*out is then unspecified). Only header bytes are
 * read, never the payload. Returns WS_EPROTO for headers no connection may
 * accept: reserved opcodes, fragmented control frames, control payloads
 * over 125 bytes, 64-bit lengths with the top bit set. Rules that depend on
 * the connection (masking direction, reserved bits) are NOT checked here:
 * the parser and connections check them. WS_EINVAL if out is NULL, or buf
 * is NULL while len > 0. */
int ws_parse_header(const uint8_t *buf, size_t len, ws_header_t *out);

/* Encode *h into buf[0..cap) in the smallest length encoding. Returns the
 * bytes written (2..14; WS_MAX_HEADER_SIZE always suffices), WS_ENOSPACE if
 * cap is too small, WS_EINVAL for NULL pointers, opcode > 15, rsv > 7 or
 * length >= 2^63. The payload is not written and not masked: apply ws_mask
 * with h->mask to it. Other fields are encoded as given (no protocol rules
 * are enforced, so tests can build invalid frames). */
int ws_encode_header(const ws_header_t *h, uint8_t *buf, size_t cap);

/* XOR buf[0..len) in place with the 4-byte masking key, starting at key
 * byte offset & 3, and return the key offset for the byte after buf, so a
 * payload can be (un)masked in pieces:
 *     size_t off = ws_mask(p, k, key, 0);  ws_mask(p + k, n - k, key, off);
 * equals ws_mask(p, n, key, 0). Masking twice restores the data. Uses AVX2
 * when the CPU has it. If buf or key is NULL (with len > 0) nothing is
 * done and offset & 3 is returned. */
size_t ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], size_t offset);

/* Compute the Sec-WebSocket-Accept value for a NUL-terminated
 * Sec-WebSocket-Key and write it, NUL-terminated, to out (29 bytes: 28
 * characters and the NUL). The key is not validated. WS_OK, or WS_EINVAL
 * for NULL pointers. */
int ws_accept_key(const char *key, char out[29]);

/* 1 if data[0..len) is valid UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), 0 if not, WS_EINVAL if data is NULL while
 * len > 0. */
int ws_utf8_valid(const uint8_t *data, size_t len);

/* ======================================================================
 * Options handle
 *
 * Settings for ws_parser_new, ws_listen, ws_adopt_fd and ws_connect. The
 * constructors copy what they need when called, so an options handle may
 * be changed, reused or freed right after. Passing NULL instead of an
 * options handle means all defaults.
 * ====================================================================== */

/* Create an options handle holding the defaults. *out receives it (NULL on
 * failure). Free with ws_options_free. WS_EINVAL if out is NULL. */
int ws_options_new(ws_options_t **out);

/* Free an options handle. NULL and stale handles are a no-op. */
void ws_options_free(ws_options_t *o);

/* Set an integer option (WS_OPT_* numbered below 50 or a hub/compression
 * integer option). WS_EINVAL for an unknown option, a string option, or a
 * value out of the option's range; WS_EBADHANDLE for a bad handle. */
int ws_options_set_int(ws_options_t *o, int opt, int64_t value);

/* Set a string option; the string is copied. value NULL restores the
 * default (unset). WS_EINVAL for an unknown option or an integer option. */
int ws_options_set_str(ws_options_t *o, int opt, const char *value);

/* Read an integer option's current value (its default if never set) into
 * *value. WS_EINVAL for unknown or string options or NULL value. */
int ws_options_get_int(const ws_options_t *o, int opt, int64_t *value);

/* Message of the last failed call on o; "" if none. Owned by o, valid
 * until the next call on o. NULL only for a bad handle. */
const char *ws_options_errmsg(const ws_options_t *o);

/* ======================================================================
 * Parser: the protocol without I/O (bring your own sockets)
 *
 * Typical loop:
 *     ws_parser_feed(p, bytes, n);                 // what recv() gave you
 *     while ((k = ws_parser_next(p, frames, 64, WS_MESSAGES)) > 0)
 *         handle frames[0..k);                     // valid until next call
 *     if (k < 0) ... the peer broke the protocol: send the output, close.
 *     ws_parser_output(p, &out, &outlen);          // pongs, close replies,
 *     sent = send(fd, out, outlen, 0);             // your messages
 *     ws_parser_consume(p, sent);
 *
 * Threads: one thread at a time per parser (calls are serialised by a lock,
 * so concurrent calls are memory-safe but invalidate borrowed pointers).
 * Nothing blocks. Different parsers are independent.
 * ====================================================================== */

/* Create a parser for role WS_ROLE_SERVER (expects masked input, sends
 * unmasked) or WS_ROLE_CLIENT (the reverse). Reads WS_OPT_MAX_FRAME_SIZE,
 * WS_OPT_MAX_MESSAGE_SIZE, WS_OPT_AUTO_PONG, WS_OPT_AUTO_CLOSE from opts
 * (NULL = defaults; copied). *out receives the parser (NULL on failure).
 * WS_EINVAL for a NULL out or an unknown role; WS_EBADHANDLE for a bad
 * opts handle. */
int ws_parser_new(ws_parser_t **out, int role, const ws_options_t *opts);

/* Free a parser and everything it lent out. NULL and stale handles are a
 * no-op. */
void ws_parser_free(ws_parser_t *p);

/* Hand received bytes to the parser. They are copied (buf is not used
 * after the call) and are not parsed until ws_parser_next. len 0 is a
 * no-op. WS_OK; WS_EINVAL if buf is NULL while len > 0. */
int ws_parser_feed(ws_parser_t *p, const uint8_t *buf, size_t len);

/* Parse as many frames as are complete, up to max, into frames[0..max).
 * Without flags every frame is returned as it came (fragments too). With
 * WS_MESSAGES fragments are joined: each data message is returned once,
 * whole (fin = 1, opcode text or binary), and control frames that arrive
 * between fragments are returned in arrival order.
 *
 * Returns the number of entries filled (1..max), or 0 when more input is
 * needed. Every rule of RFC 6455 is enforced: when the peer breaks one, the
 * call returns WS_EPROTO, WS_EUTF8 (close 1007) or WS_ETOOBIG (close 1009),
 * and the close frame carrying that code is queued in the output: send it
 * and close the socket. The error is returned by every later call too. If
 * some frames were parsed before the violation, they are returned first
 * and the error comes with the next call.
 *
 * Control frames: pings are returned after their pong was queued (unless
 * WS_OPT_AUTO_PONG is 0); the peer's close frame (opcode WS_OP_CLOSE, data
 * = its raw payload) is returned after the close reply was queued (unless
 * WS_OPT_AUTO_CLOSE is 0) and is always the last entry; every later call
 * returns WS_ECLOSED, and ws_parser_close_status tells the code.
 *
 * Each frames[i].data points into memory owned by the parser (C heap),
 * valid until the next call on p (any ws_parser_* function) or
 * ws_parser_free. Text is validated as UTF-8 before it is returned.
 * WS_EINVAL for NULL frames, max < 1 or unknown flags. */
int ws_parser_next(ws_parser_t *p, ws_frame_t *frames, int max, int flags);

/* Queue one frame for sending: opcode WS_OP_TEXT, WS_OP_BINARY,
 * WS_OP_CONTINUATION (fin 0 on all fragments but the last), WS_OP_PING or
 * WS_OP_PONG (fin 1, at most 125 bytes). The payload is copied and masked
 * if the role is client. Fragment order is not checked on sending, nor is
 * UTF-8 (see ws_utf8_valid). WS_EINVAL for other opcodes (use
 * ws_parser_close for close frames), oversized control payloads or a NULL
 * buf with len > 0; WS_ECLOSED once a close frame was queued. */
int ws_parser_write(ws_parser_t *p, int opcode, int fin, const uint8_t *buf,
                    size_t len);

/* Queue a close frame with code (0 = no status code, then reason must be
 * NULL or "") and an optional UTF-8 reason (NULL = none; cut to 123 bytes
 * at a character boundary). Codes that may not be sent (1005, 1006, 1015,
 * unassigned ones) and invalid UTF-8 reasons give WS_EINVAL. WS_ECLOSED if
 * a close frame was queued already (by this function, by the automatic
 * reply, or because of a protocol violation). */
int ws_parser_close(ws_parser_t *p, int code, const char *reason);

/* Borrow the bytes waiting to be sent: *data and *len are set (len 0 if
 * nothing is waiting). The memory is Go memory pinned until the next call
 * on p; report what you sent with ws_parser_consume. WS_EINVAL for NULL
 * pointers. */
int ws_parser_output(ws_parser_t *p, const uint8_t **data, size_t *len);

/* Drop the first n bytes of the output (what send() accepted). WS_EINVAL if
 * n exceeds the bytes waiting. */
int ws_parser_consume(ws_parser_t *p, size_t n);

/* The peer's close status. Returns 1 if its close frame has arrived, with
 * *code set to its code (WS_CLOSE_NO_STATUS if it carried none) and its
 * reason copied NUL-terminated into reason[0..cap) (cut at a character
 * boundary to fit; a 124-byte buffer always suffices). Returns 0 if no
 * close frame has arrived yet (*code = 0, reason = ""). code and reason
 * may each be NULL; reason with cap 0 is left alone. */
int ws_parser_close_status(ws_parser_t *p, int *code, char *reason,
                           size_t cap);

/* Message of the last failed call on p; "" if none. Owned by p, valid until
 * the next call on p. NULL only for a bad handle. */
const char *ws_parser_errmsg(const ws_parser_t *p);

/* ======================================================================
 * Listeners and connections (I/O done by Go)
 *
 * Sockets, TLS (Go's crypto/tls) and the opening handshake are handled
 * inside libws; calls that wait for the network are marked BLOCKING.
 * ====================================================================== */

/* Listen for WebSocket clients on host:port. host NULL or "" means all
 * interfaces; port 0 picks a free port (see ws_listener_port). Opening
 * handshakes run in the background, concurrently, each bounded by
 * WS_OPT_TIMEOUT_MS; ws_accept hands out the connections that completed
 * theirs. A client whose handshake fails gets its HTTP error reply and is
 * dropped without disturbing the listener. Any path is accepted. TLS is on
 * when WS_OPT_TLS_CERT_FILE and WS_OPT_TLS_KEY_FILE are set. opts (NULL =
 * defaults) is copied, connection options included. *out receives the
 * listener (NULL on failure). Errors: WS_EINVAL (NULL out, port out of
 * 0..65535, only one of cert/key), WS_ETLS (unreadable certificate or key),
 * WS_EIO (address in use ...), WS_EBADHANDLE (opts). Does not block. */
int ws_listen(ws_listener_t **out, const char *host, int port,
              const ws_options_t *opts);

/* The port the listener is bound to (> 0), or a negative code. */
int ws_listener_port(const ws_listener_t *l);

/* BLOCKING. Take the next client whose opening handshake completed.
 * timeout_ms: -1 waits as long as needed, 0 returns WS_EAGAIN at once if
 * none is ready, > 0 waits at most that long and then returns
 * WS_ETIMEDOUT. Returns WS_ECLOSED when the listener is freed, also to a
 * thread blocked here at that moment. *out receives a connection (NULL on
 * failure) to free with ws_conn_free; it is independent of the listener
 * and outlives it. Any number of threads may accept at once. */
int ws_accept(ws_listener_t *l, ws_conn_t **out, int timeout_ms);

/* Close the listening socket and free the listener. Connections already
 * returned by ws_accept are not affected; handshakes still in progress are
 * dropped. Threads blocked in ws_accept on it return WS_ECLOSED. NULL and
 * stale handles are a no-op. */
void ws_listener_free(ws_listener_t *l);

/* Message of the last failed call on l; "" if none. Owned by l, valid until
 * the next call on l. NULL only for a bad handle. */
const char *ws_listener_errmsg(const ws_listener_t *l);

/* BLOCKING. Run the server side of the opening handshake on fd, a
 * connected stream socket you accepted yourself (in blocking or
 * non-blocking mode), and make it a connection. OWNERSHIP: libws takes fd
 * whatever the result (also on failure, the only exception being
 * WS_EINVAL for fd < 0 or a NULL out): from the call on, do not read,
 * write or close fd; libws closes it (it works on a duplicate, so the
 * number fd may be reused by the process right after the call). TLS when
 * the certificate options are set, as for ws_listen. The handshake is
 * bounded by WS_OPT_TIMEOUT_MS. Errors: WS_EHANDSHAKE (the client got its
 * HTTP error reply), WS_EIO, WS_ETIMEDOUT, WS_ETLS, WS_EINVAL (fd not a
 * socket). */
int ws_adopt_fd(ws_conn_t **out, int fd, const ws_options_t *opts);

/* BLOCKING. Open a WebSocket to a ws:// or wss:// URL (TLS with the
 * system's roots unless WS_OPT_TLS_CA_FILE / WS_OPT_TLS_VERIFY say
 * otherwise). Connect, TLS and handshake are bounded together by
 * WS_OPT_TIMEOUT_MS. Reads WS_OPT_SUBPROTOCOLS, WS_OPT_HEADERS,
 * WS_OPT_ORIGIN, the TLS options and the connection options. *out receives
 * the connection (NULL on failure). Errors: WS_EINVAL (NULL pointers, bad
 * URL, a port outside 1..65535, bad header lines: all found before any
 * network access), WS_EIO (resolve or connect failed), WS_ETIMEDOUT,
 * WS_ETLS, WS_EHANDSHAKE (the server refused: ws_errmsg() has its HTTP
 * status). */
int ws_connect(ws_conn_t **out, const char *url, const ws_options_t *opts);

/* BLOCKING. Read the next frame as it came: data and control frames,
 * fragments as separate frames. Pings are returned after their automatic
 * pong went out, the peer's close frame (data = raw payload) after the
 * automatic close reply; every read after that returns WS_ECLOSED.
 * frame->data is borrowed (pinned Go memory) until the next ws_read_* call
 * on c, ws_close(c) or ws_conn_free(c). Errors: WS_ECLOSED (closed; a
 * connection that dropped without a close frame reports status 1006 in
 * ws_close_status), WS_EPROTO / WS_EUTF8 / WS_ETOOBIG (the peer broke the
 * protocol: libws sent the close frame with 1002 / 1007 / 1009 and closed
 * the socket), WS_ETIMEDOUT (WS_OPT_READ_TIMEOUT_MS), WS_EIO. One thread
 * reads at a time (concurrent readers are serialised); other threads may
 * write meanwhile. */
int ws_read_frame(ws_conn_t *c, ws_frame_t *frame);

/* BLOCKING. Read the next data message, fragments joined and text
 * validated; pings (answered automatically) and pongs are skipped. When the peer's
 * close frame arrives it is answered and WS_ECLOSED is returned, with the
 * code and reason in ws_close_status. frame->data is borrowed as for
 * ws_read_frame. Errors and threads as ws_read_frame. */
int ws_read_message(ws_conn_t *c, ws_frame_t *frame);

/* BLOCKING, at most timeout_ms. ws_read_message with a bound of its own
 * that leaves the connection usable: when it expires the call returns
 * WS_ETIMEDOUT, the connection stays open, and no byte is lost. A frame or
 * message that was partly received is kept, and the next ws_read_* call on
 * c goes on from there.
 *
 * timeout_ms: -1 waits as long as needed, > 0 waits at most that long, 0
 * does not wait (it returns only a message that a read given up on earlier
 * has finished meanwhile, and else starts one in the background, so a
 * later call may find it). WS_OPT_READ_TIMEOUT_MS does not apply.
 *
 * flags: 0, or WS_READ_CONTROL to also get the pings (already answered
 * unless WS_OPT_AUTO_PONG is 0) and pongs the peer sends, as frames with
 * opcode WS_OP_PING / WS_OP_PONG, in order with the messages. That is how
 * to wait for the pong to a ws_ping (RFC 6455 lets a peer answer only the
 * last of several pings):
 *     ws_ping(c, (const uint8_t *)"k1", 2);
 *     while ((rc = ws_read_message_timeout(c, &f, WS_READ_CONTROL, 5000)) == WS_OK
 *            && !(f.opcode == WS_OP_PONG && f.len == 2 && memcmp(f.data, "k1", 2) == 0))
 *         handle f (a message, a ping, an older pong);
 *     rc == WS_ETIMEDOUT: no pong within 5 s of the last frame.
 * The peer's close frame ends it as for ws_read_message.
 *
 * How: a read with a bound runs in a goroutine that carries on when the
 * call gives up; whatever it gets is what the next ws_read_* call on c
 * returns first (to ws_read_frame as one whole message or control frame).
 * A ws_close on c after a timeout waits for the peer's reply as usual and
 * discards what that read received.
 *
 * frame->data is borrowed as for ws_read_frame. Errors: WS_EINVAL (NULL
 * frame, unknown flags, timeout_ms < -1), WS_ETIMEDOUT (the connection
 * remains usable), and the errors of ws_read_message. Threads as
 * ws_read_frame. */
int ws_read_message_timeout(ws_conn_t *c, ws_frame_t *frame, int flags, int timeout_ms);

/* BLOCKING. ws_read_message, copying the payload into buf[0..cap). On
 * success *len is the payload length and *opcode (if not NULL) is
 * WS_OP_TEXT or WS_OP_BINARY. If the message is longer than cap, returns
 * WS_ENOSPACE with *len = the needed size, copies nothing and keeps the
 * message: the next ws_read_* call on c returns it (call again with a
 * larger buffer; buf NULL with cap 0 asks for the size alone). len must
 * not be NULL. Errors and threads as ws_read_message. */
int ws_read_message_into(ws_conn_t *c, int *opcode, uint8_t *buf, size_t cap,
                         size_t *len);

/* BLOCKING. Write one frame: opcode WS_OP_TEXT, WS_OP_BINARY,
 * WS_OP_CONTINUATION (fin 0 on all fragments but the last), WS_OP_PING or
 * WS_OP_PONG (fin 1, <= 125 bytes). buf is only read during the call. A
 * frame is written whole or not at all relative to other threads' writes.
 * Text is not validated. Errors: WS_EINVAL (opcode, control payload size,
 * NULL buf with len > 0; use ws_close for close frames), WS_ECLOSED (a
 * close frame was sent already, or a read found that the peer dropped the
 * connection: status 1006), WS_ETIMEDOUT (WS_OPT_WRITE_TIMEOUT_MS),
 * WS_EIO (the socket failed; writes keep failing after that). WS_OK means
 * the kernel took the frame, not that the peer got it: a write made after
 * the peer vanished but before anything told libws (no read saw it) may
 * succeed, and the peer's TCP reset to it then fails the next write. Any
 * number of threads may write; writes are serialised. */
int ws_write_frame(ws_conn_t *c, int opcode, int fin, const uint8_t *buf,
                   size_t len);

/* BLOCKING. Write a whole message as one frame; opcode WS_OP_TEXT or
 * WS_OP_BINARY. Otherwise as ws_write_frame. */
int ws_write_message(ws_conn_t *c, int opcode, const uint8_t *buf, size_t len);

/* BLOCKING. Send a ping / pong with up to 125 bytes of payload (buf may be
 * NULL when len is 0). As ws_write_frame. */
int ws_ping(ws_conn_t *c, const uint8_t *buf, size_t len);
int ws_pong(ws_conn_t *c, const uint8_t *buf, size_t len);

/* BLOCKING. Start (or finish) the close handshake: send a close frame with
 * code (0 = no status, then reason must be NULL or "") and an optional
 * UTF-8 reason (cut to 123 bytes), then wait up to WS_OPT_CLOSE_TIMEOUT_MS
 * for the peer's close frame and close the socket. If another thread is
 * reading c at that moment, ws_close does not wait: that reader receives
 * the peer's close frame (WS_ECLOSED) and the socket is closed then, or at
 * the timeout. Frames that arrive meanwhile are discarded, and borrowed
 * read data of c becomes invalid. Returns WS_OK; WS_ECLOSED if a close
 * frame was already sent (an earlier ws_close, or the automatic reply to
 * the peer's close: the handshake is then complete and the socket closed,
 * so WS_ECLOSED from ws_close is harmless); WS_EINVAL for codes that may
 * not be sent (1005, 1006, 1015, unassigned) or invalid UTF-8 reasons.
 * ws_conn_free is still needed afterwards. */
int ws_close(ws_conn_t *c, int code, const char *reason);

/* How the connection was closed by the peer. Returns 1 once known, with
 * *code = the peer's code (WS_CLOSE_NO_STATUS if its close frame had none,
 * WS_CLOSE_ABNORMAL if the connection dropped without one) and its reason
 * copied as for ws_parser_close_status; 0 while not known (*code = 0,
 * reason = ""). code and reason may each be NULL. Does not block. */
int ws_close_status(ws_conn_t *c, int *code, char *reason, size_t cap);

/* The subprotocol the handshake agreed on, "" if none. Owned by c, valid
 * until ws_conn_free(c). NULL only for a bad handle. Any thread. */
const char *ws_conn_subprotocol(const ws_conn_t *c);

/* What the opening handshake said, for connections from ws_accept and
 * ws_adopt_fd (server side) and from ws_connect (client side). Each
 * returns a NUL-terminated string owned by c, valid until ws_conn_free(c)
 * (the same pointer on every call); NULL only for a bad handle
 * (WS_EBADHANDLE in ws_errmsg). Do not block; any thread.
 *
 * ws_conn_path: server: the request target as the client sent it
 *   ("/chat?room=1", not decoded). Client: the target it asked for (the
 *   URL's path and query).
 * ws_conn_headers: server: the request's headers. Client: the headers of
 *   the server's 101 response (the request's are what you set). As
 *   "Name: value\r\n" lines, the format of the hub's open event: names in
 *   canonical form ("Sec-Websocket-Key"; compare names case-insensitively),
 *   sorted by name, a header sent several times on several lines, CR or
 *   LF inside a value turned into a space. Split on "\r\n" only.
 * ws_conn_peer: the peer's address as "ip:port" ("[::1]:5000" for IPv6),
 *   also after the connection closed. */
const char *ws_conn_path(const ws_conn_t *c);
const char *ws_conn_headers(const ws_conn_t *c);
const char *ws_conn_peer(const ws_conn_t *c);

/* Message of the last failed call on c; "" if none. Owned by c, valid until
 * the next call on c. With one thread reading and another writing, the
 * message may come from either thread's call; a returned string stays
 * readable through three further failures on c (it is released at the
 * fourth, or by ws_conn_free). NULL only for a bad handle. */
const char *ws_conn_errmsg(const ws_conn_t *c);

/* Free a connection. If it is still open the socket is closed at once,
 * without a close handshake (call ws_close first for a clean close).
 * Threads blocked in a read or write on c return (WS_ECLOSED or
 * WS_EBADHANDLE) before ws_conn_free returns; c must not be used after
 * that, and borrowed read data is invalid. NULL and stale handles are a
 * no-op. */
void ws_conn_free(ws_conn_t *c);

#endif /* WS_NO_PROTOTYPES */

/* ======================================================================
 * Event hub (ws_hub_*): see below.
 * ====================================================================== */
/*
 * The hub serves many connections (an epoll loop for plain-TCP server
 * connections, goroutines for TLS and client connections) and hands the
 * host their events in batches. It is made for hosts with their own event
 * loop (asyncio, Node/libuv, a C poll loop). It runs in one of two modes:
 *
 *   - Inline (the default): the hub has no thread of its own for its epoll
 *     loop. ws_hub_poll() runs it on the calling thread (reads the sockets
 *     that are ready, answers handshakes, pings and closes, and returns the
 *     events), and the send functions write to the socket at once from the
 *     calling thread. An echo costs no hand-over between threads, which is
 *     what makes a one-thread host as fast as a native server. The price:
 *     plain-TCP server connections make progress only while some thread is
 *     in ws_hub_poll(), so a host must poll whenever ws_hub_fd() is
 *     readable (and TLS and client connections, served by goroutines, still
 *     make progress on their own).
 *   - Threaded (WS_OPT_HUB_THREADED = 1): a thread of the hub serves the
 *     sockets whether the host polls or not; events are copied into a queue
 *     in C memory and sends are queued for that thread. ws_hub_poll() and
 *     the send functions are then plain C calls that never touch a socket.
 *
 *   - ws_hub_fd() is readable whenever ws_hub_poll() has something to do
 *     (inline: the loop's epoll fd, readable when a socket is ready, an
 *     event is queued or a timer is due; threaded: a pipe's read end,
 *     readable when events are queued). Watch it with poll/epoll, asyncio's
 *     loop.add_reader or a libuv poll handle, then call
 *     ws_hub_poll(hub, ..., 0). Wake-ups may be spurious (poll returns 0);
 *     they are never lost.
 *   - No callbacks into the host, ever.
 *
 * Connection ids are unique within a hub, never 0 and never reused. Events
 * of one connection arrive in order; its last event is WS_EVENT_CLOSE.
 *
 * THE ORDERING RULE: handle a whole batch and hand every reply to the hub
 * (ws_hub_send*, ws_hub_close ...) BEFORE polling again. The next
 * ws_hub_poll() / ws_hub_poll_raw() acknowledges the close and error
 * events of the batch before it; only then does the hub send its close
 * frame: the echo of a peer's close (its code and reason), or the
 * 1002/1007/1009 of a protocol error that followed valid messages in the
 * same read. So replies to a batch reach the peer before the close frame,
 * and a host that polls again before sending its replies has them refused
 * or dropped. The close timeout (WS_OPT_CLOSE_TIMEOUT_MS) bounds the wait
 * when the host does not poll.
 *
 * Connection ids in calls. An id the hub never handed out (0, or above
 * every id that reached the host through an event or ws_hub_connect) is
 * refused by every call that names a connection (ws_hub_send,
 * ws_hub_send_batch, ws_hub_send_raw, ws_hub_close, ws_hub_terminate,
 * ws_hub_pause, ws_hub_resume, ws_hub_buffered_amount, ws_hub_subscribe,
 * ws_hub_unsubscribe, ws_hub_publish's exclude, ws_hub_accept,
 * ws_hub_reject, ws_hub_set_user, ws_hub_user, ws_hub_latency) with WS_EINVAL and
 * the message "unknown connection N": it is a bug in the host. An id whose
 * connection is closing or gone is not an error, because a host replying
 * to the events of one batch cannot know which of those connections
 * closed meanwhile: sends, closes, pauses and resumes to it return WS_OK
 * and are dropped once the hub has acknowledged its close (the
 * WS_EVENT_CLOSE already told the host), and ws_hub_buffered_amount gives
 * 0.
 *
 * Errors: every failing hub call records a message for ws_errmsg() (the
 * calling thread's) and, when the hub handle is valid, for
 * ws_hub_errmsg(hub).
 *
 * Threads: ws_hub_poll() may be called by one thread at a time (it is the
 * consumer of the event queue). The send functions may be called from any
 * thread, concurrently with poll (on an inline hub a send may then wait
 * for the poller to finish serving what was ready, never for the network).
 * ws_hub_free() must not race with any other call on the same hub.
 */
typedef struct ws_hub ws_hub_t;

/* Hub options (ws_options_set_int / ws_options_set_str), besides the
 * connection options listed at ws_hub_new(). */
#define WS_OPT_HUB_HIGH_WATER       100 /* int: unsent bytes that raise WS_EVENT_BACKPRESSURE (1 MiB) */
#define WS_OPT_HUB_MAX_BUFFERED     101 /* int: unsent bytes at which a connection is failed with 1008, error WS_EPOLICY (64 MiB; every kind of connection) */
#define WS_OPT_HUB_PING_INTERVAL_MS 102 /* int: ping a connection quiet for this long (0: never) */
#define WS_OPT_HUB_IDLE_TIMEOUT_MS  103 /* int: drop a connection quiet for this long (0: never) */
#define WS_OPT_HUB_STATIC_DIR       104 /* str: answer plain HTTP GETs from this directory (listeners) */
#define WS_OPT_HUB_THREADED         105 /* int, hub only: 1 = serve sockets on a thread of the hub's own (see above); 0 = inline (default) */
/* int, hub only: a hub-wide cap on unsent bytes (256 MiB by default, at
 * least 1). When the bytes waiting to be sent to all connections together
 * pass it, the connections with the largest buffers are failed with 1008
 * (error event status WS_EPOLICY) until the total is under it again.
 * WS_OPT_HUB_MAX_BUFFERED still bounds each connection. */
#define WS_OPT_HUB_MAX_TOTAL_BUFFERED 106
/* int, listeners (or the hub, for all its listeners): 1 = set SO_REUSEPORT
 * before binding, so that several processes (or hubs) listen on one port
 * and the kernel spreads the connections among them (0 by default). */
#define WS_OPT_HUB_REUSEPORT        120
/* str, hub only: a Redis URL, "redis://host:port/db", that joins every hub
 * given the same one into one system of topics (see "Topics" below). NULL
 * or "" (the default): topics live in this hub alone. A malformed URL makes
 * ws_hub_new fail with WS_EINVAL; an unreachable server does not (see
 * WS_EVENT_BROKER). */
#define WS_OPT_HUB_BROKER           121
/* int: keepalive. When nothing arrives for this long after a ping of
 * WS_OPT_HUB_PING_INTERVAL_MS, the connection is failed with close 1011
 * "keepalive ping timeout" (error event status WS_ETIMEDOUT, then its
 * close event), so a peer gone without a FIN (a pulled cable) is closed
 * within interval + timeout. 0 (default): never. Not while the
 * connection is paused (ws_hub_pause), its pong being unread then. (A
 * server connection backed up above WS_OPT_HUB_HIGH_WATER is not read
 * either, and does time out: like websockets, a peer that takes none of
 * our bytes for the timeout is taken for gone.) The
 * pong answering a keepalive ping reports the round trip
 * (ws_event_t.latency_us, ws_hub_latency()). Every kind of connection. */
#define WS_OPT_HUB_PONG_TIMEOUT_MS 107
/* int, listeners (or the hub's default for them) and ws_hub_adopt: 1 =
 * handshake control. Each valid upgrade request is delivered as a
 * WS_EVENT_REQUEST before any response, and the connection waits, reading
 * nothing more, for the host's ws_hub_accept() or ws_hub_reject(), which
 * may come from a later poll (the host awaits a database). Without an
 * answer within WS_OPT_TIMEOUT_MS (the handshake timeout, 10 s) the client
 * gets 503 and the host an error event (WS_ETIMEDOUT). Requests the hub
 * refuses anyway (not an upgrade, bad key, origin refused) get their 4xx
 * with no event. After a WS_EVENT_REQUEST the connection's last event is
 * a WS_EVENT_CLOSE whatever happens: after its WS_EVENT_OPEN if accepted,
 * at once (code 1006, reason "rejected") if rejected. 0 (default): the hub
 * answers by itself, as before. Plain and TLS listeners alike. */
#define WS_OPT_HUB_HANDSHAKE_CONTROL 108

/* Event types (ws_event_t.type). */
#define WS_EVENT_OPEN         1 /* peer, path, protocol set; data/len: request headers ("Name: value\r\n" lines; split on "\r\n" only) */
#define WS_EVENT_MESSAGE      2 /* opcode WS_OP_TEXT or WS_OP_BINARY; data/len: the whole message */
#define WS_EVENT_PING         3 /* data/len: ping payload (a pong was already sent unless auto-pong is off) */
#define WS_EVENT_PONG         4 /* data/len: pong payload; latency_us: round trip of the keepalive ping it answers (raw records: aux) */
#define WS_EVENT_CLOSE        5 /* code: peer's close code (1005 none, 1006 dropped); data/len: reason. Last event of the connection. */
#define WS_EVENT_ERROR        6 /* error: its WS_E* class; code: close code sent to the peer (1002, 1007, 1008, 1009, 1011) or 0 -- for WS_EHANDSHAKE the HTTP status the server refused a client with (0 if none); data/len: message */
#define WS_EVENT_BACKPRESSURE 7 /* buffered: unsent bytes went above the high-water mark; a server connection's input is not read until WS_EVENT_DRAIN */
#define WS_EVENT_DRAIN        8 /* buffered: unsent bytes went back under half the high-water mark */
/* The broker connection (WS_OPT_HUB_BROKER) changed; conn is 0. code:
 * WS_BROKER_DOWN (error WS_EIO, data/len: why) or WS_BROKER_UP (data/len:
 * the broker's address). */
#define WS_EVENT_BROKER      16
#define WS_BROKER_DOWN        1 /* unreachable: publishes reach this hub's subscribers only; reconnecting with backoff */
#define WS_BROKER_UP          2 /* connected (again) and subscribed to every topic this hub has subscribers for */
/* WS_OPT_HUB_HANDSHAKE_CONTROL: an upgrade request awaiting ws_hub_accept()
 * or ws_hub_reject(). listener, peer, path (the request target), method
 * set; protocol: the subprotocols the client offers (", "-separated, ""
 * if none); extensions: its Sec-WebSocket-Extensions (", "-separated);
 * data/len: the request headers as in WS_EVENT_OPEN. */
#define WS_EVENT_REQUEST      9

/*
 * One event. Every pointer points into memory owned by the hub and stays
 * valid until the next ws_hub_poll() on the same hub (or ws_hub_free()).
 * Strings peer, path and protocol are NUL-terminated (open and request
 * events only, as are a request's method and extensions; NULL otherwise);
 * data is not NUL-terminated. The hub refuses (HTTP 400,
 * no event) a request whose target or header values hold control
 * characters, so path and the header lines never contain NUL, CR or LF.
 * (An open record whose fields do not decode, which only a bug in libws
 * could produce, gives "" for the three strings and no headers.)
 *
 * error classifies an error event so that hosts never parse its message:
 *   WS_EPROTO     the peer broke RFC 6455 (code 1002)
 *   WS_EUTF8      invalid UTF-8 in a text message or close reason (1007)
 *   WS_ETOOBIG    frame or message over the limit (1009)
 *   WS_ECLOSED    a send on a connection that is closing or gone
 *   WS_ETIMEDOUT  handshake, idle, pong or close timeout
 *   WS_EIO        network error (reset, refused, DNS)
 *   WS_EHANDSHAKE a client connection's opening handshake was refused
 *   WS_ETLS       TLS failure
 *   WS_EPOLICY    a limit of the hub: send buffer full, hub-wide cap (1008)
 *   WS_EINTERNAL  a bug in libws (1011)
 * and is 0 in every other event. Other negative values may be added:
 * treat unknown ones as WS_EIO.
 */
typedef struct ws_event {
    int type;              /* WS_EVENT_* */
    int opcode;            /* WS_OP_* of a message, ping or pong */
    int code;              /* close code (close, error) */
    uint32_t listener;     /* open, request: id of the listener that accepted it, 0 for clients and adopted connections */
    uint64_t conn;         /* connection id */
    const uint8_t *data;
    size_t len;
    const char *peer;      /* open, request: "ip:port" of the peer */
    const char *path;      /* open, request: request target ("/chat?room=1") */
    const char *protocol;  /* open: negotiated subprotocol, "" if none; request: the offered ones */
    uint64_t buffered;     /* backpressure and drain: bytes waiting to be sent */
    int error;             /* error events: a WS_E* code (see above); 0 otherwise */
    uint64_t user;         /* every event: the value ws_hub_set_user() gave conn, 0 if none */
    uint32_t latency_us;   /* pong: round trip of the keepalive ping it answers in microseconds, 0 if it answers none */
    const char *method;    /* request: the HTTP method ("GET"); NULL in other events */
    const char *extensions; /* request: the extensions offered, "" if none; NULL in other events */
} ws_event_t;

/* One message for ws_hub_send_batch(). */
typedef struct ws_send {
    uint64_t conn;
    int opcode;            /* WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING or WS_OP_PONG */
    const void *data;
    size_t len;
} ws_send_t;

/*
 * A send whose message stays where it is, for ws_hub_send_raw() (below):
 * a WS_CMD_SEND_REF record carries the opcode as WS_CMD_SEND does, and a
 * ws_send_ref_t (len 16) as its payload, naming the message's bytes. They
 * must stay valid and unchanged until ws_hub_send_raw returns (the hub has
 * written or copied them by then). Spares copying a large message into the
 * batch.
 */
#define WS_CMD_SEND_REF  5

typedef struct ws_send_ref {
    const uint8_t *data;
    uint64_t len;
} ws_send_ref_t;

#ifndef WS_NO_PROTOTYPES

/*
 * Creates a hub (inline unless opts sets WS_OPT_HUB_THREADED, which then
 * starts its loop thread). opts (may be NULL, copied) gives the
 * defaults for its listeners and client connections: WS_OPT_MAX_MESSAGE_SIZE,
 * WS_OPT_MAX_FRAME_SIZE, WS_OPT_AUTO_PONG, WS_OPT_SUBPROTOCOLS, WS_OPT_ORIGIN,
 * WS_OPT_CLOSE_TIMEOUT_MS, WS_OPT_TIMEOUT_MS (handshake), and the hub's own
 * WS_OPT_HUB_* options. On success *out is the hub; free it with
 * ws_hub_free(). Errors: WS_EINVAL (NULL out), WS_EBADHANDLE (bad opts),
 * WS_EIO (no pipe/eventfd). Not blocking.
 */
int ws_hub_new(ws_hub_t **out, const ws_options_t *opts);

/*
 * Starts accepting WebSocket connections on host:port (port 0 picks a free
 * one, written to *out_port if not NULL). opts (may be NULL: the hub's
 * defaults) may set WS_OPT_TLS_CERT_FILE and WS_OPT_TLS_KEY_FILE for TLS.
 * Returns the listener id (> 0), which open events carry, or WS_EINVAL,
 * WS_EBADHANDLE, WS_EIO (bind failed, see ws_hub_errmsg), WS_ETLS,
 * WS_ECLOSED (hub shut down). Not blocking beyond bind().
 */
int ws_hub_listen(ws_hub_t *hub, const char *host, int port, const ws_options_t *opts, int *out_port);

/*
 * Opens a client connection to a ws:// or wss:// URL in the background and
 * writes its id to *out_conn at once. A WS_EVENT_OPEN follows, or a
 * WS_EVENT_ERROR then WS_EVENT_CLOSE (code 1006) if it fails. opts (may be
 * NULL) may set WS_OPT_SUBPROTOCOLS, WS_OPT_HEADERS, WS_OPT_TIMEOUT_MS,
 * WS_OPT_TLS_VERIFY, WS_OPT_TLS_CA_FILE. Errors: WS_EINVAL, WS_EBADHANDLE,
 * WS_ECLOSED. Not blocking.
 */
int ws_hub_connect(ws_hub_t *hub, const char *url, const ws_options_t *opts, uint64_t *out_conn);

/*
 * Serves a connection whose socket the host accepted itself and whose
 * HTTP request it may have begun to read (an HTTP server handing over the
 * upgrade of one of its routes): fd is the connected stream socket (TCP or
 * Unix), head[0..len) the bytes already read from it (the request head,
 * whole or in part, and any bytes after it; copied, may be NULL with len
 * 0). The hub reads the rest, answers the request and serves the
 * connection like one of its listeners' (listener id 0 in its events);
 * opts (may be NULL: the hub's defaults) as for ws_hub_listen, with
 * WS_OPT_HUB_HANDSHAKE_CONTROL delivering a WS_EVENT_REQUEST first. TLS is
 * not possible (fd must carry the plaintext request). *out_conn is the
 * connection's id, which its events carry. A request the hub refuses
 * (malformed, not an upgrade) gets its 4xx and is closed with no event,
 * as on a listener.
 *
 * Ownership: on WS_OK the hub owns fd (it makes it non-blocking and
 * close-on-exec, and closes it when the connection ends): do not read,
 * write or close it again. On an error fd is still the caller's.
 * Errors: WS_EINVAL (fd not a connected stream socket, NULL out_conn,
 * NULL head with len > 0, TLS options), WS_EBADHANDLE, WS_ECLOSED (hub shut
 * down). Not blocking; any thread.
 */
int ws_hub_adopt(ws_hub_t *hub, int fd, const uint8_t *head, size_t len, const ws_options_t *opts, uint64_t *out_conn);

/*
 * The file descriptor to watch for readability (see above); owned by the
 * hub (do not close or read it), valid until ws_hub_free(). Returns
 * WS_EBADHANDLE for a bad hub. Plain C.
 * On macOS and the BSDs it is a pipe, readable while events are queued,
 * for poll/kqueue/libuv as on Linux. On Windows it is a SOCKET (cast to
 * int), readable likewise: watch it with select(), WSAPoll() or libuv's
 * uv_poll_init_socket(), never with file APIs.
 */
int ws_hub_fd(ws_hub_t *hub);

/*
 * Fills events[0..max) with waiting events and returns how many (0 when
 * none arrived within timeout_ms: 0 = do not wait, -1 = wait until one
 * arrives or the hub shuts down). Pointers in the events stay valid until
 * the next ws_hub_poll() on this hub. Send the replies to one batch before
 * calling it again (the ordering rule above): this call acknowledges the
 * close and error events of the previous batch. Once the hub has shut
 * down and every event was delivered, returns WS_ECLOSED. Errors:
 * WS_EINVAL (NULL events, max < 1, timeout_ms < -1), WS_EBADHANDLE. On an
 * inline hub this is where the sockets are served (see above); it waits
 * only when timeout_ms != 0.
 *
 * Signals: when a signal handler runs on the calling thread while it
 * waits, the call returns WS_EINTR at once (with or without SA_RESTART),
 * nothing lost: check the flag the handler set, then poll again. Which
 * thread of a process receives a process-directed signal (kill, Ctrl-C)
 * is the kernel's choice; block the signal in the other threads
 * (pthread_sigmask) to have it land in the polling one. SIGURG, the Go
 * runtime's preemption signal, is blocked during the wait and never gives
 * WS_EINTR (a host that uses SIGURG itself sees it when the wait ends).
 */
int ws_hub_poll(ws_hub_t *hub, ws_event_t *events, int max, int timeout_ms);

/*
 * Sends one message (text, binary, ping or pong; control payloads at most
 * 125 bytes) to connection conn: an inline hub writes what the socket
 * takes at once and buffers the rest, a threaded hub queues it for its
 * thread. data is copied or written before the call returns.
 * Returns WS_OK, WS_EINVAL (bad opcode or length, NULL data with len > 0,
 * a conn the hub never handed out), WS_EBADHANDLE, WS_ECLOSED (hub shut
 * down), WS_ENOMEM. A message for a connection that is gone is dropped
 * and WS_OK returned: its close event tells the host (see "Connection ids
 * in calls" above). Never blocks on the network; any thread. The send
 * functions below share these rules.
 */
int ws_hub_send(ws_hub_t *hub, uint64_t conn, int opcode, const void *data, size_t len);

/*
 * Sends n messages at once (threaded: one lock, one wake-up). Consecutive
 * small messages to one connection leave in one write, as from
 * ws_hub_send_raw(). Returns n, or an error as ws_hub_send() (nothing
 * is sent then). Any thread.
 */
int ws_hub_send_batch(ws_hub_t *hub, const ws_send_t *items, int n);

/*
 * Starts the close handshake of conn with code (0: no status, then reason
 * must be NULL or "") and a UTF-8 reason (may be NULL; cut to 123 bytes at
 * a character boundary). The WS_EVENT_CLOSE follows when the peer replied
 * or the close timeout passed. Codes and reasons are checked as by
 * ws_close(): WS_EINVAL for codes that may not be sent (1005, 1006, 1015,
 * unassigned ones such as 999 or 2000) and invalid UTF-8 reasons; nothing
 * is sent then. Other errors as ws_hub_send(). Any thread.
 */
int ws_hub_close(ws_hub_t *hub, uint64_t conn, int code, const char *reason);

/*
 * Raw record batches, for hosts that decode bytes faster than structs (a
 * JavaScript or Python host reads one buffer per crossing). A record is a
 * 24-byte little-endian header, then len bytes of payload, then zero
 * padding to a multiple of 8:
 *
 *   offset 0  u8  kind     event: WS_EVENT_*; command: WS_CMD_*
 *          1  u8  opcode   WS_OP_* (messages, pings, pongs)
 *          2  u16 code     close code (close and error events; close commands)
 *          4  u32 len      payload length, at most WS_RECORD_MAX_LEN
 *          8  u64 conn     connection id
 *         16  u32 aux      open: listener id; backpressure/drain: bytes
 *                          buffered (saturates at 2^32 - 1); pong: round
 *                          trip of the keepalive ping it answers in
 *                          microseconds (0: it answers none)
 *         20  i32 status   error events: the WS_E* code (ws_event_t.error);
 *                          0 in other events; write 0 in commands
 *
 * The hub never emits a record whose len exceeds WS_RECORD_MAX_LEN:
 * whatever the configured message limit, a message that would need a
 * longer record fails its connection with 1009 (WS_ETOOBIG) first.
 *
 * An open event's payload is a sequence of fields, each a u32 length
 * (little-endian), that many bytes, and one 0 byte not counted in the
 * length (so each field is also a C string):
 *   1. peer address ("ip:port")
 *   2. request target ("/chat?room=1")
 *   3. negotiated subprotocol ("" if none)
 *   4. request headers as "Name: value\r\n" lines
 * Read the fields you know and ignore any that follow: later versions may
 * append fields. Split header lines on "\r\n" only.
 *
 * A request event's payload has the same four fields, the third being the
 * subprotocols the client offers (", "-separated), then:
 *   5. the method ("GET")
 *   6. the extensions the client offers (", "-separated header values)
 *
 * WS_CMD_ACCEPT and WS_CMD_REJECT payloads are fields in the same
 * encoding (the trailing 0 byte included):
 *   accept: opcode 1: field 1 is the chosen subprotocol ("" for none;
 *           else one the client offered); opcode 0: the listener's own
 *           choice (field 1 ignored). Field 2: extra response headers,
 *           "Name: value\r\n" lines ("" for none).
 *   reject: code is the HTTP status (200..599); field 1: headers as
 *           above; field 2: the body.
 *
 * A close command's payload is the reason; the other commands have none.
 * Commands name connections as the functions do ("Connection ids in
 * calls" above).
 */
#define WS_RECORD_HEADER 24
#define WS_RECORD_MAX_LEN 2147483584u /* 2^31 - 64 */
#define WS_CMD_SEND      1 /* opcode, payload: the message */
#define WS_CMD_CLOSE     2 /* code, payload: the reason (<= 123 bytes, valid UTF-8; code as ws_hub_close) */
#define WS_CMD_TERMINATE 3
/* 4 is the hub's own close acknowledgement, queued by ws_hub_poll*: hosts
 * never send it. 5 is WS_CMD_SEND_REF (above). */
#define WS_CMD_PAUSE     6 /* no payload: see ws_hub_pause() */
#define WS_CMD_RESUME    7 /* no payload: see ws_hub_resume() */
#define WS_CMD_ACCEPT    8 /* opcode, fields: see ws_hub_accept() and above */
#define WS_CMD_REJECT    9 /* code = HTTP status, fields: see ws_hub_reject() and above */

/*
 * ws_hub_poll() that copies whole event records into buf (as many as fit)
 * and returns the bytes written; 0 and WS_ECLOSED as ws_hub_poll().
 * WS_ENOSPACE when the next record alone is larger than cap: it stays
 * queued, and its 24-byte header is copied into buf, so its size is
 * 24 + len rounded up to 8, len being the u32 at offset 4 of buf; call
 * again with a buffer that large. Bytes of buf past the count returned
 * hold nothing of use: an inline hub serving its sockets in this call
 * writes their events straight into buf, sparing two copies, and may
 * have written there before queueing them elsewhere. Buffers over
 * INT_MAX bytes are used up to INT_MAX. The needed size is reported,
 * so grow the buffer to exactly that, never by blind doubling. Errors as
 * ws_hub_poll() (WS_EINVAL also for a NULL buf, cap < 24 or
 * timeout_ms < -1), and it acknowledges the previous batch the same way,
 * and returns WS_EINTR on a signal as ws_hub_poll() does.
 */
int ws_hub_poll_raw(ws_hub_t *hub, uint8_t *buf, size_t cap, int timeout_ms);

/*
 * Carries out a batch of command records (WS_CMD_*) from records[0..len)
 * with one call (threaded: one lock and one wake-up; messages sent by
 * reference are copied into its queue). Consecutive sends of messages
 * under 2 KiB to one connection leave in one write, so that a host echoing
 * pipelined messages makes one system call per connection rather than per
 * message; records still take effect in order. The batch is checked whole
 * first: on WS_EINVAL (malformed record, unknown kind, bad opcode, control
 * payload over 125 bytes, a WS_CMD_SEND_REF payload that is not a
 * ws_send_ref_t or names NULL, a close code or reason ws_hub_close()
 * refuses, a conn the hub never handed out) nothing is done, and the
 * message names the offset of the bad record. Returns the number of
 * records.
 */
int ws_hub_send_raw(ws_hub_t *hub, const uint8_t *records, size_t len);

/* Drops conn's TCP connection at once, without a close handshake. Errors
 * as ws_hub_send(). Any thread. */
int ws_hub_terminate(ws_hub_t *hub, uint64_t conn);

/*
 * Stops reading conn's socket, so that TCP flow control pushes back on a
 * peer that sends faster than the application consumes: the hub then
 * holds no more of its input than one partial frame. Events already read
 * are still delivered; sends still go out; pings and keepalive still run.
 * ws_hub_resume() reads it again. Closing a paused connection
 * (ws_hub_close) reads it again so that the peer's close reply can arrive.
 * Both are idempotent, apply to every kind of connection (plain, TLS,
 * client), and take effect in order with the sends around them. Errors as
 * ws_hub_send(). Never block; any thread. Plain C calls (cheap from Node).
 */
int ws_hub_pause(ws_hub_t *hub, uint64_t conn);
int ws_hub_resume(ws_hub_t *hub, uint64_t conn);

/*
 * Topics. A host subscribes connections to named topics and publishes a
 * message to a topic once; the hub delivers it to every subscriber. The
 * frame is built once per publish and, for subscribers that negotiated
 * permessage-deflate without context takeover, compressed once per
 * compression level (a subscriber with context takeover, or a client
 * connection, which masks each frame, gets a frame of its own). The
 * publishes of one ws_hub_send_raw batch to a plain-TCP connection leave
 * in one writev (on a threaded hub, so do those of every call queued
 * before its thread's turn). A subscriber that does not read is held to the
 * same limits as any send (WS_EVENT_BACKPRESSURE, then failed with 1008,
 * error WS_EPOLICY, at WS_OPT_HUB_MAX_BUFFERED or the hub-wide cap): it
 * never holds up the others, and nothing is buffered without bound.
 *
 * A topic name is 1 to WS_TOPIC_MAX_LEN bytes, any bytes. A connection is
 * subscribed only while open: subscribing one that is closing or gone does
 * nothing (WS_OK, as for sends), and a connection leaves all its topics
 * when it ends. Order: a publish follows the commands before it, so
 * subscribe-then-publish in one batch delivers.
 *
 * With WS_OPT_HUB_BROKER every hub sharing the broker is one system: a
 * publish on any of them reaches the subscribers of all of them exactly
 * once, in the order its publisher sent them. Each hub subscribes in Redis
 * only to the topics it has subscribers for. While the broker is down,
 * publishes reach the local subscribers only (those meant for other hubs
 * are lost, not queued), and the hub reconnects and resubscribes by itself
 * (WS_EVENT_BROKER reports both). Redis channel: "libws:" + topic; message:
 * the publishing hub's instance id (u64 LE), the opcode (u8), the data.
 *
 * Raw records (ws_hub_send_raw), so that bindings subscribe and publish in
 * the command batches they already send, with no call of their own:
 *   WS_CMD_SUBSCRIBE    conn; payload: the topic name
 *   WS_CMD_UNSUBSCRIBE  conn; payload: the topic name
 *   WS_CMD_PUBLISH      opcode WS_OP_TEXT or WS_OP_BINARY; conn: a
 *                       connection that does not get the message (its
 *                       sender, say) or 0; payload: u16 topic length
 *                       (LE), the topic, then the message
 * The batch checks refuse (WS_EINVAL) an empty or too long topic, a
 * publish payload shorter than its topic length says, another opcode, and
 * a conn the hub never handed out (0 is allowed as a publish's exclude).
 */
#define WS_TOPIC_MAX_LEN    1024
#define WS_CMD_SUBSCRIBE    16
#define WS_CMD_UNSUBSCRIBE  17
#define WS_CMD_PUBLISH      18

/* Subscribe conn to / unsubscribe it from topic (a NUL-terminated name;
 * binary names go through WS_CMD_SUBSCRIBE records). Idempotent. Errors:
 * WS_EINVAL (NULL, empty or too long topic; a conn the hub never handed
 * out), WS_EBADHANDLE, WS_ECLOSED (hub shut down), WS_ENOMEM. Never block;
 * any thread. Plain C calls (a record through ws_hub_send_raw). */
int ws_hub_subscribe(ws_hub_t *hub, uint64_t conn, const char *topic);
int ws_hub_unsubscribe(ws_hub_t *hub, uint64_t conn, const char *topic);

/*
 * Sends a text or binary message to every subscriber of topic but
 * exclude (0: none), on this hub and, with a broker, on the others. data
 * is written or copied before the call returns. Returns WS_OK, or
 * WS_EINVAL (bad topic or opcode, NULL data with len > 0, an exclude the
 * hub never handed out), WS_ETOOBIG (over WS_RECORD_MAX_LEN with its
 * topic), WS_EBADHANDLE, WS_ECLOSED, WS_ENOMEM. A topic without
 * subscribers is not an error. Never blocks on the network; any thread.
 */
int ws_hub_publish(ws_hub_t *hub, const char *topic, int opcode, const void *data, size_t len, uint64_t exclude);

/*
 * The number of this hub's open connections subscribed to topic (others
 * hubs sharing a broker are not counted; a connection stops counting once
 * its close begins), or WS_EINVAL / WS_EBADHANDLE. Commands queued before
 * the call are carried out first, so a count follows the subscriptions
 * sent before it. Calls into Go and may wait for the hub's thread to
 * finish a turn; costs O(subscribers of topic). Any thread.
 */
int64_t ws_hub_topic_count(ws_hub_t *hub, const char *topic);

/*
 * Answers a WS_EVENT_REQUEST (WS_OPT_HUB_HANDSHAKE_CONTROL) with the 101:
 * subprotocol is the one to speak, which must be among those the client
 * offered (event's protocol), "" for none, or NULL for the listener's own
 * choice (WS_OPT_SUBPROTOCOLS); headers (NULL or "Name: value\r\n" lines)
 * are added to the response. The WS_EVENT_OPEN follows. An answer the hub
 * cannot carry out (a subprotocol not offered, a malformed header) refuses
 * the client with 500 and gives an error event (WS_EINVAL) saying why,
 * then the close event. Answers to a connection that no longer awaits one
 * (answered, timed out, gone) are dropped. Errors as ws_hub_send() (and
 * WS_EINVAL for a subprotocol or headers holding CR, LF or NUL). Any
 * thread; from a later poll than the request's too.
 */
int ws_hub_accept(ws_hub_t *hub, uint64_t conn, const char *subprotocol, const char *headers);

/*
 * Answers a WS_EVENT_REQUEST with an HTTP response and closes: status
 * (200..599, e.g. 401, 403), headers (NULL or "Name: value\r\n" lines;
 * Content-Length and Connection are the hub's), body[0..len) (copied;
 * text/plain unless headers name a Content-Type). The WS_EVENT_CLOSE
 * (1006, "rejected") follows. Errors as ws_hub_accept() (WS_EINVAL for a
 * status out of range too).
 */
int ws_hub_reject(ws_hub_t *hub, uint64_t conn, int status, const char *headers, const void *body, size_t len);

/*
 * Per-connection user data: a value (an index, or a pointer cast to
 * uint64_t) that every later ws_hub_poll() event of conn carries in
 * ws_event_t.user, up to and including its WS_EVENT_CLOSE, so a C host
 * needs no map of its own from ids to its objects. 0 removes it (events
 * then carry 0). Set it when the open (or request) event arrives; the
 * hub forgets it when it acknowledges the close event (the poll after
 * the one that returned it), so a value set after that is kept until
 * ws_hub_free(). The hub never dereferences it. Raw records
 * (ws_hub_poll_raw) do not carry it. ws_hub_user() reads it back.
 * Errors: WS_EBADHANDLE, WS_EINVAL (a conn the hub never handed out, NULL
 * out_user), WS_ENOMEM. Plain C calls; any thread.
 */
int ws_hub_set_user(ws_hub_t *hub, uint64_t conn, uint64_t user);
int ws_hub_user(ws_hub_t *hub, uint64_t conn, uint64_t *out_user);

/*
 * Bytes queued for conn and not yet taken by the kernel (like the browser's
 * bufferedAmount); 0 for a connection that is gone; or a negative error
 * (WS_EBADHANDLE, WS_EINVAL for a conn the hub never handed out). Calls
 * into Go: cheap from C and Python, costly from Node's main thread; prefer
 * the backpressure and drain events there.
 */
int64_t ws_hub_buffered_amount(ws_hub_t *hub, uint64_t conn);

/*
 * The round trip, in microseconds, of the last keepalive ping
 * (WS_OPT_HUB_PING_INTERVAL_MS) that conn's peer answered: 0 if none yet
 * or the connection is gone; or a negative error (WS_EBADHANDLE,
 * WS_EINVAL for a conn the hub never handed out). Calls into Go (as
 * ws_hub_buffered_amount); the pong event's latency_us is free.
 */
int64_t ws_hub_latency(ws_hub_t *hub, uint64_t conn);

/*
 * Graceful shutdown: stops every listener, closes every connection with
 * 1001 (Going Away), waits up to timeout_ms for their close handshakes,
 * drops the rest. All their close events are queued for ws_hub_poll()
 * before it returns. Blocks up to timeout_ms. Idempotent.
 */
int ws_hub_shutdown(ws_hub_t *hub, int timeout_ms);

/* The message of the last failed call on hub; "" if none. Owned by the
 * hub; a returned string stays readable through three further failures
 * on the hub (threads may fail at once) and until ws_hub_free(). "" for a
 * bad handle. Any thread. */
const char *ws_hub_errmsg(ws_hub_t *hub);

/*
 * Shuts the hub down (timeout 0 if not done yet) and frees it with every
 * pending event. NULL is a no-op. Afterwards the pointer is invalid; calls
 * with it return WS_EBADHANDLE.
 */
void ws_hub_free(ws_hub_t *hub);

#endif /* WS_NO_PROTOTYPES */

#ifdef __cplusplus
}
#endif

#endif /* WS_H */
