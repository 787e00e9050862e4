package libws_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// strictRefusals are requests every server path must refuse with 400:
// fields a host hands on (the target, header values) must hold no control
// characters, or a client could forge what the application sees.
var strictRefusals = []struct {
	name    string
	request string
	reason  string
	// viaHTTP is false where net/http reads the request differently (it
	// takes a bare LF as a line end, so the forged header is a real one
	// there and no value holds a newline) or answers for us.
	viaHTTP bool
}{
	{"NUL in target", strings.Replace(upgradeRequest(""), "/chat", "/x\x00admin-proto\x00X-Evil:injected", 1), "request target", true},
	{"SOH in target", strings.Replace(upgradeRequest(""), "/chat", "/x\x01y", 1), "request target", true},
	{"DEL in target", strings.Replace(upgradeRequest(""), "/chat", "/x\x7fy", 1), "request target", true},
	{"TAB in target", strings.Replace(upgradeRequest(""), "/chat", "/x\ty", 1), "request target", true},
	{"NUL in value", upgradeRequest("X-A: a\x00b\r\n"), "control character", true},
	{"bare LF in value", upgradeRequest("X-Inj: a\nAuthorization: Bearer injected\r\n"), "control character", false},
	{"bare CR in value", upgradeRequest("X-Inj: a\rAuthorization: Bearer injected\r\n"), "control character", true},
	{"trailing bare LF", upgradeRequest("X-Inj: a\n\r\n"), "control character", false},
	{"ESC in value", upgradeRequest("X-A: a\x1b[2Jb\r\n"), "control character", true},
	{"DEL in value", upgradeRequest("X-A: a\x7f\r\n"), "control character", true},
	{"NUL in subprotocol", upgradeRequest("Sec-WebSocket-Protocol: chat\x00admin\r\n"), "control character", true},
	{"control in name", upgradeRequest("X\x01A: b\r\n"), "malformed header", true},
	{"bare LF line ends", strings.ReplaceAll(upgradeRequest(""), "\r\n", "\n"), "CRLF", false},
	{"HTTP/2", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/2", 1), "protocol is not HTTP/1.1", false},
	{"HTTP/2.0", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/2.0", 1), "protocol is not HTTP/1.1", false},
	{"HTTP/1.0", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.0", 1), "protocol is not HTTP/1.1", true},
	{"HTTP/0.9", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/0.9", 1), "protocol is not HTTP/1.1", false},
	{"HTTP/1.10", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.10", 1), "protocol is not HTTP/1.1", false},
	{"no Host", strings.Replace(upgradeRequest(""), "Host: 127.0.0.1\r\n", "", 1), "Host", true},
	{"empty Host", strings.Replace(upgradeRequest(""), "Host: 127.0.0.1\r\n", "Host: \r\n", 1), "Host", false},
	{"two Hosts", upgradeRequest("Host: evil.example\r\n"), "Host", true},
	{"two keys, same value", upgradeRequest("Sec-WebSocket-Key: " + rfcKey + "\r\n"), "repeated Sec-WebSocket-Key", true},
	{"two keys", upgradeRequest("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"), "repeated Sec-WebSocket-Key", true},
	{"two versions", upgradeRequest("Sec-WebSocket-Version: 13\r\n"), "repeated Sec-WebSocket-Version", true},
}

func TestHandshakeStrictRefusals(t *testing.T) {
	read := func(t *testing.T, addr, request string) (*http.Response, string) {
		nc, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		nc.Write([]byte(request))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, tc := range strictRefusals {
		t.Run("ParseRequest/"+tc.name, func(t *testing.T) {
			req, _, err := libws.ParseRequest([]byte(tc.request))
			if err == nil {
				if req == nil {
					t.Fatal("request not complete")
				}
				_, _, err = req.Accept(nil)
			}
			var he *libws.HandshakeError
			if !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Reason, tc.reason) {
				t.Fatalf("err = %v, want 400 %q", err, tc.reason)
			}
		})
		t.Run("UpgradeConn/"+tc.name, func(t *testing.T) {
			s := startServer(t, nil, echo)
			resp, body := read(t, s.addr, tc.request)
			if resp.StatusCode != 400 || !strings.Contains(body, tc.reason) {
				t.Fatalf("got %s %q, want 400 %q", resp.Status, body, tc.reason)
			}
			var he *libws.HandshakeError
			if err := s.result(t); !errors.As(err, &he) || he.Status != 400 {
				t.Fatalf("server error %v", err)
			}
		})
		t.Run("Upgrade/"+tc.name, func(t *testing.T) {
			srv, results := startHTTPServer(t, false, nil, func(c *libws.Conn) error {
				return errors.New("upgraded")
			})
			resp, _ := read(t, srv.Listener.Addr().String(), tc.request)
			if tc.viaHTTP && resp.StatusCode != 400 {
				t.Fatalf("got %s, want 400", resp.Status)
			}
			if resp.StatusCode == 101 {
				// net/http split the line at the bare LF: both headers
				// are real ones, and neither value holds a newline.
				if err := waitResult(t, results); err == nil || err.Error() != "upgraded" {
					t.Fatal(err)
				}
				return
			}
			// net/http answers some itself: 505 for a version it does not speak.
			if resp.StatusCode/100 != 4 && resp.StatusCode != 505 {
				t.Fatalf("got %s", resp.Status)
			}
		})
	}
}

// TestHandshakeFieldsAccepted: what the strict checks must still let
// through.
func TestHandshakeFieldsAccepted(t *testing.T) {
	cases := []struct {
		name, request string
		check         func(*libws.Request) bool
	}{
		{"HTAB inside a value", upgradeRequest("X-A: a\tb\r\n"), func(r *libws.Request) bool { return r.Header.Get("X-A") == "a\tb" }},
		{"HTAB around a value", upgradeRequest("X-A:\t a \t\r\n"), func(r *libws.Request) bool { return r.Header.Get("X-A") == "a" }},
		{"UTF-8 in a value", upgradeRequest("X-A: caf\xc3\xa9\r\n"), func(r *libws.Request) bool { return r.Header.Get("X-A") == "caf\xc3\xa9" }},
		{"HTTP/1.2", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.2", 1), func(r *libws.Request) bool { return r.Proto == "HTTP/1.2" }},
		{"percent-encoded target", strings.Replace(upgradeRequest(""), "/chat", "/x%00%0d%0ay?q=%7f", 1), func(r *libws.Request) bool { return r.RequestURI == "/x%00%0d%0ay?q=%7f" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := libws.ParseRequest([]byte(tc.request))
			if err != nil || req == nil || !tc.check(req) {
				t.Fatalf("%+v %v", req, err)
			}
			resp, _, err := req.Accept(nil)
			if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.1 101 ") {
				t.Fatalf("%q %v", resp, err)
			}
		})
	}
}

func TestNonMinimalLengthFailsConn(t *testing.T) {
	key := []byte{0, 0, 0, 0}
	cases := []struct {
		name string
		hdr  []byte
	}{
		{"5 in the 16-bit form", []byte{0x82, 0x80 | 126, 0, 5}},
		{"125 in the 16-bit form", []byte{0x81, 0x80 | 126, 0, 125}},
		{"5 in the 64-bit form", []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 5}},
		{"65535 in the 64-bit form", []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}},
		{"ping 0 in the 16-bit form", []byte{0x89, 0x80 | 126, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, nil, echo)
			c := dialRaw(t, s.addr, nil)
			c.send(ctext("before"), append(tc.hdr, key...), payloadOf(5))
			c.expect(stext("before"))
			c.expectClose(sfail(libws.ErrNonMinimalLength))
			if err := s.result(t); !errors.Is(err, libws.ErrNonMinimalLength) {
				t.Fatal(err)
			}
		})
	}
}

// TestConnUTF8FailsMidFrame: a Conn fails with 1007 as soon as invalid
// text arrives, while the rest of the frame is still held back.
func TestConnUTF8FailsMidFrame(t *testing.T) {
	bad := append([]byte("valid start \xce\xba then "), 0xff)
	bad = append(bad, payloadOf(10000)...)
	cases := []struct {
		name  string
		first []byte
		frame []byte
	}{
		{"text frame", nil, cframe(true, 0, 1, bad)},
		{"continuation frame", cframe(false, 0, 1, []byte("first")), cframe(true, 0, 0, bad)},
	}
	for _, tc := range cases {
		t.Run("server/"+tc.name, func(t *testing.T) {
			s := startServer(t, nil, echo)
			c := dialRaw(t, s.addr, nil)
			// The header, the mask and the first bytes, in small segments.
			c.sendChunks(catb(tc.first, tc.frame[:8+len("valid start \xce\xba then ")+1]), 3)
			c.expectClose(sfail(libws.ErrInvalidUTF8))
			if err := s.result(t); !errors.Is(err, libws.ErrInvalidUTF8) {
				t.Fatal(err)
			}
		})
	}
	t.Run("client", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(testTimeout))
			buf := make([]byte, 4096)
			var n int
			var req *libws.Request
			for req == nil {
				k, err := nc.Read(buf[n:])
				if err != nil {
					return
				}
				n += k
				req, _, _ = libws.ParseRequest(buf[:n])
			}
			resp, _, _ := req.Accept(nil)
			nc.Write(resp)
			frame := sframe(true, 1, bad)
			nc.Write(frame[:4+len("valid start \xce\xba then ")+1])
			io.Copy(io.Discard, nc)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, _, err := libws.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetReadDeadline(time.Now().Add(testTimeout))
		if _, _, err := c.ReadMessage(); !errors.Is(err, libws.ErrInvalidUTF8) {
			t.Fatalf("ReadMessage: %v, want ErrInvalidUTF8", err)
		}
	})
}
