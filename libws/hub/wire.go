// Package hub serves many WebSocket connections from one epoll loop and
// hands their events to a host in batches.
//
// It is built for hosts that cross a foreign-function boundary (C, Python,
// Node): every crossing moves a batch. Events go to the host as records in
// one byte buffer (Host.Publish) and the host's commands come back the same
// way (Host.Commands), after the host writes to the hub's wake eventfd.
//
// Plain-TCP server connections live in the epoll loop and hold no read
// buffer or goroutine while idle. TLS server and client connections have a
// reader and a writer goroutine. Both kinds are transports for one
// per-connection session (session.go), which owns the states, close
// ordering, timers and limits, so every connection follows the same rules.
package hub

import (
	"encoding/binary"
	"errors"
)

// Record layout, shared with capi/hub.h: a 24-byte header, then len payload
// bytes, then padding to a multiple of 8.
//
//	0  u8  kind (an Event* for events, a Cmd* for commands)
//	1  u8  opcode
//	2  u16 code (close code, error code)
//	4  u32 len, never above MaxRecordLen
//	8  u64 connection id
//	16 u32 aux (listener id of an open event; buffered bytes of a
//	       backpressure or drain event)
//	20 i32 status (error events: the E* code that classifies the error)
const recordHeader = 24

// MaxRecordLen bounds a record's payload. A length that does not fit the
// u32 field would wrap and make the host read payload bytes as records, so
// every length is held under it whatever the configured limits; the margin
// keeps a record's padded size within an int32 too.
const MaxRecordLen = 1<<31 - 64

// Status codes of error events (ws.h's WS_E* values).
const (
	EProto     int32 = -4  // the peer broke RFC 6455 (1002)
	EUTF8      int32 = -5  // invalid UTF-8 in a text message or close reason (1007)
	ETooBig    int32 = -6  // frame or message over the limit (1009)
	EClosed    int32 = -7  // a send on a connection that is closing or gone
	ETimedOut  int32 = -8  // handshake, idle, pong or close timeout
	EIO        int32 = -9  // network error
	EHandshake int32 = -10 // a client's opening handshake was refused
	ETLS       int32 = -11 // TLS failure
	EInternal  int32 = -14 // a bug (recovered panic)
	EPolicy    int32 = -15 // a limit of the hub: send buffer, hub-wide memory (1008)
)

// Event kinds.
const (
	EventOpen         = 1 // payload: length-prefixed fields (see AppendOpenFields)
	EventMessage      = 2 // opcode text or binary, payload: the message
	EventPing         = 3
	EventPong         = 4
	EventClose        = 5 // code, payload: reason; the last event of a connection
	EventError        = 6 // code: close code sent or 0, status: E*, payload: message
	EventBackpressure = 7 // aux: bytes buffered, above the high-water mark
	EventDrain        = 8 // aux: bytes buffered, back under the low-water mark
	// EventRequest (Options.RequestEvents): a client's upgrade request,
	// before any response; the host answers with CmdAccept or CmdReject.
	// aux: listener id; payload: length-prefixed fields (see RequestPeer...).
	EventRequest = 9
)

// Command kinds.
const (
	CmdSend      = 1 // opcode text, binary, ping or pong; payload
	CmdClose     = 2 // code, payload: reason
	CmdTerminate = 3 // drop the TCP connection at once
	// CmdCloseAck says the host has acted on a close event (it polled
	// again). The hub answers the peer's close only then, so replies the
	// host queued to earlier messages go out before the close frame.
	CmdCloseAck = 4
	// CmdSendRef is CmdSend with the message left in the host's memory:
	// its payload names the bytes (see Hub.ExecRefs).
	CmdSendRef = 5
	// CmdPause stops reading the connection's socket, so that TCP pushes
	// back on a peer whose messages the host is not consuming; CmdResume
	// reads again. Both are idempotent.
	CmdPause  = 6
	CmdResume = 7
	// CmdAccept answers an EventRequest with the 101: opcode 1 when the
	// first field is the host's choice of subprotocol ("" for none, else
	// one the client offered), 0 to keep the listener's choice; the second
	// field holds extra response headers ("Name: value\r\n" lines).
	CmdAccept = 8
	// CmdReject answers an EventRequest with an HTTP response and closes:
	// code is its status (200..599); fields: headers, body.
	CmdReject = 9
)

// cmdLate is the hub's own answer to a request the host did not answer
// in time (never a host's command).
const cmdLate = 255

// Record is one decoded event or command. Payload aliases the buffer.
type Record struct {
	Kind    uint8
	Opcode  uint8
	Code    uint16
	Conn    uint64
	Aux     uint32
	Status  int32
	Payload []byte
}

