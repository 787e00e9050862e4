package libws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The header tests check the engine's encoder and decoder against byte
// strings written out by hand from RFC 6455 §5.2, never against each other
// alone, so a mistake shared by PutHeader and ParseHeader still shows.

var hdrKey = [4]byte{0x37, 0xfa, 0x21, 0x3d} // the key of the RFC 6455 §5.7 examples

// hdrBytes spells out a header by hand: first byte, the length in its
// shortest form, then the key when masked.
func hdrBytes(b0 byte, masked bool, length uint64, key [4]byte) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	out := []byte{b0}
	switch {
	case length <= 125:
		out = append(out, m|byte(length))
	case length <= 0xFFFF:
		out = append(out, m|126, byte(length>>8), byte(length))
	default:
		out = append(out, m|127)
		out = binary.BigEndian.AppendUint64(out, length)
	}
	if masked {
		out = append(out, key[:]...)
	}
	return out
}

func TestRFCExamples(t *testing.T) {
	// RFC 6455 §5.7, byte for byte.
	cases := []struct {
		name    string
		fin     bool
		op      Opcode
		payload string
		masked  bool
		want    []byte
	}{
		{"unmasked text", true, OpText, "Hello", false, []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}},
		{"masked text", true, OpText, "Hello", true, []byte{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}},
		{"first fragment", false, OpText, "Hel", false, []byte{0x01, 0x03, 0x48, 0x65, 0x6c}},
		{"last fragment", true, OpContinuation, "lo", false, []byte{0x80, 0x02, 0x6c, 0x6f}},
		{"ping", true, OpPing, "Hello", false, []byte{0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}},
		{"masked pong", true, OpPong, "Hello", true, []byte{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := appendFrame(nil, c.fin, 0, c.op, []byte(c.payload), c.masked, hdrKey)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("appendFrame = % x, want % x", got, c.want)
			}
			h, n, err := ParseHeader(c.want)
			if err != nil || n == 0 {
				t.Fatalf("ParseHeader = n %d, err %v", n, err)
			}
			if h.Fin != c.fin || h.OpCode != c.op || h.Masked != c.masked || h.Length != int64(len(c.payload)) {
				t.Fatalf("ParseHeader = %+v", h)
			}
			if c.masked && h.Mask != hdrKey {
				t.Fatalf("mask = % x", h.Mask)
			}
			payload := append([]byte(nil), c.want[n:]...)
			if c.masked {
				Mask(payload, h.Mask, 0)
			}
			if string(payload) != c.payload {
				t.Fatalf("payload = %q", payload)
			}
		})
	}
	// 256 bytes and 64 KiB of binary, unmasked (§5.7, headers only).
	if got := hdrOf(t, Header{Fin: true, OpCode: OpBinary, Length: 256}); !bytes.Equal(got, []byte{0x82, 0x7E, 0x01, 0x00}) {
		t.Errorf("256-byte binary header = % x", got)
	}
	if got := hdrOf(t, Header{Fin: true, OpCode: OpBinary, Length: 65536}); !bytes.Equal(got, []byte{0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}) {
		t.Errorf("64 KiB binary header = % x", got)
	}
}

func hdrOf(t *testing.T, h Header) []byte {
	t.Helper()
	var buf [MaxHeaderSize]byte
	n, err := PutHeader(buf[:], &h)
	if err != nil {
		t.Fatalf("PutHeader(%+v): %v", h, err)
	}
	return append([]byte(nil), buf[:n]...)
}

var boundaryLengths = []struct {
	length int64
	size   int // encoded header size, unmasked
}{
	{0, 2}, {1, 2}, {125, 2},
	{126, 4}, {127, 4}, {0xFFFF, 4},
	{0x10000, 10}, {1 << 32, 10}, {math.MaxInt64, 10},
}

