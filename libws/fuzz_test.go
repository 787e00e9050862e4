package libws

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// headerNeed is the encoded size of the header that starts b, computed
// from the first two bytes alone (0 if b is shorter than that).
func headerNeed(b []byte) int {
	if len(b) < 2 {
		return 2
	}
	n := 2
	switch b[1] & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func FuzzParseHeader(f *testing.F) {
	for _, bl := range boundaryLengths {
		for _, masked := range []bool{false, true} {
			f.Add(hdrBytes(0x82, masked, uint64(bl.length), hdrKey))
		}
	}
	for _, b0 := range []byte{0x01, 0x80, 0x83, 0x88, 0x89, 0x8A, 0x0A, 0x8F, 0xF1} {
		f.Add(hdrBytes(b0, true, 5, hdrKey))
		f.Add(hdrBytes(b0, false, 126, hdrKey))
	}
	f.Add([]byte{0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x89, 0x7E, 0x00, 0x7D})
	f.Add([]byte{0x82, 0x7E, 0x00, 0x7D})
	f.Add([]byte{0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF})
	f.Add([]byte{0x81})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, n, err := ParseHeader(data)
		need := headerNeed(data)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != StatusProtocolError || n != 0 {
				t.Fatalf("error %v with n %d", err, n)
			}
			switch err {
			case ErrReservedOpcode, ErrFragmentedControl, ErrControlTooLong, ErrLengthOverflow, ErrNonMinimalLength:
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n == 0 {
			if len(data) >= need {
				t.Fatalf("need more with %d of %d bytes", len(data), need)
			}
			return
		}
		if n != need {
			t.Fatalf("n = %d, want %d", n, need)
		}
		// Every field, decoded again by hand.
		var length uint64
		switch data[1] & 0x7F {
		case 126:
			length = uint64(binary.BigEndian.Uint16(data[2:]))
		case 127:
			length = binary.BigEndian.Uint64(data[2:])
		default:
			length = uint64(data[1] & 0x7F)
		}
		if h.Fin != (data[0]&0x80 != 0) || h.Rsv != data[0]>>4&7 || h.OpCode != Opcode(data[0]&0xF) ||
			h.Masked != (data[1]&0x80 != 0) || uint64(h.Length) != length || h.Length < 0 {
			t.Fatalf("ParseHeader(% x) = %+v", data[:n], h)
		}
		if h.Masked && !bytes.Equal(h.Mask[:], data[n-4:n]) {
			t.Fatalf("mask % x", h.Mask)
		}
		if h.OpCode.IsReserved() || h.OpCode.IsControl() && (!h.Fin || h.Length > MaxControlPayload) {
			t.Fatalf("accepted %+v", h)
		}
		// Re-encoding gives the same header and the same bytes: only the
		// shortest length form is accepted.
		var buf [MaxHeaderSize]byte
		m, err := PutHeader(buf[:], &h)
		if err != nil || m != h.Size() {
			t.Fatal(m, err)
		}
		h2, m2, err := ParseHeader(buf[:m])
		if err != nil || m2 != m || h2 != h {
			t.Fatalf("round trip %+v -> % x -> %+v", h, buf[:m], h2)
		}
		if m != n || !bytes.Equal(buf[:m], data[:n]) {
			t.Fatalf("re-encoded % x, input % x", buf[:m], data[:n])
		}
	})
}

// fuzzOptions picks Options from a byte, so the fuzzer explores the
// limits and switches too.
func fuzzOptions(flags byte) *Options {
	o := &Options{
		DisableAutoPong:  flags&0x04 != 0,
		DisableAutoClose: flags&0x08 != 0,
		KeepBuffer:       []int{0, 64, 1 << 16, 0}[flags>>4&3],
	}
	switch flags & 3 {
	case 1:
		o.MaxMessageSize = 100
	case 2:
		o.MaxMessageSize, o.MaxFrameSize = 1000, 30
	}
	return o
}

