package libws

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var wireKey = [4]byte{0xa1, 0xb2, 0xc3, 0xd4}

// kosme is the "κόσμε" of the Autobahn test suite, with ό as U+1F79
// (three bytes), written out so that no editor can normalise it.
const kosme = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"

// wire builds one frame by hand, independently of appendFrame: the header
// from hdrBytes and the payload XORed byte by byte with wireKey.
func wire(fin bool, rsv byte, op Opcode, payload string, masked bool) []byte {
	b0 := byte(op)&0xF | rsv<<4
	if fin {
		b0 |= 0x80
	}
	out := hdrBytes(b0, masked, uint64(len(payload)), wireKey)
	start := len(out)
	out = append(out, payload...)
	if masked {
		for i := range len(payload) {
			out[start+i] ^= wireKey[i&3]
		}
	}
	return out
}

func cat(frames ...[]byte) []byte { return bytes.Join(frames, nil) }

// closeWire is the exact close frame a server sends for code and reason.
func closeWire(code StatusCode, reason string) []byte {
	if code == 0 {
		return []byte{0x88, 0x00}
	}
	return append([]byte{0x88, byte(2 + len(reason)), byte(code >> 8), byte(code)}, reason...)
}

// failWire is the close frame a server sends when it fails the connection
// with err.
func failWire(err error) []byte {
	pe := err.(*ProtocolError)
	return closeWire(pe.Code, pe.Msg)
}

type event struct {
	Fin     bool
	Rsv     byte
	Op      Opcode
	Payload string
}

func (e event) String() string {
	p := e.Payload
	if len(p) > 20 {
		p = fmt.Sprintf("%q…(%d bytes)", p[:20], len(p))
	} else {
		p = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf("{fin=%v rsv=%d %v %s}", e.Fin, e.Rsv, e.Op, p)
}

type run struct {
	events []event
	err    error
	out    []byte // everything the Protocol asked to send, in order
}

// drain takes frames or messages out of p until it needs more input or
// fails, and moves its output to r.out as an I/O loop would.
func (r *run) drain(p *Protocol, collect bool) {
	for r.err == nil {
		var f Frame
		var ok bool
		var err error
		if collect {
			f, ok, err = p.NextMessage()
		} else {
			f, ok, err = p.NextFrame()
		}
		r.out = append(r.out, p.Output()...)
		p.Sent(len(p.Output()))
		if err != nil {
			r.err = err
			return
		}
		if !ok {
			return
		}
		r.events = append(r.events, event{f.Fin, f.Rsv, f.OpCode, string(f.Payload)})
	}
}

// feedSplit feeds a copy of data (Feed unmasks in place) in pieces of the
// given sizes, draining after each. With useSpace it fills the Protocol's
// own buffer through Space and Commit whenever it offers one, as Conn does.
func feedSplit(p *Protocol, data []byte, sizes []int, collect, useSpace bool) run {
	data = bytes.Clone(data)
	var r run
	for len(data) > 0 && r.err == nil {
		n := len(data)
		if len(sizes) > 0 {
			n, sizes = min(sizes[0], n), sizes[1:]
		}
		if sp := p.Space(); useSpace && len(sp) > 0 {
			n = copy(sp, data[:n])
			p.Commit(n)
		} else {
			// A fresh slice each time: the caller's buffer is reused only
			// after the Protocol asked for more.
			p.Feed(bytes.Clone(data[:n]))
		}
		data = data[n:]
		r.drain(p, collect)
	}
	return r
}

func randomSizes(r *rand.Rand, total, maxPiece int) []int {
	var s []int
	for total > 0 {
		n := 1 + r.IntN(maxPiece)
		s = append(s, n)
		total -= n
	}
	return s
}

func ones(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return string(b)
}

// A stream that exercises every frame kind and length form, with control
// frames between fragments and text split inside code points.
func streamCase(masked bool) (in []byte, frames, messages []event, out []byte) {
	clef := "𝄞"
	ping125 := strings.Repeat("P", 125)
	in = cat(
		wire(true, 0, OpText, "Hello", masked),
		wire(true, 0, OpBinary, "", masked),
		wire(false, 0, OpText, kosme[:3], masked), // inside ό
		wire(true, 0, OpPing, "p1", masked),
		wire(false, 0, OpContinuation, kosme[3:8], masked),
		wire(true, 0, OpPong, "x", masked),
		wire(true, 0, OpContinuation, kosme[8:], masked),
		wire(true, 0, OpBinary, pattern(126), masked),
		wire(true, 0, OpBinary, pattern(65536), masked),
		wire(true, 0, OpPing, ping125, masked),
		wire(false, 0, OpText, clef[:1], masked),
		wire(false, 0, OpContinuation, clef[1:2], masked),
		wire(false, 0, OpContinuation, "", masked),
		wire(false, 0, OpContinuation, clef[2:3], masked),
		wire(true, 0, OpContinuation, clef[3:], masked),
		wire(true, 0, OpText, "", masked),
		wire(true, 0, OpClose, "\x03\xe8bye", masked),
		wire(true, 0, OpText, "after close", masked),
		wire(true, 0, OpPing, "after close", masked),
	)
	frames = []event{
		{true, 0, OpText, "Hello"},
		{true, 0, OpBinary, ""},
		{false, 0, OpText, kosme[:3]},
		{true, 0, OpPing, "p1"},
		{false, 0, OpContinuation, kosme[3:8]},
		{true, 0, OpPong, "x"},
		{true, 0, OpContinuation, kosme[8:]},
		{true, 0, OpBinary, pattern(126)},
		{true, 0, OpBinary, pattern(65536)},
		{true, 0, OpPing, ping125},
		{false, 0, OpText, clef[:1]},
		{false, 0, OpContinuation, clef[1:2]},
		{false, 0, OpContinuation, ""},
		{false, 0, OpContinuation, clef[2:3]},
		{true, 0, OpContinuation, clef[3:]},
		{true, 0, OpText, ""},
		{true, 0, OpClose, "\x03\xe8bye"},
	}
	messages = []event{
		{true, 0, OpText, "Hello"},
		{true, 0, OpBinary, ""},
		{true, 0, OpPing, "p1"},
		{true, 0, OpPong, "x"},
		{true, 0, OpText, kosme},
		{true, 0, OpBinary, pattern(126)},
		{true, 0, OpBinary, pattern(65536)},
		{true, 0, OpPing, ping125},
		{true, 0, OpText, clef},
		{true, 0, OpText, ""},
		{true, 0, OpClose, "\x03\xe8bye"},
	}
	// The server's replies: two pongs echoing the pings, then the close
	// reply echoing the code without the reason. Nothing for what follows
	// the close frame.
	out = cat(
		[]byte{0x8A, 0x02, 'p', '1'},
		append([]byte{0x8A, 125}, ping125...),
		[]byte{0x88, 0x02, 0x03, 0xE8},
	)
	return
}

func checkRun(t *testing.T, name string, got run, events []event, out []byte) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("%s: error %v after %d events", name, got.err, len(got.events))
	}
	if !reflect.DeepEqual(got.events, events) {
		t.Fatalf("%s: events\n got %v\nwant %v", name, got.events, events)
	}
	if !bytes.Equal(got.out, out) {
		t.Fatalf("%s: output\n got % x\nwant % x", name, got.out, out)
	}
}