func TestHeaderLengths(t *testing.T) {
	for _, bl := range boundaryLengths {
		for _, masked := range []bool{false, true} {
			for _, op := range []Opcode{OpText, OpBinary, OpContinuation} {
				name := fmt.Sprintf("%d/masked=%v/%v", bl.length, masked, op)
				t.Run(name, func(t *testing.T) {
					want := hdrBytes(0x80|byte(op), masked, uint64(bl.length), hdrKey)
					wantSize := bl.size
					if masked {
						wantSize += 4
					}
					if len(want) != wantSize {
						t.Fatalf("test table: hand-made header is %d bytes, want %d", len(want), wantSize)
					}
					h := Header{Fin: true, OpCode: op, Masked: masked, Length: bl.length}
					if masked {
						h.Mask = hdrKey
					}
					if h.Size() != wantSize {
						t.Errorf("Size = %d, want %d", h.Size(), wantSize)
					}
					if got := hdrOf(t, h); !bytes.Equal(got, want) {
						t.Errorf("PutHeader = % x, want % x", got, want)
					}
					// Payload bytes after the header must not change the result.
					in := append(append([]byte(nil), want...), 0xde, 0xad)
					got, n, err := ParseHeader(in)
					if err != nil || n != wantSize {
						t.Fatalf("ParseHeader: n = %d, err = %v; want n = %d", n, err, wantSize)
					}
					if got != h {
						t.Fatalf("ParseHeader = %+v, want %+v", got, h)
					}
				})
			}
		}
	}
}

func TestHeaderNeedMore(t *testing.T) {
	// Every strict prefix of a valid header is "need more": n == 0, no error,
	// whatever the length form, the mask and the opcode.
	for _, bl := range boundaryLengths {
		for _, masked := range []bool{false, true} {
			for _, b0 := range []byte{0x81, 0x02, 0x80, 0x89, 0x8A, 0x88, 0xC1} {
				op := Opcode(b0 & 0xF)
				if op.IsControl() && bl.length > MaxControlPayload {
					continue
				}
				full := hdrBytes(b0, masked, uint64(bl.length), hdrKey)
				for i := 0; i < len(full); i++ {
					h, n, err := ParseHeader(full[:i])
					if n != 0 || err != nil {
						t.Fatalf("% x (prefix %d of % x): n = %d, err = %v, h = %+v; want need more", full[:i], i, full, n, err, h)
					}
				}
				if _, n, err := ParseHeader(full); n != len(full) || err != nil {
					t.Fatalf("% x: n = %d, err = %v", full, n, err)
				}
			}
		}
	}
}

func TestHeaderLengthOverflow(t *testing.T) {
	for _, u := range []uint64{1 << 63, 1<<63 | 1, math.MaxUint64} {
		for _, masked := range []bool{false, true} {
			b := []byte{0x82, 127}
			if masked {
				b[1] |= 0x80
			}
			b = binary.BigEndian.AppendUint64(b, u)
			_, n, err := ParseHeader(b)
			if !errors.Is(err, ErrLengthOverflow) || n != 0 {
				t.Errorf("length %#x masked=%v: n = %d, err = %v; want ErrLengthOverflow", u, masked, n, err)
			}
			// Refused as soon as the length is complete, before the mask key.
			if _, _, err := ParseHeader(b[:10]); !errors.Is(err, ErrLengthOverflow) {
				t.Errorf("length %#x, no key yet: err = %v", u, err)
			}
		}
	}
}

func TestHeaderNonMinimalLength(t *testing.T) {
	// RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode
	// the length". A longer form than needed fails the connection (1002),
	// as soon as the length is complete.
	cases := []struct {
		form   byte // 126 or 127
		length uint64
		ok     bool
	}{
		{126, 0, false}, {126, 1, false}, {126, 125, false},
		{126, 126, true}, {126, 0xFFFF, true},
		{127, 0, false}, {127, 125, false}, {127, 126, false}, {127, 0xFFFF, false},
		{127, 0x10000, true}, {127, 1 << 40, true},
	}
	for _, tc := range cases {
		for _, masked := range []bool{false, true} {
			b := []byte{0x82, tc.form}
			if masked {
				b[1] |= 0x80
			}
			if tc.form == 126 {
				b = binary.BigEndian.AppendUint16(b, uint16(tc.length))
			} else {
				b = binary.BigEndian.AppendUint64(b, tc.length)
			}
			lenEnd := len(b)
			if masked {
				b = append(b, hdrKey[:]...)
			}
			h, n, err := ParseHeader(b)
			if tc.ok {
				if err != nil || n != len(b) || h.Length != int64(tc.length) {
					t.Errorf("%d in the %d form, masked=%v: n = %d, err = %v", tc.length, tc.form, masked, n, err)
				}
				continue
			}
			if !errors.Is(err, ErrNonMinimalLength) || n != 0 {
				t.Errorf("%d in the %d form, masked=%v: n = %d, err = %v; want ErrNonMinimalLength", tc.length, tc.form, masked, n, err)
			}
			if _, _, err := ParseHeader(b[:lenEnd]); !errors.Is(err, ErrNonMinimalLength) {
				t.Errorf("%d in the %d form, no key yet: err = %v", tc.length, tc.form, err)
			}
			// A control frame with a non-minimal length is refused too.
			c := append([]byte{0x89}, b[1:]...)
			if _, _, err := ParseHeader(c); err == nil {
				t.Errorf("ping with %d in the %d form accepted", tc.length, tc.form)
			}
		}
	}
}

