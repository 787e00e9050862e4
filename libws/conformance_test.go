package libws_test

// A conformance suite in the spirit of Autobahn|TestSuite, over real
// loopback TCP. The client side is a raw test client that writes frames
// built by hand and reads the server's answer byte for byte, so the engine
// is judged only by what it puts on the wire.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// testTimeout bounds every connection of the suite: a bug makes a test
// fail with a timeout, never hang.
const testTimeout = 10 * time.Second

// The handshake example of RFC 6455 §1.3.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

const kosmeUTF8 = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5" // κόσμε, as Autobahn spells it

// ---- frames, built by hand ----

func appendLen(b []byte, mask byte, n int) []byte {
	switch {
	case n <= 125:
		return append(b, mask|byte(n))
	case n <= 0xFFFF:
		return append(b, mask|126, byte(n>>8), byte(n))
	}
	b = append(b, mask|127)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func firstByte(fin bool, rsv, op byte) byte {
	b := op&0xF | rsv<<4
	if fin {
		b |= 0x80
	}
	return b
}

// cframe is a frame as a client sends it: masked with a fresh key.
func cframe(fin bool, rsv, op byte, payload []byte) []byte {
	k := rand.Uint32()
	key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	b := appendLen([]byte{firstByte(fin, rsv, op)}, 0x80, len(payload))
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

// ctext, cbin, cping: whole client messages.
func ctext(s string) []byte       { return cframe(true, 0, 0x1, []byte(s)) }
func cbin(p []byte) []byte        { return cframe(true, 0, 0x2, p) }
func cping(s string) []byte       { return cframe(true, 0, 0x9, []byte(s)) }
func cclose(p ...byte) []byte     { return cframe(true, 0, 0x8, p) }
func ccode(code int) []byte       { return []byte{byte(code >> 8), byte(code)} }
func catb(b ...[]byte) []byte     { return bytes.Join(b, nil) }
func srep(s string, n int) string { return strings.Repeat(s, n) }

// sframe is the exact frame a server sends: unmasked.
func sframe(fin bool, op byte, payload []byte) []byte {
	b := appendLen([]byte{firstByte(fin, 0, op)}, 0, len(payload))
	return append(b, payload...)
}

func stext(s string) []byte { return sframe(true, 0x1, []byte(s)) }
func spong(s string) []byte { return sframe(true, 0xA, []byte(s)) }

// sclose is the close frame the server sends with code (0: no status).
func sclose(code int, reason string) []byte {
	if code == 0 {
		return []byte{0x88, 0x00}
	}
	return sframe(true, 0x8, append(ccode(code), reason...))
}

// sfail is the close frame the server sends when it fails the connection.
func sfail(err *libws.ProtocolError) []byte { return sclose(int(err.Code), err.Msg) }

// ---- servers ----

type testServer struct {
	addr    string
	results chan error
}

// result waits for the handler of the next finished connection and returns
// its error.
func (s *testServer) result(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.results:
		return err
	case <-time.After(testTimeout):
		t.Fatal("server handler did not finish")
		return nil
	}
}

func echo(c *libws.Conn) error {
	for {
		op, p, err := c.ReadMessageBorrowed()
		if err != nil {
			return err
		}
		if err := c.WriteMessage(op, p); err != nil {
			return err
		}
	}
}

// startServer serves loopback TCP with UpgradeConn and runs handle on each
// connection; handle's error goes to results.
func startServer(t testing.TB, opts *libws.UpgradeOptions, handle func(*libws.Conn) error) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{addr: ln.Addr().String(), results: make(chan error, 1024)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				nc.SetDeadline(time.Now().Add(testTimeout))
				c, _, err := libws.UpgradeConn(nc, opts)
				if err == nil {
					err = handle(c)
					c.CloseNow()
				}
				select {
				case s.results <- err:
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return s
}

// startHTTPServer serves handle through net/http and Upgrade.
func startHTTPServer(t testing.TB, secure bool, opts *libws.UpgradeOptions, handle func(*libws.Conn) error) (*httptest.Server, chan error) {
	t.Helper()
	results := make(chan error, 1024)
	var wg sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		c, err := libws.Upgrade(w, r, opts)
		if err == nil {
			c.SetDeadline(time.Now().Add(testTimeout))
			err = handle(c)
			c.CloseNow()
		}
		select {
		case results <- err:
		default:
		}
	})
	srv := httptest.NewUnstartedServer(h)
	// Refused TLS handshakes are part of the tests; keep them off stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if secure {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return srv, results
}

func waitResult(t testing.TB, results chan error) error {
	t.Helper()
	select {
	case err := <-results:
		return err
	case <-time.After(testTimeout):
		t.Fatal("server handler did not finish")
		return nil
	}
}

func wsURL(srv *httptest.Server) string {
	return strings.Replace(srv.URL, "http", "ws", 1)
}

// ---- the raw client ----

type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

func upgradeRequest(extra string) string {
	return "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + rfcKey + "\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// dialRaw connects, sends the opening handshake followed by after in the
// same write, and checks the 101 answer.
func dialRaw(t testing.TB, addr string, after []byte) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testTimeout))
	c := &rawClient{t, nc, bufio.NewReaderSize(nc, 64<<10)}
	if _, err := nc.Write(append([]byte(upgradeRequest("")), after...)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != rfcAccept ||
		!strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
		t.Fatalf("handshake answer: %s %v", resp.Status, resp.Header)
	}
	return c
}

