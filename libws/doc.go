// Package libws is an RFC 6455 WebSocket engine.
//
// It is layered so that each user takes only what it needs:
//
//   - Frame primitives with no state and no allocation: ParseHeader,
//     PutHeader, Mask, ValidUTF8, AcceptKey.
//   - Protocol, a bring-your-own-I/O state machine: feed it received bytes,
//     take out frames or whole messages with every RFC 6455 rule enforced,
//     and take out the bytes it wants sent (pongs, close replies, messages).
//   - Conn, a WebSocket over any net.Conn with blocking reads and writes,
//     automatic pong and close replies, size limits and a read/write split.
//   - Handshakes: Upgrade (net/http), UpgradeConn (raw net.Conn) and Dial.
//
// Raw frames are the default on Conn (ReadFrame); ReadMessage and
// FragmentCollector give whole messages with fragments joined and text
// validated as UTF-8 at the frame where it goes wrong.
//
// ReadMessage returns a payload the caller owns, as gorilla/websocket
// does. ReadMessageBorrowed, ReadFrame and ReadNext lend a view of the
// read buffer instead, valid until the next read on the Conn, and
// allocate nothing.
//
// Upgrade and UpgradeConn refuse cross-origin requests (403) unless
// UpgradeOptions.CheckOrigin or AllowAnyOrigin says otherwise, as gorilla
// does: a page on another site could otherwise open a socket carrying the
// visitor's cookies.
package libws