func TestProtocolSplits(t *testing.T) {
	in, frames, messages, out := streamCase(true)
	rng := rand.New(rand.NewPCG(6455, 1))
	splits := map[string][]int{
		"whole":        nil,
		"byte by byte": ones(len(in)),
	}
	for i := range 20 {
		splits[fmt.Sprintf("random %d", i)] = randomSizes(rng, len(in), 1+rng.IntN(9000))
	}
	for name, sizes := range splits {
		for _, collect := range []bool{false, true} {
			for _, useSpace := range []bool{false, true} {
				want := frames
				if collect {
					want = messages
				}
				p := NewProtocol(RoleServer, nil)
				got := feedSplit(p, in, sizes, collect, useSpace)
				checkRun(t, fmt.Sprintf("%s collect=%v space=%v", name, collect, useSpace), got, want, out)
				code, reason, ok := p.CloseStatus()
				if !ok || code != 1000 || reason != "bye" {
					t.Fatalf("%s: CloseStatus = %d %q %v", name, code, reason, ok)
				}
			}
		}
	}
}

func TestProtocolClientRole(t *testing.T) {
	// A client reads unmasked frames and masks what it sends: its output
	// must parse, through a server Protocol, to the same pongs and close.
	in, frames, _, want := streamCase(false)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 5 {
		p := NewProtocol(RoleClient, nil)
		got := feedSplit(p, in, randomSizes(rng, len(in), 3000), false, i%2 == 0)
		if got.err != nil || !reflect.DeepEqual(got.events, frames) {
			t.Fatalf("client events %v, err %v", got.events, got.err)
		}
		if len(got.out) != len(want)+3*4 {
			t.Fatalf("client output is %d bytes, want %d (3 masked frames)", len(got.out), len(want)+12)
		}
		srv := NewProtocol(RoleServer, nil)
		back := feedSplit(srv, got.out, nil, false, false)
		wantEvents := []event{
			{true, 0, OpPong, "p1"},
			{true, 0, OpPong, strings.Repeat("P", 125)},
			{true, 0, OpClose, "\x03\xe8"},
		}
		if back.err != nil || !reflect.DeepEqual(back.events, wantEvents) {
			t.Fatalf("client output parsed as %v, %v", back.events, back.err)
		}
	}
}

func TestProtocolClientMasksWrites(t *testing.T) {
	p := NewProtocol(RoleClient, nil)
	if err := p.WriteMessage(OpText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteFrame(false, OpBinary, []byte(pattern(300))); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteClose(StatusGoingAway, "bye"); err != nil {
		t.Fatal(err)
	}
	out := p.Output()
	for i, size := range []int{2 + 4 + 5, 4 + 4 + 300, 2 + 4 + 5} {
		if len(out) < size || out[1]&0x80 == 0 {
			t.Fatalf("frame %d not masked: % x", i, out[:min(len(out), 16)])
		}
		out = out[size:]
	}
	if len(out) != 0 {
		t.Fatalf("%d extra bytes", len(out))
	}
	srv := NewProtocol(RoleServer, nil)
	got := feedSplit(srv, p.Output(), nil, false, false)
	want := []event{{true, 0, OpText, "hello"}, {false, 0, OpBinary, pattern(300)}, {true, 0, OpClose, "\x03\xe9bye"}}
	if got.err != nil || !reflect.DeepEqual(got.events, want) {
		t.Fatalf("got %v %v", got.events, got.err)
	}
	// A server's writes are not masked.
	s := NewProtocol(RoleServer, nil)
	s.WriteMessage(OpText, []byte("hello"))
	if !bytes.Equal(s.Output(), []byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}) {
		t.Fatalf("server output % x", s.Output())
	}
}

