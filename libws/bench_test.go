package libws_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/libws/libws/libws"
	"github.com/lxzan/gws"
)

var (
	sinkHeader libws.Header
	sinkInt    int
)

var benchHeaders = []struct {
	name string
	h    libws.Header
}{
	{"7bit-masked", libws.Header{Fin: true, OpCode: libws.OpText, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 20}},
	{"16bit", libws.Header{Fin: true, OpCode: libws.OpBinary, Length: 16384}},
	{"64bit-masked", libws.Header{Fin: true, OpCode: libws.OpBinary, Masked: true, Mask: [4]byte{1, 2, 3, 4}, Length: 1 << 20}},
}

func BenchmarkParseHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		var buf [libws.MaxHeaderSize]byte
		n, _ := libws.PutHeader(buf[:], &bh.h)
		in := buf[:n]
		b.Run(bh.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h, n, err := libws.ParseHeader(in)
				if err != nil || n == 0 {
					b.Fatal(err)
				}
				sinkHeader = h
			}
		})
	}
}

func BenchmarkPutHeader(b *testing.B) {
	for _, bh := range benchHeaders {
		b.Run(bh.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf [libws.MaxHeaderSize]byte
			h := bh.h
			for b.Loop() {
				n, err := libws.PutHeader(buf[:], &h)
				if err != nil {
					b.Fatal(err)
				}
				sinkInt += n
			}
		})
	}
}