func TestOpcodeClasses(t *testing.T) {
	for op := Opcode(0); op < 16; op++ {
		reserved := (op >= 3 && op <= 7) || op >= 0xB
		control := op >= 8
		if op.IsReserved() != reserved {
			t.Errorf("%#x IsReserved = %v", byte(op), op.IsReserved())
		}
		if op.IsControl() != control {
			t.Errorf("%#x IsControl = %v", byte(op), op.IsControl())
		}
		if (op.String() == "reserved") != reserved {
			t.Errorf("%#x String = %q", byte(op), op.String())
		}
	}
}

func TestHeaderReservedOpcodes(t *testing.T) {
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		for _, fin := range []byte{0, 0x80} {
			for _, length := range []uint64{0, 5, 200, 70000} {
				for _, masked := range []bool{false, true} {
					b := hdrBytes(fin|op, masked, length, hdrKey)
					_, n, err := ParseHeader(b)
					if !errors.Is(err, ErrReservedOpcode) || n != 0 {
						t.Errorf("op %#x fin %#x len %d masked %v: n = %d, err = %v", op, fin, length, masked, n, err)
					}
					var pe *ProtocolError
					if !errors.As(err, &pe) || pe.Code != StatusProtocolError {
						t.Errorf("op %#x: error %v is not a 1002 ProtocolError", op, err)
					}
				}
			}
		}
	}
}

func TestHeaderControlRules(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"close fin 0", hdrBytes(0x08, false, 0, hdrKey), ErrFragmentedControl},
		{"ping fin 0", hdrBytes(0x09, true, 3, hdrKey), ErrFragmentedControl},
		{"pong fin 0", hdrBytes(0x0A, false, 0, hdrKey), ErrFragmentedControl},
		{"ping 125", hdrBytes(0x89, true, 125, hdrKey), nil},
		{"close 125", hdrBytes(0x88, false, 125, hdrKey), nil},
		{"ping 126", hdrBytes(0x89, true, 126, hdrKey), ErrControlTooLong},
		{"pong 65535", hdrBytes(0x8A, false, 0xFFFF, hdrKey), ErrControlTooLong},
		{"close 64-bit", hdrBytes(0x88, true, 1<<40, hdrKey), ErrControlTooLong},
		// A length must be in its shortest form (TestHeaderNonMinimalLength).
		{"ping 100 in 16-bit form", []byte{0x89, 126, 0, 100}, ErrNonMinimalLength},
		{"ping 126 in 16-bit form", []byte{0x89, 126, 0, 126}, ErrControlTooLong},
		{"ping 126 in 64-bit form", []byte{0x89, 127, 0, 0, 0, 0, 0, 0, 0, 126}, ErrNonMinimalLength},
		{"ping 65536 in 64-bit form", []byte{0x89, 127, 0, 0, 0, 0, 0, 1, 0, 0}, ErrControlTooLong},
	}
	for _, c := range cases {
		_, n, err := ParseHeader(c.in)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
		if c.err == nil && n != len(c.in) {
			t.Errorf("%s: n = %d, want %d", c.name, n, len(c.in))
		}
		if c.err != nil && n != 0 {
			t.Errorf("%s: n = %d with an error", c.name, n)
		}
	}
}

func TestHeaderCheckMasking(t *testing.T) {
	for _, server := range []bool{true, false} {
		for _, masked := range []bool{true, false} {
			h := Header{Fin: true, OpCode: OpText, Masked: masked}
			err := h.Check(server, 0)
			var want error
			switch {
			case server && !masked:
				want = ErrUnmaskedFrame
			case !server && masked:
				want = ErrMaskedFrame
			}
			if err != want {
				t.Errorf("server=%v masked=%v: err = %v, want %v", server, masked, err, want)
			}
		}
	}
}