func TestProtocolAutoPong(t *testing.T) {
	p := NewProtocol(RoleServer, nil)
	p.Feed(cat(wire(true, 0, OpPing, "hello", true), wire(true, 0, OpPing, "", true)))
	for i, payload := range []string{"hello", ""} {
		f, ok, err := p.NextFrame()
		if err != nil || !ok || f.OpCode != OpPing || string(f.Payload) != payload {
			t.Fatalf("ping %d: %+v %v %v", i, f, ok, err)
		}
	}
	want := []byte{0x8A, 0x05, 'h', 'e', 'l', 'l', 'o', 0x8A, 0x00}
	if !bytes.Equal(p.Output(), want) {
		t.Fatalf("Output = % x, want % x", p.Output(), want)
	}
	p.Sent(3)
	if !bytes.Equal(p.Output(), want[3:]) {
		t.Fatalf("after Sent(3): % x", p.Output())
	}
	p.Sent(len(p.Output()))
	if len(p.Output()) != 0 {
		t.Fatalf("after Sent(all): % x", p.Output())
	}

	q := NewProtocol(RoleServer, &Options{DisableAutoPong: true})
	q.Feed(wire(true, 0, OpPing, "hello", true))
	if f, ok, err := q.NextFrame(); !ok || err != nil || string(f.Payload) != "hello" {
		t.Fatalf("%+v %v %v", f, ok, err)
	}
	if len(q.Output()) != 0 {
		t.Fatalf("DisableAutoPong: Output = % x", q.Output())
	}

	// No pong once our close frame is out.
	r := NewProtocol(RoleServer, nil)
	r.WriteClose(StatusNormalClosure, "")
	r.Sent(len(r.Output()))
	r.Feed(wire(true, 0, OpPing, "late", true))
	if _, ok, err := r.NextFrame(); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(r.Output()) != 0 {
		t.Fatalf("pong after close: % x", r.Output())
	}
}

func TestProtocolAutoClose(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		code   StatusCode
		reason string
		reply  []byte
	}{
		{"code and reason", "\x03\xe8bye", 1000, "bye", []byte{0x88, 0x02, 0x03, 0xE8}},
		{"no status", "", StatusNoStatusReceived, "", []byte{0x88, 0x00}},
		{"going away", "\x03\xe9", 1001, "", []byte{0x88, 0x02, 0x03, 0xE9}},
		{"application code", "\x0f\xa0" + kosme, 4000, kosme, []byte{0x88, 0x02, 0x0F, 0xA0}},
		{"1014", "\x03\xf6", 1014, "", []byte{0x88, 0x02, 0x03, 0xF6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewProtocol(RoleServer, nil)
			in := cat(wire(true, 0, OpClose, c.in, true), wire(true, 0, OpText, "ignored", true), wire(true, 0, OpPing, "ignored", true))
			got := feedSplit(p, in, nil, true, false)
			if got.err != nil || len(got.events) != 1 || got.events[0].Op != OpClose {
				t.Fatalf("events %v err %v", got.events, got.err)
			}
			if !bytes.Equal(got.out, c.reply) {
				t.Fatalf("reply % x, want % x", got.out, c.reply)
			}
			code, reason, ok := p.CloseStatus()
			if !ok || code != c.code || reason != c.reason {
				t.Fatalf("CloseStatus = %d %q %v", code, reason, ok)
			}
			if !p.CloseSent() {
				t.Fatal("CloseSent false after the reply")
			}
			// Frames after the close are ignored, and more input changes nothing.
			p.Feed(wire(true, 0, OpPing, "more", true))
			if f, ok, err := p.NextFrame(); ok || err != nil {
				t.Fatalf("after close: %+v %v %v", f, ok, err)
			}
			if len(p.Output()) != 0 {
				t.Fatalf("output after close: % x", p.Output())
			}
		})
	}

	// The peer answering our close gets no second close frame.
	p := NewProtocol(RoleServer, nil)
	p.WriteClose(StatusGoingAway, "bye")
	if !bytes.Equal(p.Output(), closeWire(1001, "bye")) {
		t.Fatalf("WriteClose: % x", p.Output())
	}
	p.Sent(len(p.Output()))
	p.Feed(wire(true, 0, OpClose, "\x03\xe9", true))
	if _, ok, err := p.NextFrame(); !ok || err != nil || len(p.Output()) != 0 {
		t.Fatalf("%v %v % x", ok, err, p.Output())
	}

	q := NewProtocol(RoleServer, &Options{DisableAutoClose: true})
	q.Feed(wire(true, 0, OpClose, "\x03\xe8", true))
	if _, ok, err := q.NextFrame(); !ok || err != nil || len(q.Output()) != 0 || q.CloseSent() {
		t.Fatalf("DisableAutoClose: %v %v % x", ok, err, q.Output())
	}
	if err := q.WriteClose(StatusNormalClosure, ""); err != nil || !bytes.Equal(q.Output(), closeWire(1000, "")) {
		t.Fatalf("manual close: %v % x", err, q.Output())
	}
}