// fuzzFeed runs data through p in pieces whose sizes come from splits
// (each byte + 1, cycling; all at once when splits is empty), through
// Space and Commit when useSpace is set and the Protocol offers room.
func fuzzFeed(p *Protocol, data, splits []byte, collect, useSpace bool) run {
	var sizes []int
	if len(splits) > 0 {
		for i, total := 0, 0; total < len(data); i++ {
			n := int(splits[i%len(splits)]) + 1
			sizes = append(sizes, n)
			total += n
		}
	}
	return feedSplit(p, data, sizes, collect, useSpace)
}

// checkOutput parses what a server Protocol sent, as its client would, and
// checks that it is a sequence of valid frames ending, when the Protocol
// failed, with the close frame for its error.
func checkOutput(t *testing.T, out []byte, failed error) {
	t.Helper()
	c := NewProtocol(RoleClient, &Options{DisableAutoPong: true, DisableAutoClose: true})
	var last event
	var frames int
	c.Feed(bytes.Clone(out))
	for {
		f, ok, err := c.NextFrame()
		if err != nil {
			t.Fatalf("output does not parse: %v\n% x", err, out)
		}
		if !ok {
			break
		}
		if f.OpCode != OpPong && f.OpCode != OpClose {
			t.Fatalf("output frame %v", f.OpCode)
		}
		last = event{f.Fin, f.Rsv, f.OpCode, string(f.Payload)}
		frames++
	}
	if c.Buffered() != 0 {
		t.Fatalf("%d bytes of output are not a whole frame", c.Buffered())
	}
	if failed != nil {
		pe := failed.(*ProtocolError)
		want := event{true, 0, OpClose, string(ClosePayload(nil, pe.Code, pe.Msg))}
		if last != want {
			t.Fatalf("failed with %v but the last frame sent is %v", failed, last)
		}
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) || !ValidCloseCode(pe.Code) {
		t.Fatalf("error %v (%T) is not a ProtocolError with a valid close code", err, err)
	}
}

func addProtocolSeeds(f *testing.F) {
	// Seeds stay small: the fuzzer minimises every input that finds new
	// coverage, which for a 64 KiB input takes most of a short run.
	in := cat(
		wire(true, 0, OpText, "Hello", true),
		wire(true, 0, OpBinary, "", true),
		wire(false, 0, OpText, kosme[:3], true),
		wire(true, 0, OpPing, "p1", true),
		wire(false, 0, OpContinuation, kosme[3:8], true),
		wire(true, 0, OpPong, "x", true),
		wire(true, 0, OpContinuation, kosme[8:], true),
		wire(true, 0, OpBinary, pattern(126), true),
		wire(true, 0, OpPing, pattern(125), true),
		wire(true, 0, OpClose, "\x03\xe8bye", true),
		wire(true, 0, OpText, "after close", true),
	)
	f.Add(in, []byte{}, byte(0))
	f.Add(in, []byte{0}, byte(0x40))
	f.Add(in, []byte{200, 3, 17}, byte(0x14))
	ok := wire(true, 0, OpText, "ok", true)
	for _, b := range [][]byte{
		wire(true, 0, 3, "", true),
		wire(true, 4, OpText, "x", true),
		wire(true, 0, OpText, "x", false),
		wire(true, 0, OpContinuation, "x", true),
		cat(wire(false, 0, OpText, "a", true), wire(true, 0, OpBinary, "b", true)),
		cat(wire(false, 0, OpText, "a", true), wire(true, 0, OpPing, "p", true), wire(true, 0, OpContinuation, "b", true)),
		wire(false, 0, OpPing, "x", true),
		wire(true, 0, OpPing, pattern(126), true),
		wire(true, 0, OpText, kosme+"\xed\xa0\x80", true),
		cat(wire(false, 0, OpText, kosme[:4], true), wire(true, 0, OpContinuation, kosme[4:], true)),
		wire(true, 0, OpClose, "\x03\xed", true),
		wire(true, 0, OpClose, "\x03", true),
		wire(true, 0, OpClose, "\x03\xe8\xff", true),
		wire(true, 0, OpClose, "\x0f\xa0bye", true),
		wire(true, 0, OpBinary, pattern(300), true),
		cat([]byte{0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0}, wireKey[:]),
		cat(hdrBytes(0x82, true, 65536, wireKey), []byte("only the start of the payload")),
	} {
		f.Add(cat(ok, b, ok), []byte{}, byte(0))
		f.Add(cat(ok, b, ok), []byte{2}, byte(0x41))
		f.Add(cat(ok, b, ok), []byte{0, 5}, byte(0x22))
	}
}

