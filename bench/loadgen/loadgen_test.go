//go:build linux

package main

import (
	"bytes"
	"compress/flate"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455 section 1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
}

func TestMaskCopyMatchesBytewise(t *testing.T) {
	src := make([]byte, 300)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for n := 0; n <= len(src); n++ {
		key := rand.Uint32()
		dst := make([]byte, n)
		maskCopy(dst, src[:n], key)
		var k [4]byte
		binary.LittleEndian.PutUint32(k[:], key)
		for i := 0; i < n; i++ {
			if dst[i] != src[i]^k[i%4] {
				t.Fatalf("n=%d: byte %d masked wrong", n, i)
			}
		}
	}
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{0xAB}, n)
		f := appendFrame(nil, opBinary, p, 0x01020304)
		var hlen, got int
		switch {
		case n <= 125:
			hlen, got = 2, int(f[1]&0x7F)
		case n <= 0xFFFF:
			hlen, got = 4, int(binary.BigEndian.Uint16(f[2:]))
		default:
			hlen, got = 10, int(binary.BigEndian.Uint64(f[2:]))
		}
		if f[0] != 0x82 || f[1]&0x80 == 0 || got != n || len(f) != hlen+4+n {
			t.Fatalf("n=%d: bad frame header % x", n, f[:hlen+4])
		}
		key := binary.LittleEndian.Uint32(f[hlen:])
		out := make([]byte, n)
		maskCopy(out, f[hlen+4:], key)
		if !bytes.Equal(out, p) {
			t.Fatalf("n=%d: payload does not unmask", n)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 63, 64, 127, 128, 130, 1000, 1e6, 1e9, maxValue} {
		b := bucketOf(v)
		if b <= prev || b >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", v, b, prev)
		}
		prev = b
		low, width := bucketRange(b)
		if v < low || v >= low+width {
			t.Fatalf("value %d outside its bucket [%d,%d)", v, low, low+width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/subCount*1.01 {
			t.Fatalf("bucket of %d too coarse: width %d at %d", v, width, low)
		}
	}
	var w window
	for i := int64(1); i <= 1000; i++ {
		w.record(int(i), i*1000) // 1µs..1ms
	}
	w.end = w.start.Add(time.Second)
	s := w.summarize()
	if s.Messages != 1000 || s.P50us < 490 || s.P50us > 510 || s.P99us < 975 || s.P99us > 1005 {
		t.Fatalf("summary %+v", s)
	}
}

// echoServer serves gorilla echoes whose frames exercise the client: small
// write buffers fragment big messages, and a ping precedes every 10th echo.
// corrupt, if set, flips one byte of every echo.
func echoServer(t *testing.T, corrupt bool, pongs *atomic.Int64) *httptest.Server {
	return echoServerWith(t, corrupt, false, pongs)
}

// echoServerWith is echoServer, accepting permessage-deflate if compress
// (gorilla then compresses every echo, fragmented like the others).
func echoServerWith(t *testing.T, corrupt, compress bool, pongs *atomic.Int64) *httptest.Server {
	return httptest.NewServer(echoHandler(corrupt, compress, pongs))
}

// echoHandler is the handler of echoServerWith.
func echoHandler(corrupt, compress bool, pongs *atomic.Int64) http.Handler {
	up := websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 512, EnableCompression: compress}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		for i := 0; ; i++ {
			mt, p, err := c.ReadMessage()
			if err != nil {
				return
			}
			if i%10 == 0 {
				c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
			}
			if corrupt && len(p) > 0 {
				p[len(p)/2] ^= 1
			}
			wr, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			wr.Write(p)
			if wr.Close() != nil {
				return
			}
		}
	})
}

func testOptions(srv *httptest.Server, size, inflight int) *options {
	o := &options{
		url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/", conns: 3, size: size, inflight: inflight,
		warmup: 0, duration: 150 * time.Millisecond, runs: 2, timeout: 5 * time.Second, dialers: 4,
	}
	if err := o.check(); err != nil {
		panic(err)
	}
	return o
}