func TestProtocolFail(t *testing.T) {
	ok := wire(true, 0, OpText, "ok", true)
	cases := []struct {
		name string
		opts *Options
		in   []byte
		err  error
	}{
		{"reserved opcode 3", nil, wire(true, 0, 3, "", true), ErrReservedOpcode},
		{"reserved opcode 0xF", nil, wire(true, 0, 0xF, "x", true), ErrReservedOpcode},
		{"rsv1 on text", nil, wire(true, 4, OpText, "x", true), ErrReservedBits},
		{"rsv3 on binary", nil, wire(true, 1, OpBinary, "x", true), ErrReservedBits},
		{"rsv2 on ping", nil, wire(true, 2, OpPing, "x", true), ErrReservedBits},
		{"unmasked", nil, wire(true, 0, OpText, "x", false), ErrUnmaskedFrame},
		{"orphan continuation", nil, wire(true, 0, OpContinuation, "x", true), ErrUnexpectedContinuation},
		{"orphan continuation after a message", nil, cat(wire(false, 0, OpText, "a", true), wire(true, 0, OpContinuation, "b", true), wire(false, 0, OpContinuation, "c", true)), ErrUnexpectedContinuation},
		{"new message mid-message", nil, cat(wire(false, 0, OpText, "a", true), wire(true, 0, OpBinary, "b", true)), ErrExpectedContinuation},
		{"fragmented ping", nil, wire(false, 0, OpPing, "x", true), ErrFragmentedControl},
		{"fragmented close", nil, wire(false, 0, OpClose, "\x03\xe8", true), ErrFragmentedControl},
		{"ping of 126", nil, wire(true, 0, OpPing, pattern(126), true), ErrControlTooLong},
		{"length overflow", nil, cat([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, wireKey[:]), ErrLengthOverflow},
		{"invalid utf8", nil, wire(true, 0, OpText, "\xff", true), ErrInvalidUTF8},
		{"truncated utf8 at fin", nil, cat(wire(false, 0, OpText, "a\xe2", true), wire(true, 0, OpContinuation, "\x82", true)), ErrInvalidUTF8},
		{"close code 1005", nil, wire(true, 0, OpClose, "\x03\xed", true), ErrInvalidCloseCode},
		{"close code 999", nil, wire(true, 0, OpClose, "\x03\xe7", true), ErrInvalidCloseCode},
		{"close 1 byte", nil, wire(true, 0, OpClose, "\x03", true), ErrInvalidClosePayload},
		{"close bad reason", nil, wire(true, 0, OpClose, "\x03\xe8\xff", true), ErrInvalidCloseReason},
		{"frame too big", &Options{MaxFrameSize: 10}, wire(true, 0, OpBinary, pattern(11), true), ErrFrameTooBig},
		{"message too big", &Options{MaxMessageSize: 10}, cat(wire(false, 0, OpBinary, pattern(6), true), wire(true, 0, OpContinuation, pattern(5), true)), ErrMessageTooBig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, collect := range []bool{false, true} {
				p := NewProtocol(RoleServer, c.opts)
				got := feedSplit(p, cat(ok, c.in, ok), nil, collect, false)
				if !errors.Is(got.err, c.err) {
					t.Fatalf("collect=%v: err = %v, want %v (events %v)", collect, got.err, c.err, got.events)
				}
				if len(got.events) == 0 || got.events[0] != (event{true, 0, OpText, "ok"}) {
					t.Fatalf("the frame before the violation was not returned: %v", got.events)
				}
				if !bytes.Equal(got.out, failWire(c.err)) {
					t.Fatalf("close frame % x, want % x", got.out, failWire(c.err))
				}
				if p.Failed() != c.err || !p.CloseSent() {
					t.Fatalf("Failed = %v, CloseSent = %v", p.Failed(), p.CloseSent())
				}
				// The Protocol stays failed and sends nothing more.
				if _, ok, err := p.NextMessage(); ok || err != c.err || len(p.Output()) != 0 {
					t.Fatalf("after failure: %v %v % x", ok, err, p.Output())
				}
				if err := p.WriteMessage(OpText, []byte("x")); err != ErrClosed {
					t.Fatalf("write after failure: %v", err)
				}
			}
		})
	}
	// The close codes each class of violation is reported with.
	for err, code := range map[*ProtocolError]StatusCode{
		ErrReservedOpcode: 1002, ErrReservedBits: 1002, ErrFragmentedControl: 1002, ErrControlTooLong: 1002,
		ErrLengthOverflow: 1002, ErrUnmaskedFrame: 1002, ErrMaskedFrame: 1002, ErrUnexpectedContinuation: 1002,
		ErrExpectedContinuation: 1002, ErrInvalidUTF8: 1007, ErrFrameTooBig: 1009, ErrMessageTooBig: 1009,
	} {
		if err.Code != code {
			t.Errorf("%v: code %d, want %d", err, err.Code, code)
		}
		if len(err.Msg) > MaxControlPayload-2 {
			t.Errorf("%v: reason does not fit a close frame", err)
		}
	}
}

func TestProtocolClientFailMasked(t *testing.T) {
	p := NewProtocol(RoleClient, nil)
	p.Feed(wire(true, 0, OpText, "x", true)) // a masked frame from the server
	if _, _, err := p.NextFrame(); err != ErrMaskedFrame {
		t.Fatalf("err = %v", err)
	}
	srv := NewProtocol(RoleServer, nil)
	got := feedSplit(srv, p.Output(), nil, false, false)
	want := []event{{true, 0, OpClose, "\x03\xea" + ErrMaskedFrame.Msg}}
	if got.err != nil || !reflect.DeepEqual(got.events, want) {
		t.Fatalf("client close frame parsed as %v %v", got.events, got.err)
	}
}

func TestProtocolInterleavedControl(t *testing.T) {
	in := cat(
		wire(false, 0, OpText, "Hel", true),
		wire(true, 0, OpPing, "a", true),
		wire(true, 0, OpPong, "b", true),
		wire(false, 0, OpContinuation, "l", true),
		wire(true, 0, OpPing, "c", true),
		wire(true, 0, OpContinuation, "o", true),
		wire(true, 0, OpText, "next", true),
	)
	p := NewProtocol(RoleServer, nil)
	got := feedSplit(p, in, nil, true, false)
	want := []event{
		{true, 0, OpPing, "a"}, {true, 0, OpPong, "b"}, {true, 0, OpPing, "c"},
		{true, 0, OpText, "Hello"}, {true, 0, OpText, "next"},
	}
	checkRun(t, "interleaved", got, want, []byte{0x8A, 1, 'a', 0x8A, 1, 'c'})
}

