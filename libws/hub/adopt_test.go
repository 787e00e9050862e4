//go:build unix

package hub

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libws/libws/libws"
)

// hostServer stands for a host's HTTP server: it accepts one connection,
// reads from it until it holds at least min bytes (or the head, when min
// is 0) and hands the socket's descriptor and what it read to adopt.
func hostServer(t *testing.T, min int, adopt func(fd int, pre []byte)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		var pre []byte
		buf := make([]byte, 4096)
		for (min == 0 && !bytes.Contains(pre, []byte("\r\n\r\n"))) || len(pre) < min {
			n, err := nc.Read(buf)
			if err != nil {
				nc.Close()
				return
			}
			pre = append(pre, buf[:n]...)
		}
		f, err := nc.(*net.TCPConn).File()
		nc.Close()
		if err != nil {
			return
		}
		fd, err := unix.Dup(int(f.Fd())) // one no os.File will close
		f.Close()
		if err != nil {
			return
		}
		adopt(fd, pre)
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

const adoptRequest = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

// A connection whose request the host read (whole, with a frame behind
// it, or only in part) is answered and served by the hub.
func TestAdopt(t *testing.T) {
	p := libws.NewProtocol(libws.RoleClient, nil)
	frame, _ := p.AppendFrame(nil, true, libws.OpText, []byte("early"))
	for _, tc := range []struct {
		name string
		min  int // bytes the host reads before adopting (0: the head)
	}{
		{"head", 0},
		{"head and a frame", len(adoptRequest) + len(frame)},
		{"part of the head", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachMode(t, func(t *testing.T, o Options) {
				h, host, _ := newHostHub(t, o)
				adopted := make(chan uint64, 1)
				port := hostServer(t, tc.min, func(fd int, pre []byte) {
					id, err := h.Adopt(fd, pre, nil)
					if err != nil {
						t.Error(err)
						unix.Close(fd)
						return
					}
					adopted <- id
				})
				nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				nc.Write(append([]byte(adoptRequest), frame...))
				open := waitEvent(t, host, EventOpen, 0, 5*time.Second)
				if id := <-adopted; id != open.Conn || open.Aux != 0 {
					t.Fatalf("open for %d listener %d, adopted %d", open.Conn, open.Aux, id)
				}
				f, _ := OpenFields(open.Payload)
				if f[OpenTarget] != "/ws" || !strings.HasPrefix(f[OpenPeer], "127.0.0.1:") {
					t.Fatalf("open fields %q", f)
				}
				if m := waitEvent(t, host, EventMessage, open.Conn, 5*time.Second); string(m.Payload) != "early" {
					t.Fatalf("message %q", m.Payload)
				}
				head := make([]byte, 12)
				if _, err := nc.Read(head); err != nil || string(head) != "HTTP/1.1 101" {
					t.Fatalf("response %q %v", head, err)
				}
			})
		})
	}
}

// Handshake control applies to adopted connections when their options
// ask for it.
func TestAdoptWithRequestEvents(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, _ := newHostHub(t, o)
		port := hostServer(t, 0, func(fd int, pre []byte) {
			if _, err := h.Adopt(fd, pre, &Options{RequestEvents: true}); err != nil {
				t.Error(err)
				unix.Close(fd)
			}
		})
		nc := requestClient(t, port, false)
		r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
		host.send(CmdReject, 0, 403, r.Conn, AppendFields(nil, "", "no"))
		if resp, body := readResponse(t, nc); resp.StatusCode != 403 || body != "no" {
			t.Fatalf("response %d %q", resp.StatusCode, body)
		}
		waitEvent(t, host, EventClose, r.Conn, 5*time.Second)
	})
}

// Adopt refuses what it cannot serve, and leaves the descriptor to the
// caller then.
func TestAdoptRefuses(t *testing.T) {
	h, _, _ := newHostHub(t, Options{})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := h.Adopt(int(r.Fd()), nil, nil); err == nil {
		t.Fatal("a pipe was adopted")
	}
	if _, err := h.Adopt(-1, nil, nil); err == nil {
		t.Fatal("fd -1 was adopted")
	}
	if _, err := h.Adopt(int(r.Fd()), nil, &Options{TLS: selfSigned(t)}); err != ErrAdoptTLS {
		t.Fatalf("TLS options: %v", err)
	}
	// The pipe is still open: the caller owns it.
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatalf("pipe closed by a refused adopt: %v", err)
	}
	h.Shutdown(time.Second)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	f, _ := c.(*net.TCPConn).File()
	defer f.Close()
	if _, err := h.Adopt(int(f.Fd()), nil, nil); err != ErrClosed {
		t.Fatalf("adopt after shutdown: %v", err)
	}
}

// A paused adopted connection reads nothing until resumed, as a
// listener's does (its EPOLLIN registration is known to the pause).
func TestAdoptPauseResume(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, _ := newHostHub(t, o)
		port := hostServer(t, 0, func(fd int, pre []byte) {
			if _, err := h.Adopt(fd, pre, nil); err != nil {
				t.Error(err)
				unix.Close(fd)
			}
		})
		nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write([]byte(adoptRequest))
		id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
		var resp []byte
		buf := make([]byte, 512)
		for !bytes.Contains(resp, []byte("\r\n\r\n")) {
			n, err := nc.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			resp = append(resp, buf[:n]...)
		}
		host.send(CmdPause, 0, 0, id, nil)
		host.next(50 * time.Millisecond) // the pause is carried out
		sendFrames(t, nc, libws.NewProtocol(libws.RoleClient, nil), "one", "two")
		noEvent(t, host, EventMessage, 600*time.Millisecond)
		host.send(CmdResume, 0, 0, id, nil)
		for _, want := range []string{"one", "two"} {
			if r := waitEvent(t, host, EventMessage, id, 5*time.Second); string(r.Payload) != want {
				t.Fatalf("got %q, want %q", r.Payload, want)
			}
		}
	})
}