func (c *rawClient) send(frames ...[]byte) {
	c.t.Helper()
	if _, err := c.nc.Write(catb(frames...)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// sendChunks writes b in pieces of n bytes, each its own write (the
// loopback connection has TCP_NODELAY, so each is its own segment).
func (c *rawClient) sendChunks(b []byte, n int) {
	c.t.Helper()
	for len(b) > 0 {
		k := min(n, len(b))
		if _, err := c.nc.Write(b[:k]); err != nil {
			c.t.Fatalf("write: %v", err)
		}
		b = b[k:]
	}
}

// next reads one frame and returns its exact bytes; the payload starts at
// the returned offset.
func (c *rawClient) next() ([]byte, int, error) {
	var hdr [10]byte
	if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
		return nil, 0, err
	}
	n := 2
	length := int(hdr[1] & 0x7F)
	switch length {
	case 126:
		if _, err := io.ReadFull(c.br, hdr[2:4]); err != nil {
			return nil, 0, err
		}
		length, n = int(binary.BigEndian.Uint16(hdr[2:])), 4
	case 127:
		if _, err := io.ReadFull(c.br, hdr[2:10]); err != nil {
			return nil, 0, err
		}
		length, n = int(binary.BigEndian.Uint64(hdr[2:])), 10
	}
	if hdr[1]&0x80 != 0 {
		return nil, 0, fmt.Errorf("server sent a masked frame: % x", hdr[:n])
	}
	b := make([]byte, n+length)
	copy(b, hdr[:n])
	if _, err := io.ReadFull(c.br, b[n:]); err != nil {
		return nil, 0, err
	}
	return b, n, nil
}

func short(b []byte) string {
	if len(b) > 48 {
		return fmt.Sprintf("% x … (%d bytes)", b[:48], len(b))
	}
	return fmt.Sprintf("% x", b)
}

// expect reads the next frame and requires exactly want.
func (c *rawClient) expect(want []byte) {
	c.t.Helper()
	got, _, err := c.next()
	if err != nil {
		c.t.Fatalf("want %s, got error %v", short(want), err)
	}
	if !bytes.Equal(got, want) {
		c.t.Fatalf("got frame  %s\nwant frame %s", short(got), short(want))
	}
}

// expectEOF requires the server to close the TCP connection with nothing
// more sent.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	b, _, err := c.next()
	switch {
	case err == nil:
		c.t.Fatalf("want the connection closed, got frame %s", short(b))
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		c.t.Fatalf("want the connection closed, got %v", err)
	}
}

// expectClose requires the close frame want, then the end of the TCP connection.
func (c *rawClient) expectClose(want []byte) {
	c.t.Helper()
	c.expect(want)
	c.expectEOF()
}

func wantCloseError(t testing.TB, err error, code libws.StatusCode, reason string) {
	t.Helper()
	var ce *libws.CloseError
	if !errors.As(err, &ce) || ce.Code != code || ce.Reason != reason {
		t.Fatalf("error = %v, want CloseError %d %q", err, code, reason)
	}
}

// ---- the cases ----

type confCase struct {
	name string
	opts *libws.UpgradeOptions
	run  func(t *testing.T, c *rawClient, s *testServer)
}

// echoes sends the frames in one write and expects exactly the frames
// want back, then closes normally.
func echoes(send []byte, want ...[]byte) func(*testing.T, *rawClient, *testServer) {
	return func(t *testing.T, c *rawClient, s *testServer) {
		c.send(send)
		for _, w := range want {
			c.expect(w)
		}
		c.send(cclose(ccode(1000)...))
		c.expectClose(sclose(1000, ""))
		wantCloseError(t, s.result(t), 1000, "")
	}
}

// fails: send frames, expect the echoes of the messages before, then the
// close frame for err and the end of the connection.
func fails(err *libws.ProtocolError, send []byte, before ...[]byte) func(*testing.T, *rawClient, *testServer) {
	return func(t *testing.T, c *rawClient, s *testServer) {
		c.send(send)
		for _, b := range before {
			c.expect(b)
		}
		c.expectClose(sfail(err))
		if got := s.result(t); !errors.Is(got, err) {
			t.Fatalf("server error %v, want %v", got, err)
		}
	}
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>10)
	}
	return b
}

