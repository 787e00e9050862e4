package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
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
	up := websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 512}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	}))
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
	_, err := dial(o.addr, o.host, o.path, time.Second, 512)
	if err == nil || !strings.Contains(err.Error(), "Sec-WebSocket-Accept") {
		t.Fatalf("want an accept-key error, got %v", err)
	}
}