func FuzzProtocol(f *testing.F) {
	addProtocolSeeds(f)
	f.Fuzz(func(t *testing.T, data, splits []byte, flags byte) {
		opts := fuzzOptions(flags)
		whole := feedSplit(NewProtocol(RoleServer, opts), data, nil, false, false)
		split := fuzzFeed(NewProtocol(RoleServer, opts), data, splits, false, flags&0x40 != 0)
		// The same frames, error and output, however the input was cut.
		if !equalEvents(whole.events, split.events) || whole.err != split.err || !bytes.Equal(whole.out, split.out) {
			t.Fatalf("whole and split input differ:\n%v %v\n%v %v", whole.events, whole.err, split.events, split.err)
		}
		checkErr(t, whole.err)
		checkOutput(t, whole.out, whole.err)
		// Frame rules, checked on what came out.
		inMessage, text := false, false
		var msg []byte
		maxFrame, maxMessage := opts.limits()
		for i, e := range whole.events {
			if e.Op == OpClose && i != len(whole.events)-1 {
				t.Fatal("frame after the close frame")
			}
			if e.Op.IsReserved() || e.Rsv != 0 || int64(len(e.Payload)) > maxFrame {
				t.Fatalf("frame %v", e)
			}
			if e.Op.IsControl() {
				if !e.Fin || len(e.Payload) > MaxControlPayload {
					t.Fatalf("control frame %v", e)
				}
				continue
			}
			if (e.Op == OpContinuation) != inMessage {
				t.Fatalf("fragmentation broken at %v", e)
			}
			if e.Op != OpContinuation {
				text, msg = e.Op == OpText, msg[:0]
			}
			msg = append(msg, e.Payload...)
			if int64(len(msg)) > maxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			inMessage = !e.Fin
			if text && !inMessage && !utf8.Valid(msg) {
				t.Fatalf("invalid text message %q", msg)
			}
		}
	})
}

func equalEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzFragmentCollector(f *testing.F) {
	addProtocolSeeds(f)
	f.Fuzz(func(t *testing.T, data, splits []byte, flags byte) {
		opts := fuzzOptions(flags)
		msgs := fuzzFeed(NewProtocol(RoleServer, opts), data, splits, true, flags&0x40 != 0)
		checkErr(t, msgs.err)
		checkOutput(t, msgs.out, msgs.err)
		_, maxMessage := opts.limits()
		for _, m := range msgs.events {
			if !m.Fin || m.Op == OpContinuation || m.Op.IsReserved() {
				t.Fatalf("message %v", m)
			}
			if m.Op == OpText && !utf8.ValidString(m.Payload) {
				t.Fatalf("invalid UTF-8 text message %q", m.Payload)
			}
			if int64(len(m.Payload)) > maxMessage {
				t.Fatalf("message of %d bytes", len(m.Payload))
			}
		}
		// The same messages as joining the frames by hand.
		frames := feedSplit(NewProtocol(RoleServer, opts), data, nil, false, false)
		var want []event
		var cur *event
		for _, e := range frames.events {
			switch {
			case e.Op.IsControl():
				want = append(want, e)
			case e.Op != OpContinuation:
				cur = &event{true, e.Rsv, e.Op, e.Payload}
			default:
				cur.Payload += e.Payload
			}
			if !e.Op.IsControl() && e.Fin {
				want = append(want, *cur)
			}
		}
		if !equalEvents(msgs.events, want) || msgs.err != frames.err {
			t.Fatalf("messages %v %v\nframes joined %v %v", msgs.events, msgs.err, want, frames.err)
		}
	})
}