func confCases() []confCase {
	var cs []confCase
	add := func(name string, run func(*testing.T, *rawClient, *testServer)) {
		cs = append(cs, confCase{name: name, run: run})
	}

	// 1. Framing: every length form, text and binary.
	for _, n := range []int{0, 125, 126, 127, 65535, 65536, 4 << 20} {
		add(fmt.Sprintf("framing/text/%d", n), echoes(ctext(srep("*", n)), stext(srep("*", n))))
		add(fmt.Sprintf("framing/binary/%d", n), echoes(cbin(payloadOf(n)), sframe(true, 2, payloadOf(n))))
	}
	add("framing/binary 65536 in chunks of 997", func(t *testing.T, c *rawClient, s *testServer) {
		p := payloadOf(65536)
		c.sendChunks(cbin(p), 997)
		c.expect(sframe(true, 2, p))
	})
	add("framing/many messages in one write", echoes(catb(ctext("a"), cbin(nil), ctext(srep("b", 300)), cbin(payloadOf(70000)), ctext("z")),
		stext("a"), sframe(true, 2, nil), stext(srep("b", 300)), sframe(true, 2, payloadOf(70000)), stext("z")))

	// 2. Pings and pongs.
	add("ping/empty", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cping(""))
		c.expect([]byte{0x8A, 0x00})
	})
	add("ping/text payload", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cping("Hello, world!"))
		c.expect(spong("Hello, world!"))
	})
	add("ping/binary payload", func(t *testing.T, c *rawClient, s *testServer) {
		p := "\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
		c.send(cping(p))
		c.expect(spong(p))
	})
	add("ping/125 bytes", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cping(srep("\xfe", 125)))
		c.expect(spong(srep("\xfe", 125)))
	})
	add("ping/125 bytes sent byte by byte", func(t *testing.T, c *rawClient, s *testServer) {
		c.sendChunks(cping(srep("\xfe", 125)), 1)
		c.expect(spong(srep("\xfe", 125)))
	})
	add("ping/126 bytes", fails(libws.ErrControlTooLong, cping(srep("\xfe", 126))))
	add("ping/unsolicited pong ignored", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cframe(true, 0, 0xA, nil), cframe(true, 0, 0xA, []byte("unsolicited")), ctext("after"))
		c.expect(stext("after"))
	})
	add("ping/pong then ping", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cframe(true, 0, 0xA, []byte("unsolicited")), cping("solicited"))
		c.expect(spong("solicited"))
	})
	add("ping/ten pings answered in order", func(t *testing.T, c *rawClient, s *testServer) {
		var all [][]byte
		for i := range 10 {
			all = append(all, cping(fmt.Sprint("payload-", i)))
		}
		c.sendChunks(catb(all...), 3)
		for i := range 10 {
			c.expect(spong(fmt.Sprint("payload-", i)))
		}
	})

	// 3. Reserved bits: none is negotiated, so any set bit fails, after the
	// echo of what came before and with no pong for what comes after.
	for rsv := byte(1); rsv < 8; rsv++ {
		add(fmt.Sprintf("rsv/%03b on text", rsv), fails(libws.ErrReservedBits,
			catb(ctext("ok"), cframe(true, rsv, 1, []byte("x")), cping("")), stext("ok")))
	}
	add("rsv/on binary", fails(libws.ErrReservedBits, cframe(true, 4, 2, []byte{1, 2})))
	add("rsv/on ping", fails(libws.ErrReservedBits, cframe(true, 2, 9, []byte("p"))))
	add("rsv/on close", fails(libws.ErrReservedBits, cframe(true, 1, 8, ccode(1000))))
	add("rsv/on continuation", fails(libws.ErrReservedBits, catb(cframe(false, 0, 1, []byte("a")), cframe(true, 4, 0, []byte("b")))))

	// 4. Reserved opcodes.
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		add(fmt.Sprintf("opcode/%#x", op), fails(libws.ErrReservedOpcode,
			catb(ctext("ok"), cframe(true, 0, op, []byte("reserved")), cping("")), stext("ok")))
	}

	// 5. Fragmentation.
	add("fragments/ping fragmented", fails(libws.ErrFragmentedControl, catb(cframe(false, 0, 9, []byte("frag1")), cframe(true, 0, 0, []byte("frag2")))))
	add("fragments/pong fragmented", fails(libws.ErrFragmentedControl, catb(cframe(false, 0, 0xA, []byte("frag1")), cframe(true, 0, 0, []byte("frag2")))))
	add("fragments/close fragmented", fails(libws.ErrFragmentedControl, cframe(false, 0, 8, ccode(1000))))
	add("fragments/text in two", echoes(catb(cframe(false, 0, 1, []byte("fragment1")), cframe(true, 0, 0, []byte("fragment2"))), stext("fragment1fragment2")))
	add("fragments/binary in many", echoes(catb(cframe(false, 0, 2, payloadOf(5000)), cframe(false, 0, 0, nil), cframe(false, 0, 0, payloadOf(70000)), cframe(true, 0, 0, []byte{7})),
		sframe(true, 2, catb(payloadOf(5000), payloadOf(70000), []byte{7}))))
	add("fragments/ping between fragments", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cframe(false, 0, 1, []byte("fragment1")), cping("between"), cframe(false, 0, 0, []byte("fragment2")),
			cframe(true, 0, 0xA, []byte("pong too")), cframe(true, 0, 0, []byte("fragment3")))
		c.expect(spong("between"))
		c.expect(stext("fragment1fragment2fragment3"))
	})
	add("fragments/ping between fragments, byte by byte", func(t *testing.T, c *rawClient, s *testServer) {
		c.sendChunks(catb(cframe(false, 0, 1, []byte("fragment1")), cping("between"), cframe(true, 0, 0, []byte("fragment2"))), 1)
		c.expect(spong("between"))
		c.expect(stext("fragment1fragment2"))
	})
	add("fragments/orphan continuation fin", fails(libws.ErrUnexpectedContinuation, cframe(true, 0, 0, []byte("orphan"))))
	add("fragments/orphan continuation no fin", fails(libws.ErrUnexpectedContinuation, cframe(false, 0, 0, []byte("orphan"))))
	add("fragments/orphan continuation after a message", fails(libws.ErrUnexpectedContinuation,
		catb(cframe(false, 0, 1, []byte("a")), cframe(true, 0, 0, []byte("b")), cframe(false, 0, 0, []byte("c"))), stext("ab")))
	add("fragments/new text mid-message", fails(libws.ErrExpectedContinuation, catb(cframe(false, 0, 1, []byte("a")), ctext("b"))))
	add("fragments/new fragmented binary mid-message", fails(libws.ErrExpectedContinuation, catb(cframe(false, 0, 1, []byte("a")), cframe(false, 0, 2, []byte("b")))))
	add("fragments/empty fragments", echoes(catb(cframe(false, 0, 1, nil), cframe(false, 0, 0, nil), cframe(true, 0, 0, nil)), stext("")))

	// 6. UTF-8.
	for _, s := range []string{
		"Hello-µ@ßöäüàá-UTF-8!!", kosmeUTF8, "\x00", "\u0080", "\u07ff", "\u0800", "\ud7ff", "\ue000",
		"\ufffd", "\ufffe\uffff", "\U00010000", "\U0010ffff", "\xef\xbb\xbfBOM",
	} {
		add(fmt.Sprintf("utf8/valid %q", s), echoes(ctext(s), stext(s)))
	}
	add("utf8/valid split at every byte", func(t *testing.T, c *rawClient, s *testServer) {
		msg := kosmeUTF8 + "a\U0010ffff€"
		for i := 0; i <= len(msg); i++ {
			c.send(cframe(false, 0, 1, []byte(msg[:i])), cframe(true, 0, 0, []byte(msg[i:])))
			c.expect(stext(msg))
		}
	})
	add("utf8/valid one byte per frame", func(t *testing.T, c *rawClient, s *testServer) {
		msg := kosmeUTF8 + "\U0001d11e"
		var frames [][]byte
		for i := range len(msg) {
			op := byte(0)
			if i == 0 {
				op = 1
			}
			frames = append(frames, cframe(i == len(msg)-1, 0, op, []byte{msg[i]}))
		}
		c.sendChunks(catb(frames...), 5)
		c.expect(stext(msg))
	})
	for _, s := range []string{
		kosmeUTF8 + "\xed\xa0\x80edited",   // 6.3.1: a surrogate
		"\xce", "\xe0\x80", "\xf0\x90\x80", // truncated sequences
		"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", // overlong
		"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", // 5 and 6 byte forms
		"\xf4\x90\x80\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80", // above U+10FFFF, surrogates
		"\x80", "\xbf", "\xfe", "\xff", "a\xc0 b",
	} {
		add(fmt.Sprintf("utf8/invalid %q", s), fails(libws.ErrInvalidUTF8, catb(ctext("ok"), ctext(s), cping("")), stext("ok")))
	}
	bad := kosmeUTF8 + "\xed\xa0\x80edited"
	for i := 0; i <= len(bad); i++ {
		add(fmt.Sprintf("utf8/invalid split at %d", i), fails(libws.ErrInvalidUTF8,
			catb(cframe(false, 0, 1, []byte(bad[:i])), cframe(true, 0, 0, []byte(bad[i:])))))
	}
	add("utf8/fail fast before fin", func(t *testing.T, c *rawClient, s *testServer) {
		// The bad fragment goes out without fin; the rest is never sent.
		// The server must not wait for the end of the message.
		c.send(cframe(false, 0, 1, []byte(kosmeUTF8)))
		c.send(cframe(false, 0, 0, []byte("\xed\xa0\x80")))
		c.expectClose(sfail(libws.ErrInvalidUTF8))
		if err := s.result(t); !errors.Is(err, libws.ErrInvalidUTF8) {
			t.Fatal(err)
		}
	})
	add("utf8/fail fast inside the first frame", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cframe(false, 0, 1, []byte("ab\xf4\x90"+srep("z", 1000))))
		c.expectClose(sfail(libws.ErrInvalidUTF8))
	})

	// 7. Close.
	add("close/after a message", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(ctext("Hello"), cclose(ccode(1000)...))
		c.expect(stext("Hello"))
		c.expectClose(sclose(1000, ""))
	})
	add("close/then ping, text and close are ignored", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cclose(ccode(1000)...), cping("ignored"), ctext("ignored"), cclose(ccode(1001)...))
		c.expectClose(sclose(1000, ""))
		wantCloseError(t, s.result(t), 1000, "")
	})
	add("close/in the middle of a fragmented message", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cframe(false, 0, 1, []byte("frag1")), cclose(ccode(1000)...), cframe(true, 0, 0, []byte("frag2")))
		c.expectClose(sclose(1000, ""))
	})
	add("close/after a large message", func(t *testing.T, c *rawClient, s *testServer) {
		p := payloadOf(256 << 10)
		c.send(cbin(p), cclose(ccode(1000)...), cping(""))
		c.expect(sframe(true, 2, p))
		c.expectClose(sclose(1000, ""))
	})
	add("close/empty", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cclose())
		c.expectClose([]byte{0x88, 0x00})
		wantCloseError(t, s.result(t), libws.StatusNoStatusReceived, "")
	})
	add("close/one byte", fails(libws.ErrInvalidClosePayload, cclose(0x03)))
	add("close/code and reason", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cclose(append(ccode(1000), "Hello World!"...)...))
		c.expectClose(sclose(1000, ""))
		wantCloseError(t, s.result(t), 1000, "Hello World!")
	})
	add("close/123-byte reason", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cclose(append(ccode(1000), srep("*", 123)...)...))
		c.expectClose(sclose(1000, ""))
		wantCloseError(t, s.result(t), 1000, srep("*", 123))
	})
	add("close/124-byte reason", fails(libws.ErrControlTooLong, cclose(append(ccode(1000), srep("*", 124)...)...)))
	add("close/invalid utf8 reason", fails(libws.ErrInvalidCloseReason, cclose(append(ccode(1000), kosmeUTF8+"\xed\xa0\x80edited"...)...)))
	add("close/utf8 reason", func(t *testing.T, c *rawClient, s *testServer) {
		c.send(cclose(append(ccode(4000), kosmeUTF8...)...))
		c.expectClose(sclose(4000, ""))
		wantCloseError(t, s.result(t), 4000, kosmeUTF8)
	})
	for _, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999} {
		add(fmt.Sprintf("close/valid code %d", code), func(t *testing.T, c *rawClient, s *testServer) {
			c.send(cclose(append(ccode(code), "reason"...)...))
			c.expectClose(sclose(code, ""))
			wantCloseError(t, s.result(t), libws.StatusCode(code), "reason")
		})
	}
	for _, code := range []int{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		add(fmt.Sprintf("close/invalid code %d", code), fails(libws.ErrInvalidCloseCode, cclose(ccode(code)...)))
	}
	return cs
}