func TestHeaderCheckReservedBits(t *testing.T) {
	for _, op := range []Opcode{OpText, OpBinary, OpContinuation, OpClose, OpPing, OpPong} {
		for rsv := byte(0); rsv < 8; rsv++ {
			for _, allowed := range []byte{0, Rsv1, Rsv1 | Rsv2 | Rsv3} {
				h := Header{Fin: true, Rsv: rsv, OpCode: op, Masked: true}
				err := h.Check(true, allowed)
				ok := rsv&^allowed == 0 && (rsv == 0 || op == OpText || op == OpBinary)
				if ok && err != nil || !ok && err != ErrReservedBits {
					t.Errorf("op %v rsv %03b allowed %03b: err = %v, want ok=%v", op, rsv, allowed, err, ok)
				}
			}
		}
	}
	// RSV bits decode from the wire to Header.Rsv in the Rsv1..Rsv3 layout.
	for rsv := byte(0); rsv < 8; rsv++ {
		h, _, err := ParseHeader([]byte{0x81 | rsv<<4, 0})
		if err != nil || h.Rsv != rsv {
			t.Errorf("rsv %03b: parsed %03b, err %v", rsv, h.Rsv, err)
		}
		if got := hdrOf(t, Header{Fin: true, Rsv: rsv, OpCode: OpText}); got[0] != 0x81|rsv<<4 {
			t.Errorf("rsv %03b: PutHeader first byte %#x", rsv, got[0])
		}
	}
	if (Header{Rsv: Rsv1}).Rsv != 4 || Rsv2 != 2 || Rsv3 != 1 {
		t.Fatal("Rsv constants changed")
	}
}

