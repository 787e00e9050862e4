package libws_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// testTLSConfig borrows httptest's self-signed certificate.
func testTLSConfig(t *testing.T) *tls.Config {
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	cfg := srv.TLS.Clone()
	srv.Close()
	return cfg
}

func TestUpgradeConnHandshakeTimeout(t *testing.T) {
	const bound = 300 * time.Millisecond
	cases := []struct {
		name     string
		opts     libws.UpgradeOptions
		deadline time.Duration // set by the caller before UpgradeConn; 0 none
		tls      bool
		send     string
	}{
		{"half a request", libws.UpgradeOptions{HandshakeTimeout: bound}, 0, false, "GET /chat HTTP/1.1\r\nHost: x\r\n"},
		{"nothing", libws.UpgradeOptions{HandshakeTimeout: bound}, 0, false, ""},
		{"half a ClientHello", libws.UpgradeOptions{HandshakeTimeout: bound}, 0, true, "\x16\x03\x01\x00\xa5\x01\x00"},
		{"the caller's shorter deadline", libws.UpgradeOptions{HandshakeTimeout: time.Hour}, bound, false, "GET /"},
		{"the timeout before the caller's deadline", libws.UpgradeOptions{HandshakeTimeout: bound}, time.Hour, false, "GET /"},
	}
	var cfg *tls.Config
	for _, tc := range cases {
		if tc.tls && cfg == nil {
			cfg = testTLSConfig(t)
		}
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			result := make(chan error, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					result <- err
					return
				}
				if tc.deadline > 0 {
					nc.SetDeadline(time.Now().Add(tc.deadline))
				}
				if tc.tls {
					nc = tls.Server(nc, cfg)
				}
				_, _, err = libws.UpgradeConn(nc, &tc.opts)
				result <- err
			}()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			start := time.Now()
			client.Write([]byte(tc.send))
			client.SetReadDeadline(time.Now().Add(testTimeout))
			// The server closes: EOF (or a reset), never our deadline.
			_, err = io.Copy(io.Discard, client)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("still open after %v", time.Since(start))
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Fatalf("dropped after %v", took)
			}
			select {
			case err := <-result:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("UpgradeConn: %v, want a timeout", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("UpgradeConn did not return")
			}
		})
	}
	t.Run("an upgraded connection keeps no deadline", func(t *testing.T) {
		s := startServer(t, &libws.UpgradeOptions{HandshakeTimeout: 100 * time.Millisecond}, echo)
		c := dialRaw(t, s.addr, nil)
		time.Sleep(400 * time.Millisecond)
		c.send(ctext("still here"))
		c.expect(stext("still here"))
	})
}

// TestConnReleasesSocketOnPeerLoss: once a read finds the transport gone
// (FIN or reset without a close frame), the Conn closes its socket itself,
// so a handler that just returns does not leave the fd to the collector.
func TestConnReleasesSocketOnPeerLoss(t *testing.T) {
	for _, reset := range []bool{false, true} {
		c, peer := dialPeer(t, nil)
		if reset {
			peer.(*net.TCPConn).SetLinger(0)
		}
		peer.Close()
		_, _, err := c.ReadMessage()
		wantCloseError(t, err, libws.StatusAbnormalClosure, "")
		if err := c.NetConn().SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("reset=%v: socket still open (SetReadDeadline: %v)", reset, err)
		}
	}
}