func TestConformance(t *testing.T) {
	for _, cc := range confCases() {
		t.Run(cc.name, func(t *testing.T) {
			s := startServer(t, cc.opts, echo)
			cc.run(t, dialRaw(t, s.addr, nil), s)
		})
	}
}

func TestConformanceLimits(t *testing.T) {
	opts := &libws.UpgradeOptions{ConnOptions: libws.ConnOptions{Options: libws.Options{MaxMessageSize: 1000}}}
	header := func(fin bool, op byte, n int) []byte {
		// Only the header: the payload is never sent, so a server that
		// waited for it before refusing would time out.
		return append(appendLen([]byte{firstByte(fin, 0, op)}, 0x80, n), 1, 2, 3, 4)
	}
	cases := []struct {
		name string
		send []byte
		err  *libws.ProtocolError
	}{
		{"one frame over", header(true, 1, 1001), libws.ErrFrameTooBig},
		{"64-bit length", header(true, 2, 1<<40), libws.ErrFrameTooBig},
		{"fragments over", catb(cframe(false, 0, 2, payloadOf(600)), cping("x"), header(true, 0, 401)), libws.ErrMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, opts, echo)
			c := dialRaw(t, s.addr, nil)
			c.send(tc.send)
			if tc.err == libws.ErrMessageTooBig {
				c.expect(spong("x"))
			}
			c.expectClose(sfail(tc.err))
			if err := s.result(t); !errors.Is(err, tc.err) {
				t.Fatal(err)
			}
		})
	}
	t.Run("exactly at the limit", func(t *testing.T) {
		s := startServer(t, opts, echo)
		c := dialRaw(t, s.addr, nil)
		c.send(cframe(false, 0, 2, payloadOf(600)), cframe(true, 0, 0, payloadOf(400)))
		c.expect(sframe(true, 2, append(payloadOf(600), payloadOf(400)...)))
	})
}

