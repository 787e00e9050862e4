package libws

import "encoding/binary"

// Opcode is a frame opcode (RFC 6455 §5.2).
type Opcode byte

const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (close, ping, pong).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// IsReserved reports whether op is one of the opcodes RFC 6455 reserves.
func (op Opcode) IsReserved() bool {
	return (op > OpBinary && op < OpClose) || op > OpPong
}

func (op Opcode) String() string {
	switch op {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved"
}

// Reserved bits of the first header byte, as Header.Rsv holds them.
const (
	Rsv1 byte = 0x4
	Rsv2 byte = 0x2
	Rsv3 byte = 0x1
)

const (
	// MaxHeaderSize is the largest encoded frame header: 2 + 8 length + 4 mask.
	MaxHeaderSize = 14
	// MaxControlPayload is the largest payload a control frame may carry.
	MaxControlPayload = 125
)

// Header is a decoded frame header.
type Header struct {
	Fin    bool
	Rsv    byte // Rsv1|Rsv2|Rsv3
	OpCode Opcode
	Masked bool
	Mask   [4]byte
	Length int64
}

// ParseHeader decodes the frame header at the start of b. It returns the
// header and its encoded size; a size of 0 with a nil error means b does not
// yet hold the whole header. Rules that hold whatever the role and the
// negotiated extensions are checked here: reserved opcodes, fragmented or
// long control frames, 64-bit lengths with the top bit set and lengths not
// in their shortest form. Masking and
// reserved bits depend on the connection: see Header.Check.
func ParseHeader(b []byte) (Header, int, error) {
	var h Header
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.Fin = b0&0x80 != 0
	h.Rsv = (b0 >> 4) & 0x7
	h.OpCode = Opcode(b0 & 0xF)
	h.Masked = b1&0x80 != 0
	n := 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		if h.Length < 126 {
			// RFC 6455 §5.2 asks for the shortest form; a longer one is
			// either a broken peer or an attempt to slip past a filter
			// that decodes lengths differently.
			return h, 0, ErrNonMinimalLength
		}
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, 0, ErrLengthOverflow
		}
		if u <= 0xFFFF {
			return h, 0, ErrNonMinimalLength
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if h.OpCode.IsReserved() {
		return h, 0, ErrReservedOpcode
	}
	if h.OpCode.IsControl() {
		if !h.Fin {
			return h, 0, ErrFragmentedControl
		}
		if h.Length > MaxControlPayload {
			return h, 0, ErrControlTooLong
		}
	}
	if h.Masked {
		if len(b) < n+4 {
			return h, 0, nil
		}
		copy(h.Mask[:], b[n:n+4])
		n += 4
	}
	return h, n, nil
}

// Check applies the rules that depend on the connection: a server must
// receive masked frames and a client unmasked ones, and reserved bits must
// be owned by a negotiated extension (rsvAllowed). RSV1 is allowed only on
// the first frame of a data message, where permessage-deflate puts it.
func (h *Header) Check(server bool, rsvAllowed byte) error {
	if h.Masked != server {
		if server {
			return ErrUnmaskedFrame
		}
		return ErrMaskedFrame
	}
	if h.Rsv&^rsvAllowed != 0 || (h.Rsv != 0 && (h.OpCode.IsControl() || h.OpCode == OpContinuation)) {
		return ErrReservedBits
	}
	return nil
}

// Size is the encoded size of h.
func (h *Header) Size() int {
	n := 2
	switch {
	case h.Length > 0xFFFF:
		n += 8
	case h.Length > 125:
		n += 2
	}
	if h.Masked {
		n += 4
	}
	return n
}

// PutHeader encodes h at the start of dst and returns the bytes written,
// or ErrBufferTooSmall when dst is shorter than h.Size() (MaxHeaderSize
// always suffices).
func PutHeader(dst []byte, h *Header) (int, error) {
	size := h.Size()
	if len(dst) < size {
		return 0, ErrBufferTooSmall
	}
	b0 := byte(h.OpCode&0xF) | (h.Rsv&0x7)<<4
	if h.Fin {
		b0 |= 0x80
	}
	dst[0] = b0
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	n := 2
	switch {
	case h.Length > 0xFFFF:
		dst[1] = b1 | 127
		binary.BigEndian.PutUint64(dst[2:], uint64(h.Length))
		n = 10
	case h.Length > 125:
		dst[1] = b1 | 126
		binary.BigEndian.PutUint16(dst[2:], uint16(h.Length))
		n = 4
	default:
		dst[1] = b1 | byte(h.Length)
	}
	if h.Masked {
		copy(dst[n:], h.Mask[:])
		n += 4
	}
	return n, nil
}

// appendFrame appends one whole frame to dst: the header, then the payload,
// masked with key when masked is true. It is the single encoder behind every
// write path, so the wire format lives in one place.
func appendFrame(dst []byte, fin bool, rsv byte, op Opcode, payload []byte, masked bool, key [4]byte) []byte {
	h := Header{Fin: fin, Rsv: rsv, OpCode: op, Masked: masked, Mask: key, Length: int64(len(payload))}
	start := len(dst)
	dst = grow(dst, h.Size()+len(payload))
	n, _ := PutHeader(dst[start:], &h)
	body := dst[start+n : start+n+len(payload)]
	copy(body, payload)
	if masked {
		Mask(body, key, 0)
	}
	return dst
}

// grow extends b by n bytes, reallocating with room to spare when needed.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// ClosePayload encodes a close frame payload: the code in network order and
// the reason. A zero code gives an empty payload (no status).
func ClosePayload(dst []byte, code StatusCode, reason string) []byte {
	if code == 0 {
		return dst[:0]
	}
	dst = append(dst[:0], byte(code>>8), byte(code))
	return append(dst, reason...)
}

// ParseClosePayload decodes and validates a received close payload. An
// empty payload gives StatusNoStatusReceived.
func ParseClosePayload(p []byte) (StatusCode, string, error) {
	switch len(p) {
	case 0:
		return StatusNoStatusReceived, "", nil
	case 1:
		return 0, "", ErrInvalidClosePayload
	}
	code := StatusCode(binary.BigEndian.Uint16(p))
	if !ValidCloseCode(code) {
		return code, "", ErrInvalidCloseCode
	}
	if !ValidUTF8(p[2:]) {
		return code, "", ErrInvalidCloseReason
	}
	return code, string(p[2:]), nil
}