// BenchmarkProtocol is the sans-I/O receive path: Feed one 20-byte masked
// text frame, take the message out, and find the input drained.
func BenchmarkProtocol(b *testing.B) {
	frame := cframe(true, 0, 0x1, []byte("0123456789abcdefghij"))
	buf := make([]byte, len(frame))
	p := libws.NewProtocol(libws.RoleServer, nil)
	b.ReportAllocs()
	b.SetBytes(20)
	for b.Loop() {
		copy(buf, frame) // Feed unmasks in place
		p.Feed(buf)
		f, ok, err := p.NextMessage()
		if !ok || err != nil || len(f.Payload) != 20 {
			b.Fatal(ok, err)
		}
		if _, ok, err := p.NextMessage(); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// ---- echo servers, one per library, each with its idiomatic loop ----

type echoLib struct {
	name  string
	start func(tb testing.TB) string // returns the address
}

var echoLibs = []echoLib{
	{"libws", startLibwsEcho},
	{"gorilla", startGorillaEcho},
	{"gws", startGWSEcho},
}

func startLibwsEcho(tb testing.TB) string {
	return startServer(tb, nil, echo).addr
}

func startGorillaEcho(tb testing.TB) string {
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	srv := &http.Server{ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		// gorilla's allocation-free echo: stream each message from
		// NextReader into NextWriter (its writer implements ReaderFrom).
		for {
			mt, rd, err := c.NextReader()
			if err != nil {
				return
			}
			wr, err := c.NextWriter(mt)
			if err != nil {
				return
			}
			if _, err := io.Copy(wr, rd); err != nil {
				return
			}
			if err := wr.Close(); err != nil {
				return
			}
		}
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

type gwsEcho struct{ gws.BuiltinEventHandler }

func (gwsEcho) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (gwsEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close() // returns the buffer to gws's pool
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

func startGWSEcho(tb testing.TB) string {
	up := gws.NewUpgrader(gwsEcho{}, &gws.ServerOption{
		ParallelEnabled:   false,
		PermessageDeflate: gws.PermessageDeflate{Enabled: false},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// gws.Server.RunListener retries Accept forever once the listener
		// is closed, so the accept loop is ours.
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReaderSize(nc, 4096)
				r, err := http.ReadRequest(br)
				if err != nil {
					nc.Close()
					return
				}
				c, err := up.UpgradeFromConn(nc, br, r)
				if err != nil {
					return
				}
				c.ReadLoop()
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoClient is the load side, the same for every server: it writes one
// pre-masked binary frame and reads the echo back, with no allocation and
// no WebSocket library of its own. The echo may come fragmented (gorilla's
// streaming writer flushes every 4 KiB); fragments are joined.
type echoClient struct {
	nc      net.Conn
	frame   []byte // masked, as sent
	payload []byte
	buf     []byte // the echoed payload
	hdr     [10]byte
}

func newEchoClient(tb testing.TB, addr string, size int) *echoClient {
	c := dialRaw(tb, addr, nil)
	if c.br.Buffered() != 0 {
		tb.Fatal("bytes after the 101")
	}
	ec := &echoClient{nc: c.nc, payload: payloadOf(size)}
	ec.frame = cbin(ec.payload)
	ec.buf = make([]byte, size)
	ec.nc.SetDeadline(time.Now().Add(time.Minute))
	// One checked round trip.
	clear(ec.buf)
	ec.roundTrip(tb)
	if !bytes.Equal(ec.buf, ec.payload) {
		tb.Fatalf("echo differs: %s", short(ec.buf))
	}
	return ec
}

func (ec *echoClient) roundTrip(tb testing.TB) {
	if _, err := ec.nc.Write(ec.frame); err != nil {
		tb.Fatal(err)
	}
	got := 0
	for first := true; ; first = false {
		h := ec.hdr[:2]
		if _, err := io.ReadFull(ec.nc, h); err != nil {
			tb.Fatal(err)
		}
		if op := h[0] & 0xF; h[0]&0x70 != 0 || h[1]&0x80 != 0 || first != (op == 2) || !first && op != 0 {
			tb.Fatalf("unexpected frame header % x", h)
		}
		n := int(h[1])
		switch n {
		case 126:
			if _, err := io.ReadFull(ec.nc, ec.hdr[2:4]); err != nil {
				tb.Fatal(err)
			}
			n = int(ec.hdr[2])<<8 | int(ec.hdr[3])
		case 127:
			tb.Fatal("64-bit length in an echo")
		}
		if got+n > len(ec.buf) {
			tb.Fatalf("echo longer than %d bytes", len(ec.buf))
		}
		if _, err := io.ReadFull(ec.nc, ec.buf[got:got+n]); err != nil {
			tb.Fatal(err)
		}
		got += n
		if h[0]&0x80 != 0 {
			break
		}
	}
	if got != len(ec.buf) {
		tb.Fatalf("echo of %d bytes, want %d", got, len(ec.buf))
	}
}

var echoSizes = []int{20, 1024, 16384}

// BenchmarkEcho is one round trip over loopback TCP per op: the raw client
// writes a masked binary message and reads the echo. Only the server
// differs between libraries; allocs/op are the server's (the client
// allocates nothing).
func BenchmarkEcho(b *testing.B) {
	for _, lib := range echoLibs {
		for _, size := range echoSizes {
			b.Run(fmt.Sprintf("%s/%d", lib.name, size), func(b *testing.B) {
				ec := newEchoClient(b, lib.start(b), size)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				cpu0, ok := processCPU()
				r0, w0, sysOK := processSyscalls()
				for b.Loop() {
					ec.roundTrip(b)
				}
				// Client and server together; the client is the same for
				// every library (1 write and 3 reads per op).
				if cpu1, _ := processCPU(); ok {
					b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
				}
				if r1, w1, _ := processSyscalls(); sysOK {
					b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
					b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
				}
			})
		}
	}
}

// TestEchoZeroAlloc asserts that the steady-state echo loop of a libws
// server, ReadMessageBorrowed then WriteMessage, allocates nothing, and
// that a libws client's WriteMessage and ReadMessageBorrowed allocate
// nothing either.
func TestEchoZeroAlloc(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pair := func() (client, server net.Conn) {
		accepted := make(chan net.Conn, 1)
		go func() {
			nc, _ := ln.Accept()
			accepted <- nc
		}()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server = <-accepted
		if server == nil {
			t.Fatal("accept failed")
		}
		client.SetDeadline(time.Now().Add(testTimeout))
		server.SetDeadline(time.Now().Add(testTimeout))
		t.Cleanup(func() { client.Close(); server.Close() })
		return client, server
	}
	for _, size := range echoSizes {
		t.Run(fmt.Sprintf("server/%d", size), func(t *testing.T) {
			cnc, snc := pair()
			srv := libws.NewConn(snc, libws.RoleServer, nil, nil)
			payload := payloadOf(size)
			frame, want := cbin(payload), sframe(true, 2, payload)
			got := make([]byte, len(want))
			allocs := testing.AllocsPerRun(200, func() {
				// On one goroutine: the loopback buffers hold a whole frame.
				if _, err := cnc.Write(frame); err != nil {
					t.Fatal(err)
				}
				op, p, err := srv.ReadMessageBorrowed()
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.WriteMessage(op, p); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(cnc, got); err != nil {
					t.Fatal(err)
				}
			})
			if !bytes.Equal(got, want) {
				t.Fatalf("echo differs: %s", short(got))
			}
			if allocs != 0 {
				t.Fatalf("server ReadMessageBorrowed+WriteMessage: %v allocs per message, want 0", allocs)
			}
		})
		t.Run(fmt.Sprintf("client/%d", size), func(t *testing.T) {
			cnc, snc := pair()
			cl := libws.NewConn(cnc, libws.RoleClient, nil, nil)
			srv := libws.NewConn(snc, libws.RoleServer, nil, nil)
			payload := payloadOf(size)
			allocs := testing.AllocsPerRun(200, func() {
				if err := cl.WriteMessage(libws.OpBinary, payload); err != nil {
					t.Fatal(err)
				}
				op, p, err := srv.ReadMessageBorrowed()
				if err != nil || !bytes.Equal(p, payload) {
					t.Fatalf("server read %d bytes, %v", len(p), err)
				}
				if err := srv.WriteMessage(op, p); err != nil {
					t.Fatal(err)
				}
				if _, p, err = cl.ReadMessageBorrowed(); err != nil || !bytes.Equal(p, payload) {
					t.Fatalf("client read %d bytes, %v", len(p), err)
				}
			})
			if allocs != 0 {
				t.Fatalf("client and server round trip: %v allocs per message, want 0", allocs)
			}
		})
	}
	t.Run("protocol", func(t *testing.T) {
		frame := cframe(true, 0, 0x1, []byte("0123456789abcdefghij"))
		buf := make([]byte, len(frame))
		p := libws.NewProtocol(libws.RoleServer, nil)
		allocs := testing.AllocsPerRun(1000, func() {
			copy(buf, frame)
			p.Feed(buf)
			if f, ok, err := p.NextMessage(); !ok || err != nil || string(f.Payload) != "0123456789abcdefghij" {
				t.Fatal(ok, err)
			}
			if _, ok, _ := p.NextMessage(); ok {
				t.Fatal("extra message")
			}
		})
		if allocs != 0 {
			t.Fatalf("Protocol Feed+NextMessage: %v allocs, want 0", allocs)
		}
	})
}