func TestLoadAgainstGorilla(t *testing.T) {
	var pongs atomic.Int64
	srv := echoServer(t, false, &pongs)
	defer srv.Close()
	for _, size := range []int{0, 20, 125, 126, 2000, 65536, 70000} {
		for _, inflight := range []int{1, 4} {
			for _, text := range []bool{false, true} {
				o := testOptions(srv, size, inflight)
				o.text = text
				if err := runLoad(o); err != nil {
					t.Fatalf("size=%d inflight=%d text=%v: %v", size, inflight, text, err)
				}
			}
		}
	}
	if pongs.Load() == 0 {
		t.Fatal("the client never answered a ping")
	}
}

func TestLoadDetectsCorruptEcho(t *testing.T) {
	var pongs atomic.Int64
	srv := echoServer(t, true, &pongs)
	defer srv.Close()
	for _, inflight := range []int{1, 3} {
		err := runLoad(testOptions(srv, 100, inflight))
		if err == nil || !strings.Contains(err.Error(), "echo differs at byte 50") {
			t.Fatalf("inflight=%d: want a byte mismatch, got %v", inflight, err)
		}
	}
}

func TestHandshakeRejectsBadAccept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", "bogus")
		w.WriteHeader(http.StatusSwitchingProtocols)
		io.WriteString(w, "")
	}))
	defer srv.Close()
	o := testOptions(srv, 1, 1)
	_, err := dial(o.addr, o.host, o.path, time.Second, 512, false, nil)
	if err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Fatalf("want an accept-key error, got %v", err)
	}
}

// stdlibInflate inflates a permessage-deflate payload the way RFC 7692
// describes, with compress/flate and nothing of loadgen's.
func stdlibInflate(payload []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) { // the stream has no final block
		err = nil
	}
	return out, err
}

func TestDeflateRoundTrip(t *testing.T) {
	random := make([]byte, 70000)
	rand.NewChaCha8([32]byte{1}).Read(random)
	cases := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"json 1 KiB", jsonMessage(1024, 1, 0)},
		{"json 16 KiB", jsonMessage(16384, 1, 7)},
		{"incompressible 70000", random},
		{"repetitive 100000", bytes.Repeat([]byte("abc"), 100000/3)},
	}
	z := newCompressor()
	var inf inflater
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// loadgen's compressor against the stdlib's inflater.
			p := bytes.Clone(z.compress(tc.msg))
			got, err := stdlibInflate(p)
			if err != nil || !bytes.Equal(got, tc.msg) {
				t.Fatalf("compress then stdlib inflate: %d bytes, %v", len(got), err)
			}
			// The 4 bytes removed are the sync flush's 00 00 ff ff.
			var full bytes.Buffer
			fw, _ := flate.NewWriter(&full, flate.BestSpeed)
			fw.Write(tc.msg)
			fw.Flush()
			if !bytes.Equal(append(bytes.Clone(p), 0, 0, 0xff, 0xff), full.Bytes()) {
				t.Fatalf("payload is not the sync-flushed stream less its tail")
			}

			// loadgen's inflater on streams from every stdlib level: stored
			// blocks, Huffman only, fixed and dynamic codes; also several
			// flushes within one message, as a server writing fragments
			// may produce.
			for _, level := range []int{flate.NoCompression, flate.HuffmanOnly, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
				for _, pieces := range []int{1, 3} {
					var b bytes.Buffer
					fw, _ := flate.NewWriter(&b, level)
					for i := range pieces {
						fw.Write(tc.msg[len(tc.msg)*i/pieces : len(tc.msg)*(i+1)/pieces])
						fw.Flush()
					}
					in := append(b.Bytes()[:b.Len()-4], inflateTail...)
					dst := make([]byte, len(tc.msg))
					n, err := inf.inflate(dst, in)
					if err != nil || n != len(tc.msg) || !bytes.Equal(dst, tc.msg) {
						t.Fatalf("level %d, %d flushes: inflated %d of %d bytes, %v", level, pieces, n, len(tc.msg), err)
					}
				}
			}
		})
	}
}

