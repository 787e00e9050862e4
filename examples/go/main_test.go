package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

const upgrade = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// serve runs the example's server on a free port.
func serve(t *testing.T, handshakeTimeout time.Duration, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(ln.Addr().String(), handshakeTimeout)
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if cfg != nil {
		srv.TLSConfig = cfg
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestSlowClientsAreDropped(t *testing.T) {
	const timeout = 500 * time.Millisecond
	tmp := httptest.NewUnstartedServer(nil)
	tmp.StartTLS()
	cfg := tmp.TLS.Clone()
	tmp.Close()
	cases := []struct {
		name string
		tls  bool
		send string
	}{
		{"half a request", false, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"},
		{"a request line, byte by byte", false, "GET / HT"},
		{"nothing", false, ""},
		{"half a ClientHello", true, "\x16\x03\x01\x00\xa5\x01\x00"},
		{"nothing on TLS", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *tls.Config
			if tc.tls {
				c = cfg
			}
			addr := serve(t, timeout, c)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			start := time.Now()
			nc.Write([]byte(tc.send))
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, nc)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("still open after %v", time.Since(start))
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("dropped after %v", took)
			}
		})
	}
}

func openFDs(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

// TestKilledClientsReleaseFDs: clients that vanish without a close frame
// (killed: reset, or FIN) leave no server socket open, with the garbage
// collector off so that no finalizer can do the work.
func TestKilledClientsReleaseFDs(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	addr := serve(t, 5*time.Second, nil)
	base := openFDs(t)
	const n = 50
	clients := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, nc)
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(nc)
		// The upgrade and one echoed message: the handler is in its loop.
		nc.Write(append([]byte(upgrade), 0x81, 0x82, 0, 0, 0, 0, 'h', 'i'))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatal(resp, err)
		}
		var echo [4]byte
		if _, err := io.ReadFull(br, echo[:]); err != nil || string(echo[2:]) != "hi" {
			t.Fatalf("echo % x %v", echo, err)
		}
	}
	if open := openFDs(t); open < base+2*n {
		t.Fatalf("%d fds open with %d clients, %d before", open, n, base)
	}
	for i, nc := range clients {
		if i%2 == 0 {
			nc.(*net.TCPConn).SetLinger(0) // a reset
		}
		nc.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for openFDs(t) > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if open := openFDs(t); open > base {
		t.Fatalf("%d fds open after the clients died, %d before", open, base)
	}
}

// TestReadmeShowsTheExample keeps the README's Go snippet the code that
// is tested here.
func TestReadmeShowsTheExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```go\n(.*?)^```").FindAllSubmatch(readme, -1)
	if len(blocks) != 1 {
		t.Fatalf("%d Go blocks in README.md, want 1", len(blocks))
	}
	snippet := string(blocks[0][1])
	fn := regexp.MustCompile(`(?ms)^func echo\(.*?^}\n`).FindString(snippet)
	if fn == "" || !strings.Contains(string(src), fn) {
		t.Fatalf("the README's echo function is not the example's:\n%s", fn)
	}
	for _, want := range []string{"ReadHeaderTimeout:", "IdleTimeout:", "defer ws.CloseNow()"} {
		if !strings.Contains(snippet, want) {
			t.Errorf("README snippet lacks %q", want)
		}
	}
}