var utf8SplitCases = []string{
	kosme,
	"\u0080\u07ff\u0800\uffff\U00010000\U0010ffff",
	"a€b𝄞c\ud7ff\ue000",
	"Hello-µ@ßöäüàá-UTF-8!!",
}

func TestProtocolUTF8SplitEverywhere(t *testing.T) {
	for _, s := range utf8SplitCases {
		// Two fragments, split at every byte.
		for i := 0; i <= len(s); i++ {
			in := cat(wire(false, 0, OpText, s[:i], true), wire(true, 0, OpContinuation, s[i:], true))
			got := feedSplit(NewProtocol(RoleServer, nil), in, nil, true, false)
			if got.err != nil || len(got.events) != 1 || got.events[0].Payload != s {
				t.Fatalf("%q split at %d: %v %v", s, i, got.events, got.err)
			}
		}
		// One fragment per byte.
		var frames [][]byte
		for i := 0; i < len(s); i++ {
			op := OpContinuation
			if i == 0 {
				op = OpText
			}
			frames = append(frames, wire(i == len(s)-1, 0, op, s[i:i+1], true))
		}
		got := feedSplit(NewProtocol(RoleServer, nil), cat(frames...), nil, true, false)
		if got.err != nil || len(got.events) != 1 || got.events[0].Payload != s {
			t.Fatalf("%q byte per frame: %v %v", s, got.events, got.err)
		}
	}
}

// badUTF8 lists invalid texts with the index of the first byte that makes
// the prefix impossible to complete.
var badUTF8 = []struct {
	s   string
	bad int
}{
	{kosme + "\xed\xa0\x80edited", 12}, // surrogate: ED then A0
	{"abc\xff", 3},
	{"\xf4\x90\x80\x80", 1},          // above U+10FFFF
	{"\xe0\x80\xaf", 1},              // overlong
	{"a\xc0\xaf", 1},                 // C0 never appears
	{"\xce", -1},                     // incomplete only at the end
	{"\xceX", 1},                     // continuation missing
	{"\xf0\x9d\x84", -1},             // incomplete 𝄞
	{"ab\xf0\x9d\x84\x9e\x80", 6},    // stray continuation after 𝄞
	{"\xe2\x82\xac\xed\xbf\xbfz", 4}, // DFFF: surrogate
}

func TestBadUTF8Table(t *testing.T) {
	// The table's bad indexes, checked against unicode/utf8.
	for _, c := range badUTF8 {
		if utf8.ValidString(c.s) {
			t.Fatalf("%q is valid", c.s)
		}
		for k := 0; k <= len(c.s); k++ {
			possible := prefixCompletable(c.s[:k])
			if want := c.bad < 0 || k <= c.bad; possible != want {
				t.Fatalf("%q: prefix of %d completable = %v; table bad index %d", c.s, k, possible, c.bad)
			}
		}
	}
}

// prefixCompletable reports whether some ending makes s valid UTF-8.
func prefixCompletable(s string) bool {
	for _, tail := range []string{"", "\x80", "\x80\x80", "\x80\x80\x80", "\x90\x80\x80", "\xa0\x80", "\x9f\x80", "\x8f\x80\x80", "\xbf", "\xbf\xbf", "\xbf\xbf\xbf", "\xa0", "\x90\x80", "\x90"} {
		if utf8.ValidString(s + tail) {
			return true
		}
	}
	return false
}

func TestProtocolUTF8FailFast(t *testing.T) {
	for _, c := range badUTF8 {
		for i := 0; i <= len(c.s); i++ {
			for _, collect := range []bool{false, true} {
				p := NewProtocol(RoleServer, nil)
				// Neither frame has fin: the message never finishes, so
				// only checking at the end could not find the error.
				r := feedSplit(p, wire(false, 0, OpText, c.s[:i], true), nil, collect, false)
				firstBad := c.bad >= 0 && i > c.bad
				if firstBad != (r.err != nil) {
					t.Fatalf("%q split at %d: first fragment err = %v", c.s, i, r.err)
				}
				if !firstBad {
					r2 := feedSplit(p, wire(false, 0, OpContinuation, c.s[i:], true), nil, collect, false)
					r.err, r.out = r2.err, append(r.out, r2.out...)
					if c.bad < 0 {
						if r.err != nil {
							t.Fatalf("%q split at %d: unfinished but completable text failed: %v", c.s, i, r.err)
						}
						// It fails at the final frame.
						r3 := feedSplit(p, wire(true, 0, OpContinuation, "", true), nil, collect, false)
						r.err, r.out = r3.err, append(r.out, r3.out...)
					}
				}
				if r.err != ErrInvalidUTF8 {
					t.Fatalf("%q split at %d collect=%v: err = %v, want ErrInvalidUTF8", c.s, i, collect, r.err)
				}
				if !bytes.Equal(r.out, failWire(ErrInvalidUTF8)) {
					t.Fatalf("close frame % x", r.out)
				}
			}
		}
	}
	// Binary is not validated, and RSV1 text (compressed, when an extension
	// owns the bit) is left to the extension.
	p := NewProtocol(RoleServer, nil)
	if r := feedSplit(p, wire(true, 0, OpBinary, "\xff\xfe", true), nil, true, false); r.err != nil {
		t.Fatal(r.err)
	}
	q := NewProtocol(RoleServer, nil)
	q.rsvAllowed = Rsv1
	if r := feedSplit(q, wire(true, 4, OpText, "\xff\xfe", true), nil, true, false); r.err != nil || r.events[0].Rsv != Rsv1 {
		t.Fatal(r.events, r.err)
	}
}