func TestPutHeaderBufferTooSmall(t *testing.T) {
	for _, bl := range boundaryLengths {
		for _, masked := range []bool{false, true} {
			h := Header{Fin: true, OpCode: OpBinary, Masked: masked, Length: bl.length}
			buf := make([]byte, MaxHeaderSize)
			for i := range buf {
				buf[i] = 0xAA
			}
			if n, err := PutHeader(buf[:h.Size()-1], &h); err != ErrBufferTooSmall || n != 0 {
				t.Errorf("%+v in %d bytes: n = %d, err = %v", h, h.Size()-1, n, err)
			}
			for _, c := range buf {
				if c != 0xAA {
					t.Fatalf("%+v: PutHeader wrote into a too-small buffer: % x", h, buf)
				}
			}
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int64{0, 1, 125, 126, 127, 0xFFFF, 0x10000, math.MaxInt64}
	var buf [MaxHeaderSize + 3]byte
	for i := 0; i < 20000; i++ {
		op := Opcode(r.IntN(3))
		if r.IntN(2) == 0 {
			op = Opcode(8 + r.IntN(3))
		}
		h := Header{
			Fin:    r.IntN(2) == 0,
			Rsv:    byte(r.IntN(8)),
			OpCode: op,
			Masked: r.IntN(2) == 0,
			Length: lengths[r.IntN(len(lengths))],
		}
		if r.IntN(2) == 0 {
			h.Length = r.Int64N(1 << uint(1+r.IntN(62)))
		}
		if op.IsControl() {
			h.Fin = true
			h.Length %= MaxControlPayload + 1
		}
		if h.Masked {
			k := r.Uint32()
			h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		}
		n, err := PutHeader(buf[:], &h)
		if err != nil || n != h.Size() {
			t.Fatalf("PutHeader(%+v) = %d, %v; Size %d", h, n, err, h.Size())
		}
		if want := hdrBytes(buf[0], h.Masked, uint64(h.Length), h.Mask); !bytes.Equal(buf[:n], want) {
			t.Fatalf("PutHeader(%+v) = % x, want % x", h, buf[:n], want)
		}
		got, m, err := ParseHeader(buf[:n])
		if err != nil || m != n || got != h {
			t.Fatalf("round trip of %+v: got %+v, n %d/%d, err %v", h, got, m, n, err)
		}
	}
}

// closeClass is the rule of RFC 6455 §7.4 written independently of
// ValidCloseCode: which codes a close frame may carry on the wire.
func closeClass(code int) bool {
	switch {
	case code < 1000:
		return false // 0-999: not used
	case code <= 1003:
		return true
	case code <= 1006:
		return false // 1004 reserved, 1005 and 1006 never sent
	case code <= 1014:
		return true // 1007-1011 and the IANA-registered 1012-1014
	case code < 3000:
		return false // 1015 never sent, 1016-2999 reserved
	case code <= 4999:
		return true // libraries, frameworks and applications
	}
	return false
}

func TestValidCloseCode(t *testing.T) {
	boundaries := map[int]bool{
		0: false, 999: false, 1000: true, 1001: true, 1002: true, 1003: true,
		1004: false, 1005: false, 1006: false, 1007: true, 1008: true, 1011: true,
		1012: true, 1013: true, 1014: true, 1015: false, 1016: false, 1100: false,
		2000: false, 2999: false, 3000: true, 3999: true, 4000: true, 4999: true,
		5000: false, 65535: false,
	}
	for code, want := range boundaries {
		if closeClass(code) != want {
			t.Fatalf("test table disagrees with itself at %d", code)
		}
	}
	for code := 0; code <= 0xFFFF; code++ {
		if got, want := ValidCloseCode(StatusCode(code)), closeClass(code); got != want {
			t.Errorf("ValidCloseCode(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestParseClosePayload(t *testing.T) {
	for code := 0; code <= 5001; code++ {
		p := ClosePayload(nil, StatusCode(code), "why")
		if code == 0 {
			if len(p) != 0 {
				t.Fatalf("ClosePayload(0) = % x", p)
			}
			continue
		}
		if want := []byte{byte(code >> 8), byte(code), 'w', 'h', 'y'}; !bytes.Equal(p, want) {
			t.Fatalf("ClosePayload(%d) = % x", code, p)
		}
		got, reason, err := ParseClosePayload(p)
		if closeClass(code) {
			if err != nil || got != StatusCode(code) || reason != "why" {
				t.Errorf("code %d: %d %q %v", code, got, reason, err)
			}
		} else if !errors.Is(err, ErrInvalidCloseCode) {
			t.Errorf("code %d: err = %v, want ErrInvalidCloseCode", code, err)
		}
	}

	cases := []struct {
		name   string
		in     []byte
		code   StatusCode
		reason string
		err    error
	}{
		{"empty", nil, StatusNoStatusReceived, "", nil},
		{"one byte", []byte{0x03}, 0, "", ErrInvalidClosePayload},
		{"one byte zero", []byte{0x00}, 0, "", ErrInvalidClosePayload},
		{"code only", []byte{0x03, 0xE8}, 1000, "", nil},
		{"utf8 reason", append([]byte{0x0F, 0xA0}, "κόσμε"...), 4000, "κόσμε", nil},
		{"123-byte reason", append([]byte{0x03, 0xE8}, bytes.Repeat([]byte{'*'}, 123)...), 1000, string(bytes.Repeat([]byte{'*'}, 123)), nil},
		{"invalid utf8 reason", []byte{0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64}, 1000, "", ErrInvalidCloseReason},
		{"truncated utf8 reason", []byte{0x03, 0xE8, 'a', 0xE2, 0x82}, 1000, "", ErrInvalidCloseReason},
		{"lone continuation reason", []byte{0x0B, 0xB8, 0x80}, 3000, "", ErrInvalidCloseReason},
		{"invalid code beats invalid reason", []byte{0x03, 0xED, 0xFF}, 1005, "", ErrInvalidCloseCode},
	}
	for _, c := range cases {
		code, reason, err := ParseClosePayload(c.in)
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
			continue
		}
		if err == nil && (code != c.code || reason != c.reason) {
			t.Errorf("%s: = %d %q, want %d %q", c.name, code, reason, c.code, c.reason)
		}
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || !ValidCloseCode(pe.Code) {
				t.Errorf("%s: %v is not a ProtocolError with a sendable code", c.name, err)
			}
		}
	}
	// The codes the violations are reported with.
	for err, code := range map[error]StatusCode{
		ErrInvalidClosePayload: 1002, ErrInvalidCloseCode: 1002, ErrInvalidCloseReason: 1007,
	} {
		if err.(*ProtocolError).Code != code {
			t.Errorf("%v: code %d, want %d", err, err.(*ProtocolError).Code, code)
		}
	}
}