func FuzzParseRequest(f *testing.F) {
	good := "GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n" +
		"Sec-WebSocket-Version: 13\r\n\r\n"
	f.Add([]byte(good))
	f.Add([]byte(good + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"))
	f.Add([]byte(good[:len(good)-2]))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("GET /\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nNo colon\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n : empty name\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nA b: c\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nconnection: keep-alive, UPGRADE\r\nupgrade: WebSocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte(strings.Repeat("a", MaxRequestSize)))
	f.Add([]byte("GET /x\x00admin-proto\x00X-Evil:injected HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Inj: a\nAuthorization: Bearer injected\r\n\r\n"))
	f.Add([]byte("GET / HTTP/2\r\nHost: a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, n, err := ParseRequest(data)
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) || (he.Status != 400 && he.Status != 431) || req != nil || n != 0 {
				t.Fatalf("%v, %v, %d", err, req, n)
			}
			if he.Status == 431 && end >= 0 && end+4 <= MaxRequestSize {
				t.Fatalf("431 for a request of %d bytes", end+4)
			}
			return
		}
		if req == nil {
			if n != 0 || end >= 0 || len(data) >= MaxRequestSize {
				t.Fatalf("need more with n %d, end %d, %d bytes", n, end, len(data))
			}
			return
		}
		if n != end+4 || n > MaxRequestSize {
			t.Fatalf("n = %d, end of the header at %d", n, end)
		}
		isCtl := func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7F }
		if req.RequestURI == "" || strings.ContainsFunc(req.RequestURI, func(r rune) bool { return r <= ' ' || r == 0x7F }) ||
			!strings.HasPrefix(req.Proto, "HTTP/") || req.Host != req.Header.Get("Host") {
			t.Fatalf("%+v", req)
		}
		for k, vs := range req.Header {
			if k == "" || strings.ContainsAny(k, " \t:") || strings.ContainsFunc(k, isCtl) {
				t.Fatalf("header name %q", k)
			}
			for _, v := range vs {
				// No value may hold a line break or a NUL: hosts split
				// and terminate on those.
				if v != strings.Trim(v, " \t") || strings.ContainsFunc(v, isCtl) {
					t.Fatalf("header value %q", v)
				}
			}
		}
		// What follows the request does not change it.
		req2, n2, err2 := ParseRequest(data[:n])
		if err2 != nil || n2 != n || fmt.Sprint(req2) != fmt.Sprint(req) {
			t.Fatalf("prefix parses differently: %v %d", err2, n2)
		}
		// Deciding on it never panics; an accepted request has a key of 16
		// bytes and names GET and the upgrade, and gets a 101 with the
		// right accept key; a refused one gets its HTTP error.
		resp, n2nd, herr := req.Accept(&UpgradeOptions{Subprotocols: []string{"chat"}})
		key := req.Header.Get("Sec-WebSocket-Key")
		if herr == nil {
			raw, err := base64.StdEncoding.DecodeString(key)
			if err != nil || len(raw) != 16 || req.Method != "GET" || req.Header.Get("Sec-WebSocket-Version") != "13" ||
				(n2nd.Subprotocol != "" && n2nd.Subprotocol != "chat") {
				t.Fatalf("accepted %+v", req)
			}
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) || !bytes.Contains(resp, []byte("\r\nSec-WebSocket-Accept: "+AcceptKey(key)+"\r\n")) {
				t.Fatalf("response %q", resp)
			}
		} else {
			var he *HandshakeError
			if !errors.As(herr, &he) || he.Status < 400 || he.Status > 499 || !bytes.HasPrefix(resp, fmt.Appendf(nil, "HTTP/1.1 %d ", he.Status)) {
				t.Fatalf("refused with %v: %q", herr, resp)
			}
		}
	})
}