func TestHandshakeBytesAfterRequest(t *testing.T) {
	// The first frames travel in the same write as the request.
	first := catb(ctext("early"), cping("bird"))
	t.Run("UpgradeConn", func(t *testing.T) {
		s := startServer(t, nil, echo)
		c := dialRaw(t, s.addr, first)
		c.expect(stext("early"))
		c.expect(spong("bird"))
	})
	t.Run("Upgrade", func(t *testing.T) {
		srv, _ := startHTTPServer(t, false, nil, echo)
		c := dialRaw(t, srv.Listener.Addr().String(), first)
		c.expect(stext("early"))
		c.expect(spong("bird"))
	})
	t.Run("Dial", func(t *testing.T) {
		// A server that sends its first message in the same write as its
		// 101 answer.
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
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				libws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
			nc.Write(catb([]byte(resp), stext("hello from the same packet"), sframe(true, 2, payloadOf(3000))))
			io.Copy(io.Discard, nc)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, _, err := libws.Dial(ctx, "ws://"+ln.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetDeadline(time.Now().Add(testTimeout))
		op, p, err := c.ReadMessage()
		if err != nil || op != libws.OpText || string(p) != "hello from the same packet" {
			t.Fatalf("%v %q %v", op, p, err)
		}
		op, p, err = c.ReadMessage()
		if err != nil || op != libws.OpBinary || !bytes.Equal(p, payloadOf(3000)) {
			t.Fatalf("%v %d bytes %v", op, len(p), err)
		}
	})
}

type refusal struct {
	name    string
	request string
	status  int
	reason  string
}

var refusals = []refusal{
	{"wrong version", strings.Replace(upgradeRequest(""), "Version: 13", "Version: 8", 1), 426, "unsupported Sec-WebSocket-Version"},
	{"no version", strings.Replace(upgradeRequest(""), "Sec-WebSocket-Version: 13\r\n", "", 1), 426, "unsupported Sec-WebSocket-Version"},
	{"no upgrade header", strings.Replace(upgradeRequest(""), "Upgrade: websocket\r\n", "", 1), 426, "Upgrade header lacks websocket"},
	{"upgrade to something else", strings.Replace(upgradeRequest(""), "Upgrade: websocket", "Upgrade: h2c", 1), 426, "Upgrade header lacks websocket"},
	{"no connection upgrade", strings.Replace(upgradeRequest(""), "Connection: Upgrade", "Connection: keep-alive", 1), 426, "Connection header lacks upgrade"},
	{"no key", strings.Replace(upgradeRequest(""), "Sec-WebSocket-Key: "+rfcKey+"\r\n", "", 1), 400, "invalid Sec-WebSocket-Key"},
	{"short key", strings.Replace(upgradeRequest(""), rfcKey, "c2hvcnQ=", 1), 400, "invalid Sec-WebSocket-Key"},
	{"not base64 key", strings.Replace(upgradeRequest(""), rfcKey, "!!!!!!!!!!!!!!!!!!!!!!==", 1), 400, "invalid Sec-WebSocket-Key"},
	{"POST", "POST" + strings.TrimPrefix(upgradeRequest("Content-Length: 0\r\n"), "GET"), 405, "method is not GET"},
	{"HTTP/1.0", strings.Replace(upgradeRequest(""), "HTTP/1.1", "HTTP/1.0", 1), 400, "protocol is not HTTP/1.1"},
	{"origin refused", upgradeRequest("Origin: http://evil.example\r\n"), 403, "origin not allowed"},
}

func TestHandshakeRefusals(t *testing.T) {
	opts := &libws.UpgradeOptions{CheckOrigin: func(origin string, _ http.Header) bool { return origin != "http://evil.example" }}
	check := func(t *testing.T, addr string, r refusal) {
		nc, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		nc.Write([]byte(r.request))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != r.status || !strings.Contains(string(body), r.reason) {
			t.Fatalf("got %s %q, want %d %q", resp.Status, body, r.status, r.reason)
		}
		if v := resp.Header.Get("Sec-WebSocket-Version"); (r.status == 426) != (v == "13") {
			t.Fatalf("status %d with Sec-WebSocket-Version %q", resp.StatusCode, v)
		}
		if resp.Header.Get("Sec-WebSocket-Accept") != "" {
			t.Fatal("refusal carries Sec-WebSocket-Accept")
		}
	}
	wantErr := func(t *testing.T, err error, r refusal) {
		var he *libws.HandshakeError
		if !errors.As(err, &he) || he.Status != r.status {
			t.Fatalf("server error %v, want HandshakeError %d", err, r.status)
		}
	}
	for _, r := range refusals {
		t.Run("UpgradeConn/"+r.name, func(t *testing.T) {
			s := startServer(t, opts, echo)
			check(t, s.addr, r)
			wantErr(t, s.result(t), r)
		})
		t.Run("Upgrade/"+r.name, func(t *testing.T) {
			srv, results := startHTTPServer(t, false, opts, echo)
			check(t, srv.Listener.Addr().String(), r)
			wantErr(t, waitResult(t, results), r)
		})
	}
	t.Run("UpgradeConn/malformed request line", func(t *testing.T) {
		s := startServer(t, opts, echo)
		check(t, s.addr, refusal{request: "GET /\r\n\r\n", status: 400, reason: "malformed request line"})
	})
	t.Run("UpgradeConn/malformed header", func(t *testing.T) {
		s := startServer(t, opts, echo)
		check(t, s.addr, refusal{request: "GET / HTTP/1.1\r\nNo colon here\r\n\r\n", status: 400, reason: "malformed header line"})
	})
	t.Run("UpgradeConn/request too large", func(t *testing.T) {
		s := startServer(t, opts, echo)
		check(t, s.addr, refusal{request: upgradeRequest("X-Big: " + srep("a", libws.MaxRequestSize) + "\r\n"), status: 431, reason: "too large"})
	})
}

func TestDialEcho(t *testing.T) {
	srv, results := startHTTPServer(t, false, nil, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, resp, err := libws.Dial(ctx, wsURL(srv)+"/path?q=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetDeadline(time.Now().Add(testTimeout))
	if resp.StatusCode != 101 || c.Subprotocol() != "" {
		t.Fatalf("%s %q", resp.Status, c.Subprotocol())
	}
	for _, n := range []int{0, 1, 125, 126, 4000, 4096, 5370, 65535, 65536, 1 << 20} {
		p := payloadOf(n)
		if err := c.WriteMessage(libws.OpBinary, p); err != nil {
			t.Fatal(err)
		}
		op, got, err := c.ReadMessage()
		if err != nil || op != libws.OpBinary || !bytes.Equal(got, p) {
			t.Fatalf("binary %d: op %v, %d bytes, err %v", n, op, len(got), err)
		}
		// WriteText of a string long enough to outgrow the write buffer.
		s := srep("é", n/2) + srep("x", n%2)
		if err := c.WriteText(s); err != nil {
			t.Fatal(err)
		}
		op, got, err = c.ReadMessage()
		if err != nil || op != libws.OpText || string(got) != s {
			i := 0
			for i < min(len(got), len(s)) && got[i] == s[i] {
				i++
			}
			t.Fatalf("WriteText %d bytes: op %v, %d bytes, first difference at %d, err %v", len(s), op, len(got), i, err)
		}
	}
	if err := c.Close(libws.StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
	wantCloseError(t, waitResult(t, results), 1000, "done")
}

func TestDialTLS(t *testing.T) {
	srv, results := startHTTPServer(t, true, nil, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, _, err := libws.Dial(ctx, "wss://"+srv.Listener.Addr().String()+"/", &libws.DialOptions{TLSConfig: tlsConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, ok := c.NetConn().(*tls.Conn); !ok {
		t.Fatalf("NetConn is %T", c.NetConn())
	}
	for _, n := range []int{0, 20, 5000, 200000} {
		if err := c.WriteMessage(libws.OpBinary, payloadOf(n)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || !bytes.Equal(p, payloadOf(n)) {
			t.Fatalf("%d: %d bytes, %v", n, len(p), err)
		}
	}
	if err := c.Close(4000, "tls bye"); err != nil {
		t.Fatal(err)
	}
	wantCloseError(t, waitResult(t, results), 4000, "tls bye")

	// Without the test CA the handshake fails.
	if _, _, err := libws.Dial(ctx, "wss://"+srv.Listener.Addr().String()+"/", nil); err == nil {
		t.Fatal("Dial trusted the test certificate")
	}
}

func TestDialSubprotocol(t *testing.T) {
	opts := &libws.UpgradeOptions{Subprotocols: []string{"v2.chat", "v1.chat"}}
	subs := make(chan string, 10)
	srv, _ := startHTTPServer(t, false, opts, func(c *libws.Conn) error {
		subs <- c.Subprotocol()
		return echo(c)
	})
	cases := []struct {
		offer []string
		want  string
	}{
		{[]string{"v1.chat", "v2.chat"}, "v2.chat"}, // the server's preference wins
		{[]string{"v1.chat"}, "v1.chat"},
		{[]string{"other"}, ""},
		{nil, ""},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		c, resp, err := libws.Dial(ctx, wsURL(srv), &libws.DialOptions{Subprotocols: tc.offer})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if c.Subprotocol() != tc.want || resp.Header.Get("Sec-WebSocket-Protocol") != tc.want {
			t.Errorf("offer %v: client got %q, header %q, want %q", tc.offer, c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"), tc.want)
		}
		select {
		case got := <-subs:
			if got != tc.want {
				t.Errorf("offer %v: server chose %q, want %q", tc.offer, got, tc.want)
			}
		case <-time.After(testTimeout):
			t.Fatal("no server connection")
		}
		c.CloseNow()
	}

	// A server choosing a subprotocol that was not offered is refused.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(testTimeout))
		req, _ := http.ReadRequest(bufio.NewReader(nc))
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: evil\r\n\r\n",
			libws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
		io.Copy(io.Discard, nc)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, _, err := libws.Dial(ctx, "ws://"+ln.Addr().String(), &libws.DialOptions{Subprotocols: []string{"good"}}); err == nil {
		t.Fatal("accepted a subprotocol that was not offered")
	}
}

func TestDialOrigin(t *testing.T) {
	opts := &libws.UpgradeOptions{CheckOrigin: func(origin string, _ http.Header) bool { return origin == "https://good.example" }}
	srv, results := startHTTPServer(t, false, opts, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, resp, err := libws.Dial(ctx, wsURL(srv), &libws.DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}})
	var he *libws.HandshakeError
	if !errors.As(err, &he) || he.Status != 403 || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("err %v, resp %v", err, resp)
	}
	var se *libws.HandshakeError
	if err := waitResult(t, results); !errors.As(err, &se) || se.Status != 403 {
		t.Fatalf("server: %v", err)
	}
	c, _, err := libws.Dial(ctx, wsURL(srv), &libws.DialOptions{Header: http.Header{"Origin": {"https://good.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
}

// silentServer accepts connections and reads from them but never answers;
// accepted receives each connection.
func silentServer(t *testing.T) (string, chan net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.SetDeadline(time.Now().Add(testTimeout))
			accepted <- nc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		close(accepted)
		for nc := range accepted {
			nc.Close()
		}
	})
	return ln.Addr().String(), accepted
}

func TestDialContext(t *testing.T) {
	addr, accepted := silentServer(t)
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case nc := <-accepted:
				// The request is on its way; the answer never comes.
				nc.Read(make([]byte, 1))
				cancel()
			case <-time.After(testTimeout):
			}
		}()
		start := time.Now()
		_, _, err := libws.Dial(ctx, "ws://"+addr+"/", nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > testTimeout/2 {
			t.Fatalf("Dial took %v after cancel", d)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, _, err := libws.Dial(ctx, "ws://"+addr+"/", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := libws.Dial(ctx, "ws://"+addr+"/", nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("bad URLs", func(t *testing.T) {
		for _, u := range []string{"http://" + addr, "ws://", "::", "wss:///x"} {
			var he *libws.HandshakeError
			if _, _, err := libws.Dial(context.Background(), u, nil); !errors.As(err, &he) {
				t.Errorf("%q: %v", u, err)
			}
		}
	})
}

// dialEcho connects a client Conn to an echo server on Upgrade.
func dialEcho(t *testing.T, opts *libws.DialOptions) (*libws.Conn, chan error) {
	t.Helper()
	srv, results := startHTTPServer(t, false, nil, echo)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := libws.Dial(ctx, wsURL(srv), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c, results
}

func TestReadMessageContext(t *testing.T) {
	c, _ := dialEcho(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := c.WriteText("first"); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessageContext(ctx); err != nil || string(p) != "first" {
		t.Fatalf("%q %v", p, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessageContext(ctx2)
		done <- err
	}()
	waitReading(t, c)
	cancel2()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("ReadMessageContext ignored the cancellation")
	}
}

// waitReading polls until a goroutine is inside a read on c.
func waitReading(t *testing.T, c *libws.Conn) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !libws.ReadInProgress(c) {
		if time.Now().After(deadline) {
			t.Fatal("the reader never started")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentWriters(t *testing.T) {
	c, results := dialEcho(t, nil)
	const writers, perWriter = 8, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers+2)
	msg := func(w, i int) []byte {
		// Sizes cross the write buffer and length-form boundaries.
		n := []int{0, 1, 125, 126, 4090, 4096, 9000, 70000}[(w+i)%8]
		b := fmt.Appendf(nil, "%d:%d:", w, i)
		for len(b) < n {
			b = append(b, byte('a'+(w+i+len(b))%26))
		}
		return b
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				var err error
				if w%2 == 0 {
					err = c.WriteMessage(libws.OpBinary, msg(w, i))
				} else {
					err = c.WriteText(string(msg(w, i)))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range perWriter {
			if err := c.Ping(fmt.Appendf(nil, "ping %d", i)); err != nil {
				errs <- err
				return
			}
		}
	}()
	next := make([]int, writers)
	for got := 0; got < writers*perWriter; got++ {
		op, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("after %d messages: %v (server: %v)", got, err, waitResult(t, results))
		}
		var w, i int
		if _, err := fmt.Sscanf(string(p), "%d:%d:", &w, &i); err != nil || w < 0 || w >= writers {
			t.Fatalf("garbled message %q", p[:min(len(p), 40)])
		}
		if i != next[w] || !bytes.Equal(p, msg(w, i)) {
			t.Fatalf("writer %d: got message %d (%d bytes), want %d intact", w, i, len(p), next[w])
		}
		if wantOp := []libws.Opcode{libws.OpBinary, libws.OpText}[w%2]; op != wantOp {
			t.Fatalf("opcode %v", op)
		}
		next[w]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := c.Close(libws.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	wantCloseError(t, waitResult(t, results), 1000, "")
}

func TestCloseHandshake(t *testing.T) {
	t.Run("client initiates", func(t *testing.T) {
		c, results := dialEcho(t, nil)
		if err := c.Close(4001, "client bye"); err != nil {
			t.Fatal(err)
		}
		wantCloseError(t, waitResult(t, results), 4001, "client bye")
		// The server echoed the code.
		if code, reason, ok := c.CloseStatus(); !ok || code != 4001 || reason != "" {
			t.Fatalf("CloseStatus = %d %q %v", code, reason, ok)
		}
		if err := c.WriteMessage(libws.OpText, []byte("late")); !errors.Is(err, libws.ErrClosed) {
			t.Fatalf("write after close: %v", err)
		}
		if err := c.Close(1000, ""); !errors.Is(err, libws.ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
		_, _, err := c.ReadMessage()
		wantCloseError(t, err, 4001, "")
	})
	t.Run("server initiates", func(t *testing.T) {
		type closed struct {
			err    error
			code   libws.StatusCode
			reason string
		}
		done := make(chan closed, 1)
		srv, _ := startHTTPServer(t, false, nil, func(c *libws.Conn) error {
			err := c.Close(4002, "server bye")
			code, reason, _ := c.CloseStatus()
			done <- closed{err, code, reason}
			if err := c.WriteMessage(libws.OpText, []byte("late")); !errors.Is(err, libws.ErrClosed) {
				return fmt.Errorf("write after close: %v", err)
			}
			return nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		c, _, err := libws.Dial(ctx, wsURL(srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.SetDeadline(time.Now().Add(testTimeout))
		_, _, err = c.ReadMessage()
		wantCloseError(t, err, 4002, "server bye")
		select {
		case got := <-done:
			if got.err != nil || got.code != 4002 || got.reason != "" {
				t.Fatalf("server Close: %+v (want the code echoed)", got)
			}
		case <-time.After(testTimeout):
			t.Fatal("server Close did not return")
		}
		if err := c.WriteMessage(libws.OpText, []byte("late")); !errors.Is(err, libws.ErrClosed) {
			t.Fatalf("client write after the peer's close: %v", err)
		}
		// The client answered and closed its socket.
		_, _, err = c.ReadMessage()
		wantCloseError(t, err, 4002, "server bye")
	})
	t.Run("no status", func(t *testing.T) {
		c, results := dialEcho(t, nil)
		if err := c.Close(0, ""); err != nil {
			t.Fatal(err)
		}
		wantCloseError(t, waitResult(t, results), libws.StatusNoStatusReceived, "")
	})
	t.Run("invalid code refused", func(t *testing.T) {
		c, _ := dialEcho(t, nil)
		for _, code := range []libws.StatusCode{1005, 1006, 1015, 999, 5000} {
			if err := c.Close(code, ""); err == nil {
				t.Fatalf("Close(%d) accepted", code)
			}
		}
		if err := c.WriteText("still open"); err != nil {
			t.Fatal(err)
		}
	})
}

// rawPeer is a server that answers the handshake by hand and then hands the
// raw connection to the test.
func rawPeer(t *testing.T) (string, chan net.Conn) {
	addr, accepted := silentServer(t)
	ready := make(chan net.Conn, 1)
	go func() {
		nc, ok := <-accepted
		if !ok {
			return
		}
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		fmt.Fprintf(nc, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			libws.AcceptKey(req.Header.Get("Sec-WebSocket-Key")))
		ready <- nc
	}()
	return addr, ready
}

func dialPeer(t *testing.T, opts *libws.DialOptions) (*libws.Conn, net.Conn) {
	t.Helper()
	addr, ready := rawPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := libws.Dial(ctx, "ws://"+addr+"/", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetDeadline(time.Now().Add(testTimeout))
	select {
	case nc := <-ready:
		return c, nc
	case <-time.After(testTimeout):
		t.Fatal("peer not ready")
		return nil, nil
	}
}

func TestAbnormalClosure(t *testing.T) {
	t.Run("FIN", func(t *testing.T) {
		c, peer := dialPeer(t, nil)
		peer.Write(stext("last words"))
		peer.Close()
		if _, p, err := c.ReadMessage(); err != nil || string(p) != "last words" {
			t.Fatalf("%q %v", p, err)
		}
		_, _, err := c.ReadMessage()
		wantCloseError(t, err, libws.StatusAbnormalClosure, "")
		_, _, err = c.ReadMessage()
		wantCloseError(t, err, libws.StatusAbnormalClosure, "")
	})
	t.Run("RST", func(t *testing.T) {
		c, peer := dialPeer(t, nil)
		peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		_, _, err := c.ReadMessage()
		wantCloseError(t, err, libws.StatusAbnormalClosure, "")
	})
	t.Run("mid-frame", func(t *testing.T) {
		c, peer := dialPeer(t, nil)
		peer.Write(stext("truncated")[:5])
		peer.Close()
		_, _, err := c.ReadMessage()
		wantCloseError(t, err, libws.StatusAbnormalClosure, "")
	})
}

func TestCloseWithConcurrentReader(t *testing.T) {
	// Close while another goroutine reads, and the peer never answers the
	// close frame: Close returns at once, the reader gives up after the
	// close timeout, and the TCP connection must not be left open.
	c, peer := dialPeer(t, &libws.DialOptions{ConnOptions: libws.ConnOptions{CloseTimeout: 200 * time.Millisecond}})
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	waitReading(t, c)
	if err := c.Close(libws.StatusGoingAway, "leaving"); err != nil {
		t.Fatal(err)
	}
	peerClient := &rawClient{t, peer, bufio.NewReader(peer)}
	// What a client sends is masked: unmask and compare.
	hdr := make([]byte, 6)
	if _, err := io.ReadFull(peerClient.br, hdr); err != nil || hdr[0] != 0x88 || hdr[1] != 0x80|9 {
		t.Fatalf("close frame header % x, %v", hdr, err)
	}
	body := make([]byte, 9)
	io.ReadFull(peerClient.br, body)
	for i := range body {
		body[i] ^= hdr[2+i&3]
	}
	if string(body) != "\x03\xe9leaving" {
		t.Fatalf("close payload %q", body)
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("reader got a message")
		}
	case <-time.After(testTimeout):
		t.Fatal("reader did not give up")
	}
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the close timeout the TCP connection is still open: read %d, %v", n, err)
	}
}

func TestProtocolErrorClosesConn(t *testing.T) {
	// A client Conn that receives a violation sends its masked close frame
	// with the right code, closes the socket and reports the error.
	c, peer := dialPeer(t, nil)
	peer.Write(cframe(true, 0, 1, []byte("masked from a server")))
	_, _, err := c.ReadMessage()
	if !errors.Is(err, libws.ErrMaskedFrame) {
		t.Fatalf("err = %v", err)
	}
	br := bufio.NewReader(peer)
	hdr := make([]byte, 6)
	if _, err := io.ReadFull(br, hdr); err != nil || hdr[0] != 0x88 || hdr[1]&0x80 == 0 {
		t.Fatalf("% x %v", hdr, err)
	}
	body := make([]byte, hdr[1]&0x7F)
	io.ReadFull(br, body)
	for i := range body {
		body[i] ^= hdr[2+i&3]
	}
	if want := append(ccode(1002), libws.ErrMaskedFrame.Msg...); !bytes.Equal(body, want) {
		t.Fatalf("close payload %q, want %q", body, want)
	}
	peer.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("socket not closed: %v", err)
	}
	if err := c.WriteText("x"); !errors.Is(err, libws.ErrClosed) {
		t.Fatalf("write after failure: %v", err)
	}
}
