package hub

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// requestClient sends an upgrade request offering subprotocols "x, chat"
// and an extension, and returns the socket once it is written.
func requestClient(t *testing.T, port int, secure bool) net.Conn {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var nc net.Conn
	var err error
	if secure {
		nc, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET /room?id=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"+
		"Sec-WebSocket-Protocol: x, chat\r\nSec-WebSocket-Extensions: x-test; a=1\r\nAuthorization: Bearer t\r\n\r\n")
	return nc
}

// readResponse reads an HTTP response head and, unless it is a 101, its
// body up to EOF (the hub closes after refusing).
func readResponse(t *testing.T, nc net.Conn) (*http.Response, string) {
	t.Helper()
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	if resp.StatusCode == 101 {
		return resp, ""
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the refusal: %v, want EOF", err)
	}
	return resp, string(body)
}

// requestHub is a hub with a listener that hands requests to the host.
func requestHub(t *testing.T, o Options, secure bool) (*Hub, *testHost, int) {
	t.Helper()
	h, host, _ := newHostHub(t, o)
	lo := Options{RequestEvents: true, Subprotocols: []string{"chat"}, HandshakeTimeout: 5 * time.Second}
	if secure {
		lo.TLS = selfSigned(t)
	}
	_, port, err := h.Listen("127.0.0.1:0", &lo)
	if err != nil {
		t.Fatal(err)
	}
	return h, host, port
}

// eachTransport runs a test on an epoll listener of a threaded and an
// inline hub, and on a TLS (goroutine) listener.
func eachTransport(t *testing.T, test func(t *testing.T, o Options, secure bool)) {
	eachMode(t, func(t *testing.T, o Options) { test(t, o, false) })
	t.Run("tls", func(t *testing.T) { test(t, Options{}, true) })
}

func TestRequestEventThenAccept(t *testing.T) {
	eachTransport(t, func(t *testing.T, o Options, secure bool) {
		_, host, port := requestHub(t, o, secure)
		nc := requestClient(t, port, secure)
		r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
		f, err := Fields(r.Payload, requestFields)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(f[RequestPeer], "127.0.0.1:") || f[RequestTarget] != "/room?id=7" ||
			f[RequestSubprotocols] != "x, chat" || f[RequestMethod] != "GET" ||
			f[RequestExtensions] != "x-test; a=1" || !strings.Contains(f[RequestHeaders], "Authorization: Bearer t\r\n") {
			t.Fatalf("request fields %q", f)
		}
		if r.Aux == 0 {
			t.Fatal("request event without listener id")
		}
		// Nothing is answered before the host says so.
		nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("a response before the host answered: %d %v", n, err)
		}
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		host.send(CmdAccept, 1, 0, r.Conn, AppendFields(nil, "x", "X-Auth: ok\r\nSet-Cookie: s=1\r\n"))
		resp, _ := readResponse(t, nc)
		if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Protocol") != "x" || resp.Header.Get("X-Auth") != "ok" || resp.Header.Get("Set-Cookie") != "s=1" {
			t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
		}
		open := waitEvent(t, host, EventOpen, r.Conn, 5*time.Second)
		of, _ := OpenFields(open.Payload)
		if of[OpenSubprotocol] != "x" || of[OpenTarget] != "/room?id=7" {
			t.Fatalf("open fields %q", of)
		}
		p := libws.NewProtocol(libws.RoleClient, nil)
		sendFrames(t, nc, p, "hello")
		if m := waitEvent(t, host, EventMessage, r.Conn, 5*time.Second); string(m.Payload) != "hello" {
			t.Fatalf("message %q", m.Payload)
		}
	})
}

// Opcode 0 keeps the listener's own choice of subprotocol.
func TestRequestAcceptListenersChoice(t *testing.T) {
	eachTransport(t, func(t *testing.T, o Options, secure bool) {
		_, host, port := requestHub(t, o, secure)
		nc := requestClient(t, port, secure)
		r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
		host.send(CmdAccept, 0, 0, r.Conn, AppendFields(nil, "", ""))
		if resp, _ := readResponse(t, nc); resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Protocol") != "chat" {
			t.Fatalf("response %d %v", resp.StatusCode, resp.Header)
		}
		waitEvent(t, host, EventOpen, r.Conn, 5*time.Second)
	})
}