func TestInflateErrors(t *testing.T) {
	z := newCompressor()
	msg := jsonMessage(1024, 3, 3)
	good := append(bytes.Clone(z.compress(msg)), inflateTail...)
	corrupt := bytes.Clone(good)
	corrupt[0] |= 0x06 // block type 3: reserved
	cases := []struct {
		name string
		in   []byte
		dst  int
		want string
	}{
		{"exact room", good, 1024, ""},
		{"room to spare", good, 2000, ""},
		{"longer than sent", good, 1023, "echo longer than the message sent"},
		{"empty message, no room", append([]byte{0}, inflateTail...), 0, ""},
		{"longer than sent, no room", good, 0, "echo longer than the message sent"},
		{"corrupt", corrupt, 1024, "inflating the echo"},
		{"truncated", good[:len(good)/2], 1024, "inflating the echo"},
		{"no tail", good[:len(good)-len(inflateTail)], 1024, "ends mid-stream"},
	}
	var inf inflater
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := inf.inflate(make([]byte, tc.dst), tc.in)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want == "" && tc.dst > 0 && n != len(msg):
				t.Fatalf("inflated %d bytes, want %d", n, len(msg))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The inflater is reusable after an error.
	dst := make([]byte, 1024)
	if n, err := inf.inflate(dst, good); err != nil || n != 1024 || !bytes.Equal(dst, msg) {
		t.Fatalf("after errors: %d, %v", n, err)
	}
}

