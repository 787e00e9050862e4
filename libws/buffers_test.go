package libws_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// wrappedConn hides the *net.TCPConn it wraps, as a TLS or a prefixing conn
// does: such a conn has no raw socket reads and no writev, and the Conn
// takes its other paths.
type wrappedConn struct{ net.Conn }

// TestEchoAcrossBufferPaths echoes messages of the sizes that sit at the
// edges of the write paths (the tiny frame, the write buffer, writev) and
// of the read paths (the pooled read buffer, straight reads into a frame
// being assembled), text and binary, with clients whose socket is plain,
// wrapped, or given buffers of their own.
func TestEchoAcrossBufferPaths(t *testing.T) {
	srv := startServer(t, nil, echo)
	sizes := []int{0, 1, 50, 58, 59, 60, 125, 126, 4090, 4096, 5000, 32<<10 - 1, 32 << 10, 32<<10 + 10, 200 << 10}
	clients := []struct {
		name string
		opts libws.DialOptions
	}{
		{"tcp", libws.DialOptions{}},
		{"wrapped", libws.DialOptions{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return wrappedConn{nc}, err
		}}},
		{"own buffers", libws.DialOptions{ConnOptions: libws.ConnOptions{ReadBufferSize: 100, WriteBufferSize: 1}}},
	}
	for _, tc := range clients {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := libws.Dial(context.Background(), "ws://"+srv.addr+"/", &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.SetDeadline(time.Now().Add(testTimeout))
			for _, n := range sizes {
				bin := payloadOf(n)
				text := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
				if err := c.WriteBinary(bin); err != nil {
					t.Fatal(err)
				}
				if err := c.WriteText(text); err != nil {
					t.Fatal(err)
				}
				for _, want := range []struct {
					op libws.Opcode
					p  []byte
				}{{libws.OpBinary, bin}, {libws.OpText, []byte(text)}} {
					op, p, err := c.ReadMessageBorrowed()
					if err != nil {
						t.Fatalf("%d bytes: %v", n, err)
					}
					if op != want.op || !bytes.Equal(p, want.p) {
						t.Fatalf("%d bytes: echo differs (opcode %v, %d bytes)", n, op, len(p))
					}
				}
			}
		})
	}
}

// TestBatchOfFramesInOneSegment sends many small frames in one write, so
// that one read brings many of them, followed by a frame larger than the
// read buffer.
func TestBatchOfFramesInOneSegment(t *testing.T) {
	srv := startServer(t, nil, echo)
	cl := dialRaw(t, srv.addr, nil)
	var batch, want [][]byte
	for i := range 2000 {
		p := payloadOf(i % 40)
		batch = append(batch, cbin(p))
		want = append(want, sframe(true, 2, p))
	}
	big := payloadOf(70 << 10)
	batch = append(batch, cbin(big))
	want = append(want, sframe(true, 2, big))
	cl.send(bytes.Join(batch, nil))
	for _, w := range want {
		cl.expect(w)
	}
}

// TestIdleConnHoldsNoReadBuffer checks that a TCP connection, server or
// client, gives its read buffer back when it waits for data; a wrapped
// socket keeps its own buffer.
func TestIdleConnHoldsNoReadBuffer(t *testing.T) {
	conns := make(chan *libws.Conn, 1)
	release := make(chan struct{})
	srv := startServer(t, nil, func(c *libws.Conn) error {
		conns <- c
		<-release
		return nil
	})
	cases := []struct {
		name     string
		dial     func(ctx context.Context, network, addr string) (net.Conn, error)
		wantHeld bool
	}{
		{"tcp", nil, false},
		{"wrapped", func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return wrappedConn{nc}, err
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := libws.Dial(context.Background(), "ws://"+srv.addr+"/", &libws.DialOptions{NetDial: tc.dial})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			s := <-conns
			defer func() { release <- struct{}{} }()
			// A message each way, then on each side a read that finds
			// nothing and waits until its deadline.
			c.SetDeadline(time.Now().Add(testTimeout))
			s.SetDeadline(time.Now().Add(testTimeout))
			if err := c.WriteBinary([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, p, err := s.ReadMessageBorrowed(); err != nil || string(p) != "hello" {
				t.Fatalf("server read %q, %v", p, err)
			}
			if err := s.WriteBinary([]byte("world")); err != nil {
				t.Fatal(err)
			}
			if _, p, err := c.ReadMessageBorrowed(); err != nil || string(p) != "world" {
				t.Fatalf("client read %q, %v", p, err)
			}
			for _, side := range []struct {
				name     string
				c        *libws.Conn
				wantHeld bool
			}{{"server", s, false}, {"client", c, tc.wantHeld}} {
				side.c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
				if _, _, err := side.c.ReadMessageBorrowed(); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("%s read: %v, want a timeout", side.name, err)
				}
				if held := libws.ReadBufferHeld(side.c); held != side.wantHeld {
					t.Errorf("waiting %s holds a read buffer: %v, want %v", side.name, held, side.wantHeld)
				}
			}
		})
	}
}
