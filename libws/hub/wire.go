// Package hub serves many WebSocket connections from one epoll loop and
// hands their events to a host in batches.
//
// It is built for hosts that cross a foreign-function boundary (C, Python,
// Node): every crossing moves a batch. Events go to the host as records in
// one byte buffer (Host.Publish) and the host's commands come back the same
// way (Host.Commands), after the host writes to the hub's wake eventfd.
//
// Plain-TCP server connections live in the epoll loop and hold no read
// buffer or goroutine while idle. TLS listeners and client connections run
// on libws.Conn goroutines and feed the same event stream.
package hub

import "encoding/binary"

// Record layout, shared with capi/hub.h: a 24-byte header, then len payload
// bytes, then padding to a multiple of 8.
//
//	0  u8  kind (an Event* for events, a Cmd* for commands)
//	1  u8  opcode
//	2  u16 code (close code, error code)
//	4  u32 len
//	8  u64 connection id
//	16 u32 aux (listener id of an open event; buffered bytes of a
//	       backpressure or drain event)
//	20 u32 reserved
const recordHeader = 24

// Event kinds.
const (
	EventOpen         = 1 // payload: peer "\x00" path "\x00" subprotocol "\x00" headers ("Name: value\r\n"…)
	EventMessage      = 2 // opcode text or binary, payload: the message
	EventPing         = 3
	EventPong         = 4
	EventClose        = 5 // code, payload: reason; the last event of a connection
	EventError        = 6 // code: close code sent or 0, payload: message
	EventBackpressure = 7 // aux: bytes buffered, above the high-water mark
	EventDrain        = 8 // aux: bytes buffered, back under the low-water mark
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
)

// Record is one decoded event or command. Payload aliases the buffer.
type Record struct {
	Kind    uint8
	Opcode  uint8
	Code    uint16
	Conn    uint64
	Aux     uint32
	Payload []byte
}

// AppendRecord encodes a record at the end of dst.
func AppendRecord(dst []byte, kind, opcode uint8, code uint16, conn uint64, aux uint32, payload ...[]byte) []byte {
	n := 0
	for _, p := range payload {
		n += len(p)
	}
	var h [recordHeader]byte
	h[0], h[1] = kind, opcode
	binary.LittleEndian.PutUint16(h[2:], code)
	binary.LittleEndian.PutUint32(h[4:], uint32(n))
	binary.LittleEndian.PutUint64(h[8:], conn)
	binary.LittleEndian.PutUint32(h[16:], aux)
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
	if len(b) < size {
		return r, b, false
	}
	r = Record{
		Kind:    b[0],
		Opcode:  b[1],
		Code:    binary.LittleEndian.Uint16(b[2:]),
		Conn:    binary.LittleEndian.Uint64(b[8:]),
		Aux:     binary.LittleEndian.Uint32(b[16:]),
		Payload: b[recordHeader : recordHeader+n],
	}
	return r, b[size:], true
}

// recordSize is the size of a record with n bytes of payload (padded to 8).
func recordSize(n int) int { return recordHeader + n + (8-n%8)%8 }