func TestParseDeflateResponse(t *testing.T) {
	const ok = "permessage-deflate; server_no_context_takeover"
	cases := []struct {
		name    string
		values  []string
		want    bool   // negotiated
		wantErr string // part of the error, "" for none
		params  deflateParams
	}{
		{"no header: declined", nil, false, "", deflateParams{}},
		{"empty header: declined", []string{""}, false, "", deflateParams{}},
		{"empty list elements: declined", []string{" , ,"}, false, "", deflateParams{}},
		{"minimal acceptance", []string{ok}, true, "", deflateParams{}},
		{"as libws answers", []string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, true, "", deflateParams{clientNoContextTakeover: true}},
		{"as ws answers", []string{"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, true, "", deflateParams{clientNoContextTakeover: true}},
		{"case and spacing", []string{"  Permessage-Deflate ;SERVER_NO_CONTEXT_TAKEOVER  "}, true, "", deflateParams{}},
		{"server_max_window_bits", []string{ok + "; server_max_window_bits=10"}, true, "", deflateParams{serverMaxWindowBits: 10}},
		{"quoted window bits", []string{ok + `; server_max_window_bits="15"`}, true, "", deflateParams{serverMaxWindowBits: 15}},
		{"empty element around it", []string{"", ok + ","}, true, "", deflateParams{}},

		{"another extension", []string{"x-webkit-deflate-frame"}, false, "not offered", deflateParams{}},
		{"two extensions", []string{ok + ", x-foo"}, false, "2 extensions", deflateParams{}},
		{"deflate twice, two headers", []string{ok, ok}, false, "2 extensions", deflateParams{}},
		{"context takeover kept", []string{"permessage-deflate"}, false, "lacks server_no_context_takeover", deflateParams{}},
		{"only client_no_context_takeover", []string{"permessage-deflate; client_no_context_takeover"}, false, "lacks server_no_context_takeover", deflateParams{}},
		{"client_max_window_bits not offered", []string{ok + "; client_max_window_bits=10"}, false, "client_max_window_bits", deflateParams{}},
		{"unknown parameter", []string{ok + "; mystery"}, false, "unknown parameter", deflateParams{}},
		{"repeated parameter", []string{ok + "; server_no_context_takeover"}, false, "repeats", deflateParams{}},
		{"value on a flag", []string{"permessage-deflate; server_no_context_takeover=1"}, false, "takes no value", deflateParams{}},
		{"empty parameter", []string{"permessage-deflate;; server_no_context_takeover"}, false, "malformed", deflateParams{}},
		{"window bits without value", []string{ok + "; server_max_window_bits"}, false, "8 to 15", deflateParams{}},
		{"window bits too small", []string{ok + "; server_max_window_bits=7"}, false, "8 to 15", deflateParams{}},
		{"window bits too large", []string{ok + "; server_max_window_bits=16"}, false, "8 to 15", deflateParams{}},
		{"window bits leading zero", []string{ok + "; server_max_window_bits=010"}, false, "8 to 15", deflateParams{}},
		{"window bits signed", []string{ok + "; server_max_window_bits=+9"}, false, "8 to 15", deflateParams{}},
		{"window bits not a number", []string{ok + "; server_max_window_bits=ten"}, false, "8 to 15", deflateParams{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, got, err := parseDeflateResponse(tc.values)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || got {
					t.Fatalf("got (%v, %v), want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want || p != tc.params {
				t.Fatalf("got (%+v, %v, %v), want (%+v, %v)", p, got, err, tc.params, tc.want)
			}
		})
	}
}

func TestJSONPayload(t *testing.T) {
	z := newCompressor()
	for _, size := range []int{0, 1, 2, 5, 11, 12, 20, 100, 213, 1024, 16384} {
		seen := map[string]bool{}
		for i := range uint64(20) {
			m := jsonMessage(size, 42, i)
			if len(m) != size {
				t.Fatalf("size %d, message %d: %d bytes", size, i, len(m))
			}
			if !bytes.Equal(m, jsonMessage(size, 42, i)) {
				t.Fatalf("size %d, message %d: not deterministic", size, i)
			}
			for j, c := range m {
				if c < ' ' || c > '~' {
					t.Fatalf("size %d, message %d: byte %d is %#x, not printable ASCII", size, i, j, c)
				}
			}
			if size >= 2 && !json.Valid(m) {
				t.Fatalf("size %d, message %d: invalid JSON %q", size, i, m)
			}
			seen[string(m)] = true
		}
		if size >= 100 {
			if len(seen) != 20 {
				t.Fatalf("size %d: only %d distinct messages of 20", size, len(seen))
			}
			if bytes.Equal(jsonMessage(size, 42, 0), jsonMessage(size, 43, 0)) {
				t.Fatalf("size %d: the seed makes no difference", size)
			}
		}
	}
	// Compressible, like real JSON, but far from a repeated pattern.
	m := jsonMessage(1024, 1, 0)
	if r := float64(len(z.compress(m))) / float64(len(m)); r < 0.25 || r > 0.7 {
		t.Fatalf("1 KiB message compresses to %.2f of its size", r)
	}
	var recs []map[string]any
	if err := json.Unmarshal(m, &recs); err != nil || len(recs) < 4 || recs[0]["user"] == nil {
		t.Fatalf("1 KiB message: %d records, %v", len(recs), err)
	}
}

func TestLoadDeflateAgainstGorilla(t *testing.T) {
	var pongs atomic.Int64
	srv := echoServerWith(t, false, true, &pongs)
	defer srv.Close()
	// 70000 is above maxPrecompressed: compressed on every send.
	for _, size := range []int{0, 20, 1024, 70000} {
		for _, inflight := range []int{1, 4} {
			for _, jsonMsgs := range []bool{false, true} {
				o := testOptions(srv, size, inflight)
				o.deflate, o.jsonMsgs = true, jsonMsgs
				rep, err := measure(o)
				if err != nil {
					t.Fatalf("size=%d inflight=%d json=%v: %v", size, inflight, jsonMsgs, err)
				}
				tr := rep.Traffic
				if !*rep.Deflate || rep.DeflateConns != o.conns || tr.SentMsgs == 0 || tr.RecvCompressedMsgs == 0 ||
					tr.SentCompressedMsgs != tr.SentMsgs || tr.RecvBytes != tr.RecvMsgs*uint64(size) {
					t.Fatalf("size=%d inflight=%d json=%v: report %+v, traffic %+v", size, inflight, jsonMsgs, rep, tr)
				}
				if jsonMsgs && size == 1024 && (tr.SentRatio > 0.7 || tr.RecvRatio > 0.7) {
					t.Fatalf("JSON barely compressed: %+v", tr)
				}
			}
		}
	}
	// A corrupted echo is caught after inflating.
	bad := echoServerWith(t, true, true, &pongs)
	defer bad.Close()
	o := testOptions(bad, 1024, 1)
	o.deflate, o.jsonMsgs = true, true
	if _, err := measure(o); err == nil || !strings.Contains(err.Error(), "echo differs at byte 512") {
		t.Fatalf("want a byte mismatch, got %v", err)
	}
}

func TestLoadDeflateDeclined(t *testing.T) {
	var pongs atomic.Int64
	srv := echoServer(t, false, &pongs) // compression off
	defer srv.Close()
	o := testOptions(srv, 1024, 1)
	o.deflate, o.jsonMsgs = true, true
	rep, err := measure(o)
	if err != nil {
		t.Fatal(err)
	}
	if *rep.Deflate || rep.DeflateConns != 0 || rep.Traffic.WireRatio != 1 || rep.Traffic.RecvCompressedMsgs != 0 {
		t.Fatalf("declined, yet report %+v, traffic %+v", rep, rep.Traffic)
	}
	b, _ := json.Marshal(rep)
	if !strings.Contains(string(b), `"deflate":false`) {
		t.Fatalf("JSON report does not say deflate false: %s", b)
	}
	// Without the flags the report has none of the new fields.
	o = testOptions(srv, 20, 1)
	rep, err = measure(o)
	b, _ = json.Marshal(rep)
	if err != nil || strings.Contains(string(b), "deflate") || strings.Contains(string(b), "traffic") || strings.Contains(string(b), "payload") {
		t.Fatalf("report without -deflate: %s, %v", b, err)
	}
}

// rawServer answers the handshake with extra response headers, then sends
// frames, and reads until the client goes.
func rawServer(t *testing.T, headers string, frames []byte) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: " + acceptKey(r.Header.Get("Sec-WebSocket-Key")) + "\r\n" + headers + "\r\n")
		brw.Write(frames)
		brw.Flush()
		io.Copy(io.Discard, nc)
	}))
}