func TestRequestReject(t *testing.T) {
	eachTransport(t, func(t *testing.T, o Options, secure bool) {
		_, host, port := requestHub(t, o, secure)
		nc := requestClient(t, port, secure)
		r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
		host.send(CmdReject, 0, 401, r.Conn, AppendFields(nil, "WWW-Authenticate: Bearer\r\n", "who are you?"))
		resp, body := readResponse(t, nc)
		if resp.StatusCode != 401 || resp.Header.Get("Www-Authenticate") != "Bearer" || body != "who are you?" {
			t.Fatalf("response %d %v %q", resp.StatusCode, resp.Header, body)
		}
		if c := waitEvent(t, host, EventClose, r.Conn, 5*time.Second); c.Code != 1006 {
			t.Fatalf("close %d", c.Code)
		}
	})
}

// An answer the hub cannot carry out (a subprotocol the client did not
// offer, malformed headers, a bad status) refuses the request with 500
// and tells the host why (EInval).
func TestRequestBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    uint8
		op      uint8
		code    uint16
		payload []byte
	}{
		{"subprotocol not offered", CmdAccept, 1, 0, AppendFields(nil, "other", "")},
		{"header with CR", CmdAccept, 0, 0, AppendFields(nil, "", "X-A: 1\rX-B: 2\r\n")},
		{"truncated fields", CmdAccept, 0, 0, []byte{9, 0, 0}},
		{"status 101", CmdReject, 0, 101, AppendFields(nil, "", "")},
		{"status 600", CmdReject, 0, 600, AppendFields(nil, "", "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, o Options, secure bool) {
				_, host, port := requestHub(t, o, secure)
				nc := requestClient(t, port, secure)
				r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
				host.send(tc.kind, tc.op, tc.code, r.Conn, tc.payload)
				if resp, _ := readResponse(t, nc); resp.StatusCode != 500 {
					t.Fatalf("response %d", resp.StatusCode)
				}
				if e := waitEvent(t, host, EventError, r.Conn, 5*time.Second); e.Status != EInval {
					t.Fatalf("error status %d %q", e.Status, e.Payload)
				}
				waitEvent(t, host, EventClose, r.Conn, 5*time.Second)
			})
		})
	}
}

// A host that does not answer within the handshake timeout: 503, an
// error event ETimedOut and a close event.
func TestRequestUnansweredTimesOut(t *testing.T) {
	eachTransport(t, func(t *testing.T, o Options, secure bool) {
		h, host, _ := newHostHub(t, o)
		lo := Options{RequestEvents: true, HandshakeTimeout: 300 * time.Millisecond}
		if secure {
			lo.TLS = selfSigned(t)
		}
		_, port, err := h.Listen("127.0.0.1:0", &lo)
		if err != nil {
			t.Fatal(err)
		}
		nc := requestClient(t, port, secure)
		r := waitEvent(t, host, EventRequest, 0, 5*time.Second)
		start := time.Now()
		done := make(chan int, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
			if err != nil {
				done <- 0
				return
			}
			done <- resp.StatusCode
		}()
		if e := waitEvent(t, host, EventError, r.Conn, 5*time.Second); e.Status != ETimedOut {
			t.Fatalf("error status %d", e.Status)
		}
		waitEvent(t, host, EventClose, r.Conn, 5*time.Second)
		if code := <-done; code != 503 {
			t.Fatalf("response %d, want 503", code)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("answered after %v", took)
		}
		// A late answer is dropped.
		host.send(CmdAccept, 0, 0, r.Conn, AppendFields(nil, "", ""))
		noEvent(t, host, EventOpen, 300*time.Millisecond)
	})
}

// Without the option nothing changes: no request event, the open at once.
func TestNoRequestEventsByDefault(t *testing.T) {
	_, host, port := newHostHub(t, Options{})
	nc := requestClient(t, port, false)
	if resp, _ := readResponse(t, nc); resp.StatusCode != 101 {
		t.Fatalf("response %d", resp.StatusCode)
	}
	r := waitEvent(t, host, EventOpen, 0, 5*time.Second)
	_ = r
}

// Fields reads back what AppendFields wrote, and never panics or reads
// past its input on malformed payloads (a host's CmdAccept or CmdReject).
func FuzzFields(f *testing.F) {
	f.Add(AppendFields(nil, "x", "X-A: 1\r\n"), 2)
	f.Add([]byte{9, 0, 0, 0, 'a'}, 2)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		n = n%8 + 1
		if n < 1 {
			n = -n + 1
		}
		got, err := Fields(b, n)
		if err != nil {
			return
		}
		if again := AppendFields(nil, got...); !bytes.HasPrefix(b, again) {
			t.Fatalf("fields %q do not re-encode to a prefix of %q", got, b)
		}
	})
}