func TestProtocolLimitsBeforePayload(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		before []byte // complete frames first
		header []byte // then only the header of the offending frame
		err    error
	}{
		{"frame limit", Options{MaxFrameSize: 1000}, nil, hdrBytes(0x82, true, 1001, wireKey), ErrFrameTooBig},
		{"frame limit 64-bit", Options{MaxFrameSize: 1000}, nil, hdrBytes(0x82, true, 1<<40, wireKey), ErrFrameTooBig},
		// The frame limit defaults to the message limit, so one frame over
		// the message limit is refused as a frame (1009 either way).
		{"default message limit", Options{}, nil, hdrBytes(0x82, true, DefaultMaxMessageSize+1, wireKey), ErrFrameTooBig},
		{"message limit", Options{MaxMessageSize: 1000}, nil, hdrBytes(0x81, true, 1001, wireKey), ErrFrameTooBig},
		{"message limit over fragments", Options{MaxMessageSize: 1000}, cat(wire(false, 0, OpText, strings.Repeat("a", 600), true), wire(true, 0, OpPing, "", true)), hdrBytes(0x00, true, 401, wireKey), ErrMessageTooBig},
		{"frame limit below message limit", Options{MaxFrameSize: 100, MaxMessageSize: 1000}, wire(false, 0, OpBinary, pattern(100), true), hdrBytes(0x00, true, 101, wireKey), ErrFrameTooBig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewProtocol(RoleServer, &c.opts)
			r := feedSplit(p, c.before, nil, false, false)
			if r.err != nil {
				t.Fatal(r.err)
			}
			r = feedSplit(p, c.header, nil, false, false)
			if r.err != c.err {
				t.Fatalf("err = %v, want %v after the header alone", r.err, c.err)
			}
			if !bytes.Equal(r.out, failWire(c.err)) {
				t.Fatalf("close frame % x", r.out)
			}
			if cap(p.pend) > 64 {
				t.Fatalf("buffered %d bytes of room for a refused frame", cap(p.pend))
			}
		})
	}
	// Exactly at the limits is fine.
	p := NewProtocol(RoleServer, &Options{MaxFrameSize: 600, MaxMessageSize: 1000})
	in := cat(wire(false, 0, OpText, strings.Repeat("a", 600), true), wire(true, 0, OpContinuation, strings.Repeat("b", 400), true))
	if r := feedSplit(p, in, nil, true, false); r.err != nil || len(r.events) != 1 || len(r.events[0].Payload) != 1000 {
		t.Fatalf("at the limits: %v", r.err)
	}
}

func TestProtocolHugeLimitNoOverflow(t *testing.T) {
	// With the limits off, a header announcing 2^63-1 bytes must simply wait
	// for them, without overflowing the end-of-frame arithmetic.
	p := NewProtocol(RoleServer, &Options{MaxMessageSize: math.MaxInt64})
	for _, length := range []uint64{math.MaxInt64, math.MaxInt64 - 13, 1 << 62} {
		p.Feed(hdrBytes(0x82, true, length, wireKey))
		f, ok, err := p.NextFrame()
		if ok || err != nil {
			t.Fatalf("length %d: %+v %v %v", length, f, ok, err)
		}
		p = NewProtocol(RoleServer, &Options{MaxMessageSize: math.MaxInt64})
	}
}

func TestProtocolKeepBuffer(t *testing.T) {
	big := pattern(10000)
	in := wire(true, 0, OpBinary, big, true)
	for _, keep := range []int{0, 1 << 20} {
		p := NewProtocol(RoleServer, &Options{KeepBuffer: keep})
		r := feedSplit(p, in, randomSizes(rand.New(rand.NewPCG(3, 3)), len(in), 1500), false, false)
		if r.err != nil || len(r.events) != 1 || r.events[0].Payload != big {
			t.Fatalf("keep=%d: %v", keep, r.err)
		}
		if p.Buffered() != 0 {
			t.Fatalf("keep=%d: Buffered = %d", keep, p.Buffered())
		}
		if keep == 0 && p.pend != nil {
			t.Fatalf("KeepBuffer 0: %d bytes of buffer kept after the frame was drained", cap(p.pend))
		}
		if keep > 0 && cap(p.pend) < len(big) {
			t.Fatalf("KeepBuffer %d: buffer of %d released", keep, cap(p.pend))
		}

		// The same for the output buffer.
		p.WriteMessage(OpBinary, []byte(big))
		p.Sent(len(p.Output()))
		if keep == 0 && p.out != nil {
			t.Fatalf("KeepBuffer 0: output buffer of %d kept", cap(p.out))
		}
		if keep > 0 && cap(p.out) == 0 {
			t.Fatal("output buffer released")
		}
	}
	// A one-off large message assembled from fragments is not pinned.
	p := NewProtocol(RoleServer, nil)
	frag := strings.Repeat("z", 40000)
	r := feedSplit(p, cat(wire(false, 0, OpBinary, frag, true), wire(true, 0, OpContinuation, frag, true)), nil, true, false)
	if r.err != nil || len(r.events) != 1 || len(r.events[0].Payload) != 80000 {
		t.Fatal(r.err)
	}
	if p.fragments != nil {
		t.Fatalf("fragment buffer of %d kept", cap(p.fragments))
	}
}