// AppendRecord encodes a record at the end of dst.
func AppendRecord(dst []byte, kind, opcode uint8, code uint16, conn uint64, aux uint32, payload ...[]byte) []byte {
	return appendRecord(dst, kind, opcode, code, conn, aux, 0, payload...)
}

// AppendError encodes an error event: code is the close code sent to the
// peer (0 if none), status one of the E* codes.
func AppendError(dst []byte, code uint16, status int32, conn uint64, msg string) []byte {
	return appendRecord(dst, EventError, 0, code, conn, 0, status, []byte(msg))
}

func appendRecord(dst []byte, kind, opcode uint8, code uint16, conn uint64, aux uint32, status int32, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	if n > MaxRecordLen {
		// Every producer holds its lengths under the bound; a longer record
		// would be read by the host as other records (forged events).
		panic("hub: record payload over MaxRecordLen")
	}
	var h [recordHeader]byte
	h[0], h[1] = kind, opcode
	binary.LittleEndian.PutUint16(h[2:], code)
	binary.LittleEndian.PutUint32(h[4:], uint32(n))
	binary.LittleEndian.PutUint64(h[8:], conn)
	binary.LittleEndian.PutUint32(h[16:], aux)
	binary.LittleEndian.PutUint32(h[20:], uint32(status))
	dst = append(dst, h[:]...)
	for _, p := range payload {
		dst = append(dst, p...)
	}
	for pad := (8 - n%8) % 8; pad > 0; pad-- {
		dst = append(dst, 0)
	}
	return dst
}

// NextRecord decodes the record at the start of b and returns the rest;
// ok is false when b holds no whole record.
func NextRecord(b []byte) (r Record, rest []byte, ok bool) {
	if len(b) < recordHeader {
		return r, b, false
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	size := recordSize(n)
	if n > MaxRecordLen || len(b) < size {
		return r, b, false
	}
	r = Record{
		Kind:    b[0],
		Opcode:  b[1],
		Code:    binary.LittleEndian.Uint16(b[2:]),
		Conn:    binary.LittleEndian.Uint64(b[8:]),
		Aux:     binary.LittleEndian.Uint32(b[16:]),
		Status:  int32(binary.LittleEndian.Uint32(b[20:])),
		Payload: b[recordHeader : recordHeader+n],
	}
	return r, b[size:], true
}

// recordSize is the size of a record with n bytes of payload (padded to 8).
func recordSize(n int) int { return recordHeader + n + (8-n%8)%8 }

// Open event payload: fields, each a u32 length (LE), the bytes and a NUL
// that the length does not count (so C can use each field as a string):
// peer "ip:port", request target, subprotocol ("" if none), request
// headers as "Name: value\r\n" lines. Lengths, not separators, delimit
// the fields, so no byte a client sends can shift one into the next.
const (
	OpenPeer = iota
	OpenTarget
	OpenSubprotocol
	OpenHeaders
	openFields
)

// appendField appends one length-prefixed, NUL-terminated field.
func appendField(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
	dst = append(dst, s...)
	return append(dst, 0)
}

// appendOpen encodes an open event.
func appendOpen(dst []byte, id uint64, listener uint32, peer, path, sub string, header map[string][]string) []byte {
	var hb []byte
	for k, vs := range header {
		for _, v := range vs {
			hb = append(hb, k...)
			hb = append(hb, ": "...)
			hb = append(hb, v...)
			hb = append(hb, "\r\n"...)
		}
	}
	if len(peer)+len(path)+len(sub)+len(hb)+4*5 > MaxRecordLen {
		hb = nil // cannot happen: request heads are bounded far below
	}
	var p []byte
	p = appendField(p, peer)
	p = appendField(p, path)
	p = appendField(p, sub)
	p = appendField(p, string(hb))
	return AppendRecord(dst, EventOpen, 0, 0, id, listener, p)
}

var errOpenPayload = errors.New("hub: malformed open event payload")

// OpenFields decodes an open event's payload into its fields (see
// OpenPeer...), ignoring fields a later version may append.
func OpenFields(payload []byte) (fields [4]string, err error) {
	for i := 0; i < openFields; i++ {
		if len(payload) < 4 {
			return fields, errOpenPayload
		}
		n := binary.LittleEndian.Uint32(payload)
		if uint64(n)+5 > uint64(len(payload)) || payload[4+n] != 0 {
			return fields, errOpenPayload
		}
		fields[i] = string(payload[4 : 4+n])
		payload = payload[5+n:]
	}
	return fields, nil
}