// dialRaw connects to a rawServer sending headers and frames; the
// connection's reads fail after 2 s, so that a missed frame or error does
// not hang the test.
func dialRaw(t *testing.T, headers string, frames []byte, offerDeflate bool) *conn {
	t.Helper()
	srv := rawServer(t, headers, frames)
	t.Cleanup(srv.Close)
	o := testOptions(srv, 1, 1)
	c, err := dial(o.addr, o.host, o.path, time.Second, 512, offerDeflate, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.nc.Close() })
	c.nc.SetDeadline(time.Now().Add(2 * time.Second))
	return c
}

func TestHandshakeDeflateAnswers(t *testing.T) {
	compressed := []byte{0xC1, 0} // text, RSV1, empty payload
	cases := []struct {
		name    string
		offer   bool
		headers string
		wantErr string
		deflate bool
	}{
		{"accepted", true, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", "", true},
		{"declined", true, "", "", false},
		{"malformed answer", true, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=9\r\n", "client_max_window_bits", false},
		{"takeover kept", true, "Sec-WebSocket-Extensions: permessage-deflate\r\n", "lacks server_no_context_takeover", false},
		{"answered without an offer", false, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", "not offered", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := rawServer(t, tc.headers, nil)
			defer srv.Close()
			o := testOptions(srv, 1, 1)
			c, err := dial(o.addr, o.host, o.path, time.Second, 512, tc.offer, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.nc.Close()
			if c.deflate != tc.deflate {
				t.Fatalf("deflate = %v, want %v", c.deflate, tc.deflate)
			}
		})
	}

	// RSV1 only counts once negotiated, and only on a data message's first
	// frame.
	frames := []struct {
		name    string
		headers string
		frames  []byte
		wantErr string
	}{
		{"RSV1 without deflate", "", compressed, "RSV bits set (0x40) without a negotiated extension"},
		{"RSV1 on a ping", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", []byte{0xC9, 0}, "RSV1 set on a frame with opcode 0x9"},
		{"RSV1 on a continuation", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", []byte{0x01, 1, 'a', 0xC0, 1, 'b'}, "RSV1 set on a frame with opcode 0x0"},
		{"RSV2", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", []byte{0xA1, 0}, "beyond permessage-deflate's RSV1"},
		{"empty compressed message", "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n", []byte{0xC1, 1, 0}, ""},
	}
	for _, tc := range frames {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tc.headers, tc.frames, true)
			_, msg, err := c.readMessage(make([]byte, 10))
			if tc.wantErr == "" {
				if err != nil || len(msg) != 0 {
					t.Fatalf("read %d bytes, %v", len(msg), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}

// A single-frame echo comes back as a view of the read buffer, a
// fragmented one assembled in dst, a frame larger than the buffer read
// into dst; each with the right bytes, whichever way it took.
func TestReadMessageViewsAndAssembles(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100)
	var frames []byte
	frames = append(frames, 0x01, 2, 'a', 'b', 0x80, 2, 'c', 'd') // fragmented text
	frames = append(frames, 0x82, 3, 'x', 'y', 'z')               // one binary frame
	frames = append(frames, 0x82, 126, byte(len(big)>>8), byte(len(big)))
	frames = append(frames, big...)
	c := dialRaw(t, "", frames, false)
	dst := make([]byte, 2000)
	inDst := func(m []byte) bool { return len(m) > 0 && &m[0] == &dst[0] }
	for _, want := range []struct {
		op     byte
		msg    []byte
		inDst  bool
		reason string
	}{
		{opText, []byte("abcd"), true, "fragmented"},
		{opBinary, []byte("xyz"), false, "one frame within the buffer"},
		{opBinary, big, true, "one frame beyond the buffer"},
	} {
		op, msg, err := c.readMessage(dst)
		if err != nil || op != want.op || !bytes.Equal(msg, want.msg) || inDst(msg) != want.inDst {
			t.Fatalf("%s: op %#x, %d bytes (in dst %v), %v", want.reason, op, len(msg), inDst(msg), err)
		}
	}
}

// tlsEchoServer is echoServer over TLS, offering only the versions given.
func tlsEchoServer(t *testing.T, minV, maxV uint16) *httptest.Server {
	var pongs atomic.Int64
	srv := httptest.NewUnstartedServer(echoHandler(false, false, &pongs))
	srv.TLS = &tls.Config{MinVersion: minV, MaxVersion: maxV}
	srv.StartTLS()
	return srv
}

func wssOptions(t *testing.T, srv *httptest.Server, size, inflight int) *options {
	o := &options{
		url: "wss" + strings.TrimPrefix(srv.URL, "https") + "/", conns: 3, size: size, inflight: inflight,
		warmup: 0, duration: 150 * time.Millisecond, runs: 2, timeout: 5 * time.Second, dialers: 4,
	}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLoadOverTLS(t *testing.T) {
	srv := tlsEchoServer(t, tls.VersionTLS13, 0)
	defer srv.Close()
	for _, size := range []int{20, 16384, 70000} {
		for _, inflight := range []int{1, 4} {
			rep, err := measure(wssOptions(t, srv, size, inflight))
			if err != nil {
				t.Fatalf("size=%d inflight=%d: %v", size, inflight, err)
			}
			if rep.MsgsPerSec <= 0 {
				t.Fatalf("size=%d inflight=%d: no echo over TLS", size, inflight)
			}
		}
	}
}

func TestTLSBelow13Refused(t *testing.T) {
	srv := tlsEchoServer(t, tls.VersionTLS12, tls.VersionTLS12)
	defer srv.Close()
	o := wssOptions(t, srv, 20, 1)
	_, err := dial(o.addr, o.host, o.path, time.Second, 512, false, o.tlsConf)
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") {
		t.Fatalf("want a TLS handshake error from a TLS 1.2 server, got %v", err)
	}
}

func TestURLSchemes(t *testing.T) {
	for _, tc := range []struct {
		url, addr, err string
		tls            bool
	}{
		{"ws://127.0.0.1:9/", "127.0.0.1:9", "", false},
		{"ws://example.com/x", "example.com:80", "", false},
		{"wss://127.0.0.1:9/", "127.0.0.1:9", "", true},
		{"wss://example.com/", "example.com:443", "", true},
		{"http://127.0.0.1:9/", "", "not supported", false},
	} {
		o := &options{url: tc.url, conns: 1, inflight: 1, runs: 1, duration: time.Second, timeout: time.Second, dialers: 1}
		err := o.check()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: want error %q, got %v", tc.url, tc.err, err)
			}
			continue
		}
		if err != nil || o.addr != tc.addr || (o.tlsConf != nil) != tc.tls {
			t.Errorf("%s: addr %q tls %v err %v; want %q tls %v", tc.url, o.addr, o.tlsConf != nil, err, tc.addr, tc.tls)
		}
		if tc.tls && o.tlsConf.MinVersion != tls.VersionTLS13 {
			t.Errorf("%s: TLS minimum version %x, want 1.3", tc.url, o.tlsConf.MinVersion)
		}
	}
}

func TestStatTicks(t *testing.T) {
	rest := " S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1 0 5 6 7"
	for _, tc := range []struct {
		line string
		want int64
		err  bool
	}{
		{"42 (echo_server)" + rest, 281, false},
		{"42 (a b) c))" + rest, 281, false}, // the name may hold spaces and ')'
		{"42 (x) S 1 2", 0, true},
		{"42 x" + rest, 0, true},
		{"42 (x) S 1 2 3 4 5 6 7 8 9 10 -1 31", 0, true},
		{"42 (x) S 1 2 3 4 5 6 7 8 9 10 ab 31", 0, true},
	} {
		got, err := statTicks(tc.line)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d, error %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}

// The echo server runs in this process, so -server-pid is our own pid: the
// report must hold a positive CPU time per message, and a pid that does not
// exist must be refused up front.
func TestServerPID(t *testing.T) {
	var pongs atomic.Int64
	srv := echoServer(t, false, &pongs)
	defer srv.Close()
	o := testOptions(srv, 1024, 1)
	o.serverPIDs = pidList{os.Getpid()}
	rep, err := measure(o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ServerCPUPerMsg <= 0 || rep.ServerCPU <= 0 {
		t.Fatalf("server CPU not reported: %.3f cores, %.3f µs/msg", rep.ServerCPU, rep.ServerCPUPerMsg)
	}
	for i, r := range rep.Runs {
		if r.ServerCPUPerMsg <= 0 {
			t.Errorf("run %d: no server CPU per message", i)
		}
	}
	o.serverPIDs = pidList{1 << 30} // above pid_max
	if err := o.check(); err == nil || !strings.Contains(err.Error(), "-server-pid") {
		t.Fatalf("want a -server-pid error for a missing process, got %v", err)
	}
}