func TestProtocolBorrowsInput(t *testing.T) {
	// A whole frame fed at once is returned from the caller's slice,
	// unmasked in place, without a copy.
	in := wire(true, 0, OpBinary, "abcdef", true)
	p := NewProtocol(RoleServer, nil)
	p.Feed(in)
	f, ok, err := p.NextFrame()
	if !ok || err != nil || string(f.Payload) != "abcdef" {
		t.Fatal(ok, err)
	}
	if &f.Payload[0] != &in[6] {
		t.Fatal("payload was copied")
	}
	// Bytes left over when more input is needed are copied, so the caller
	// may reuse its buffer.
	in2 := cat(wire(true, 0, OpText, "one", true), wire(true, 0, OpText, "two", true))
	p.Feed(in2[:12])
	if f, ok, _ := p.NextFrame(); !ok || string(f.Payload) != "one" {
		t.Fatal("first frame")
	}
	if _, ok, _ := p.NextFrame(); ok {
		t.Fatal("partial frame returned")
	}
	rest := bytes.Clone(in2[12:])
	for i := range in2 {
		in2[i] = 0xEE
	}
	p.Feed(rest)
	if f, ok, err := p.NextFrame(); !ok || err != nil || string(f.Payload) != "two" {
		t.Fatalf("%q %v %v", f.Payload, ok, err)
	}
}

func TestProtocolWriteChecks(t *testing.T) {
	p := NewProtocol(RoleServer, nil)
	if err := p.WriteFrame(true, OpPing, make([]byte, 126)); err != ErrControlPayload {
		t.Errorf("ping 126: %v", err)
	}
	if err := p.WriteFrame(false, OpPong, nil); err != ErrControlPayload {
		t.Errorf("fragmented pong: %v", err)
	}
	if err := p.WriteFrame(true, 3, nil); err != ErrInvalidOpcode {
		t.Errorf("opcode 3: %v", err)
	}
	if err := p.WriteClose(StatusNoStatusReceived, ""); err != ErrInvalidCloseCode {
		t.Errorf("close 1005: %v", err)
	}
	if err := p.WriteClose(0, "reason"); err != ErrInvalidClosePayload {
		t.Errorf("reason without code: %v", err)
	}
	if len(p.Output()) != 0 || p.CloseSent() {
		t.Fatalf("refused writes queued % x", p.Output())
	}
	// A long reason is cut to fit 125 bytes, at a character boundary.
	long := strings.Repeat("é", 100) // 200 bytes
	if err := p.WriteClose(StatusNormalClosure, long); err != nil {
		t.Fatal(err)
	}
	out := p.Output()
	if out[1] != 2+122 || !utf8.Valid(out[4:]) || string(out[4:]) != strings.Repeat("é", 61) {
		t.Fatalf("close with a long reason: % x", out[:4])
	}
	if err := p.WriteMessage(OpText, []byte("late")); err != ErrClosed {
		t.Errorf("write after close: %v", err)
	}
	if err := p.WriteClose(StatusNormalClosure, ""); err != ErrClosed {
		t.Errorf("second close: %v", err)
	}
}

func TestProtocolFeedAfterClose(t *testing.T) {
	// Once the peer's close frame is in, what follows is ignored, and must
	// not pile up in memory however much of it the peer sends.
	p := NewProtocol(RoleServer, nil)
	p.Feed(cat(wire(true, 0, OpClose, "", true), []byte{0x82, 0xFE, 0xFF, 0xFF}))
	if f, ok, err := p.NextFrame(); !ok || err != nil || f.OpCode != OpClose {
		t.Fatal(ok, err)
	}
	junk := make([]byte, 64<<10)
	for range 64 {
		p.Feed(junk)
		if _, ok, err := p.NextFrame(); ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if p.Buffered() > 64<<10 {
		t.Fatalf("%d bytes buffered after the close frame", p.Buffered())
	}
}

// AppendHeader followed by the body it returns puts on the wire exactly
// what AppendFrame does, compressed or not, and refuses what AppendFrame
// refuses.
func TestProtocolAppendHeader(t *testing.T) {
	json := []byte(strings.Repeat(`{"id":1,"name":"libws","tags":["a","b"]},`, 100))
	cases := []struct {
		name     string
		compress bool
		op       Opcode
		payload  []byte
	}{
		{"empty", false, OpBinary, nil},
		{"small", false, OpText, []byte("hello")},
		{"16-bit length", false, OpBinary, make([]byte, 300)},
		{"64-bit length", false, OpBinary, make([]byte, 70000)},
		{"compressed", true, OpText, json},
		{"ping", false, OpPing, []byte("p")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var viaFrame, viaHeader *Protocol
			if tc.compress {
				_, viaFrame = deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 0)
				_, viaHeader = deflatePair(DeflateParams{}, CompressionOptions{Threshold: 1}, 0)
			} else {
				viaFrame, viaHeader = NewProtocol(RoleServer, nil), NewProtocol(RoleServer, nil)
			}
			want, err := viaFrame.AppendFrame(nil, true, tc.op, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			hdr, body, err := viaHeader.AppendHeader([]byte("x"), true, tc.op, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(hdr[1:], body...); !bytes.Equal(got, want) {
				t.Fatalf("header+body % x\nwant        % x", got[:min(len(got), 16)], want[:min(len(want), 16)])
			}
			if tc.compress && want[0]&0x40 == 0 {
				t.Fatal("the compressed case sent no RSV1 frame")
			}
		})
	}

	p := NewProtocol(RoleServer, nil)
	if _, _, err := p.AppendHeader(nil, true, OpPing, make([]byte, 126)); err != ErrControlPayload {
		t.Errorf("ping 126: %v", err)
	}
	if _, _, err := p.AppendHeader(nil, true, OpClose, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.AppendHeader(nil, true, OpText, []byte("late")); err != ErrClosed {
		t.Errorf("after close: %v", err)
	}
	if _, _, err := NewProtocol(RoleClient, nil).AppendHeader(nil, true, OpText, nil); err != ErrClientHeader {
		t.Errorf("client: %v", err)
	}
}

// TestProtocolUTF8FailsMidFrame: invalid UTF-8 fails the connection as
// soon as the bytes that rule out valid text arrive, even when the frame
// carrying them is far from complete (a peer could otherwise announce a
// large frame, send the bad bytes first and hold the rest back).
func TestProtocolUTF8FailsMidFrame(t *testing.T) {
	const padding = 200 // the frame's tail, never sent
	for _, c := range badUTF8 {
		if c.bad < 0 {
			continue
		}
		for _, masked := range []bool{true, false} {
			for _, continuation := range []bool{false, true} {
				for _, collect := range []bool{false, true} {
					for _, useSpace := range []bool{false, true} {
						name := fmt.Sprintf("%q/masked=%v/continuation=%v/collect=%v/space=%v", c.s, masked, continuation, collect, useSpace)
						role := RoleServer
						if !masked {
							role = RoleClient
						}
						p := NewProtocol(role, nil)
						var before []byte
						op := OpText
						if continuation {
							before = wire(false, 0, OpText, "ok ", masked)
							op = OpContinuation
						}
						frame := wire(true, 0, op, c.s+strings.Repeat("x", padding), masked)
						hdr := len(frame) - len(c.s) - padding
						if r := feedSplit(p, before, nil, collect, useSpace); r.err != nil {
							t.Fatalf("%s: first fragment: %v", name, r.err)
						}
						// Byte by byte, up to and including the first bad byte.
						sent := frame[:hdr+c.bad+1]
						r := feedSplit(p, sent[:len(sent)-1], ones(len(sent)-1), collect, useSpace)
						if r.err != nil {
							t.Fatalf("%s: failed %v before the bad byte", name, r.err)
						}
						r = feedSplit(p, sent[len(sent)-1:], nil, collect, useSpace)
						if !masked {
							// A client masks its close frame: compare it unmasked.
							h, n, _ := ParseHeader(r.out)
							if h.Masked && n > 0 && len(r.out) == n+int(h.Length) {
								Mask(r.out[n:], h.Mask, 0)
								r.out = append([]byte{r.out[0], byte(h.Length)}, r.out[n:]...)
							}
						}
						if r.err != ErrInvalidUTF8 || !bytes.Equal(r.out, failWire(ErrInvalidUTF8)) {
							t.Fatalf("%s: err = %v, out = % x; want ErrInvalidUTF8 at the bad byte", name, r.err, r.out)
						}
					}
				}
			}
		}
	}
}

// TestProtocolUTF8StreamNoFalsePositive: valid text cut anywhere, even
// inside a code point, never fails while its frame is incomplete, and is
// delivered unmasked exactly once.
func TestProtocolUTF8StreamNoFalsePositive(t *testing.T) {
	for _, s := range utf8SplitCases {
		for _, masked := range []bool{true, false} {
			for _, useSpace := range []bool{false, true} {
				role := RoleServer
				if !masked {
					role = RoleClient
				}
				text := strings.Repeat(s, 20)
				in := cat(wire(false, 0, OpText, text, masked), wire(true, 0, OpContinuation, text, masked), wire(true, 0, OpText, text, masked))
				got := feedSplit(NewProtocol(role, nil), in, ones(len(in)), true, useSpace)
				if got.err != nil || len(got.events) != 2 || got.events[0].Payload != text+text || got.events[1].Payload != text {
					t.Fatalf("%q masked=%v space=%v: %v %v", s, masked, useSpace, got.events, got.err)
				}
			}
		}
	}
}

// FuzzProtocolUTF8Stream feeds one text frame in pieces and checks the
// verdict against unicode/utf8: it fails exactly at the first piece after
// which the received text can no longer become valid, and a complete
// frame is accepted exactly when utf8.Valid accepts its payload.
func FuzzProtocolUTF8Stream(f *testing.F) {
	f.Add([]byte(kosme), []byte{1, 2, 3})
	f.Add([]byte("ab\xf0\x9d\x84\x9e\x80cd"), []byte{3, 1})
	f.Add([]byte("\xce"), []byte{1})
	f.Add([]byte(strings.Repeat("a", 40)+"\xed\xa0\x80"), []byte{7, 35})
	f.Fuzz(func(t *testing.T, text, cuts []byte) {
		p := NewProtocol(RoleServer, nil)
		frame := wire(true, 0, OpText, string(text), true)
		hdr := len(frame) - len(text)
		var sizes []int
		for _, c := range cuts {
			sizes = append(sizes, int(c%64)+1)
		}
		// The header first, then the payload in the fuzzed pieces.
		r := feedSplit(p, frame[:hdr], nil, true, false)
		if len(text) == 0 {
			if r.err != nil || len(r.events) != 1 || r.events[0].Payload != "" {
				t.Fatal(r.err, r.events)
			}
			return
		}
		if r.err != nil || len(r.events) != 0 {
			t.Fatal(r.err, r.events)
		}
		got := 0
		for got < len(text) {
			n := len(text) - got
			if len(sizes) > 0 {
				n, sizes = min(sizes[0], n), sizes[1:]
			}
			r := feedSplit(p, frame[hdr+got:hdr+got+n], nil, true, false)
			got += n
			if got == len(text) {
				valid := utf8.Valid(text)
				if (r.err == nil) != valid || valid && (len(r.events) != 1 || r.events[0].Payload != string(text)) {
					t.Fatalf("%x complete: %v %v, utf8.Valid %v", text, r.events, r.err, valid)
				}
				return
			}
			if want := validPrefix(text[:got]); (r.err == nil) != want {
				t.Fatalf("%x after %d bytes: err %v, completable %v", text, got, r.err, want)
			}
			if r.err != nil {
				return
			}
		}
	})
}
