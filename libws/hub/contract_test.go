package hub

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     []byte
		want    Record
		payload string
	}{
		{"message", AppendRecord(nil, EventMessage, 1, 0, 7, 0, []byte("hi")), Record{Kind: EventMessage, Opcode: 1, Conn: 7}, "hi"},
		{"error with status", AppendError(nil, 1009, ETooBig, 9, "too big"), Record{Kind: EventError, Code: 1009, Conn: 9, Status: ETooBig}, "too big"},
		{"backpressure", AppendRecord(nil, EventBackpressure, 0, 0, 3, 1<<20), Record{Kind: EventBackpressure, Conn: 3, Aux: 1 << 20}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.rec)%8 != 0 {
				t.Fatalf("record of %d bytes is not padded to 8", len(tc.rec))
			}
			r, rest, ok := NextRecord(tc.rec)
			if !ok || len(rest) != 0 {
				t.Fatalf("ok %v, %d bytes left", ok, len(rest))
			}
			if string(r.Payload) != tc.payload {
				t.Errorf("payload %q", r.Payload)
			}
			r.Payload = nil
			if fmt.Sprint(r) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", r, tc.want)
			}
		})
	}
}

// A header announcing more than MaxRecordLen is not a record, whatever
// bytes follow it.
func TestNextRecordRefusesOverlongLength(t *testing.T) {
	rec := AppendRecord(nil, EventMessage, 2, 0, 1, 0, []byte("x"))
	rec[4], rec[5], rec[6], rec[7] = 0xff, 0xff, 0xff, 0xff
	if _, _, ok := NextRecord(append(rec, make([]byte, 64)...)); ok {
		t.Fatal("decoded a record longer than MaxRecordLen")
	}
}

func TestOpenFieldsRoundTrip(t *testing.T) {
	hdr := map[string][]string{"X-A": {"1"}}
	rec := appendOpen(nil, 5, 2, "127.0.0.1:9", "/p?q=\x00sub", "chat", hdr)
	r, _, ok := NextRecord(rec)
	if !ok || r.Kind != EventOpen || r.Aux != 2 {
		t.Fatalf("record %+v ok %v", r, ok)
	}
	f, err := OpenFields(r.Payload)
	if err != nil {
		t.Fatal(err)
	}
	want := [4]string{"127.0.0.1:9", "/p?q=\x00sub", "chat", "X-A: 1\r\n"}
	if f != want {
		t.Fatalf("fields %q, want %q", f, want)
	}
	for cut := 0; cut < len(r.Payload); cut++ {
		if _, err := OpenFields(r.Payload[:cut]); err == nil {
			t.Fatalf("a payload cut at %d decoded", cut)
		}
	}
}

func FuzzOpenFields(f *testing.F) {
	r, _, _ := NextRecord(appendOpen(nil, 1, 1, "a:1", "/", "", map[string][]string{"H": {"v"}}))
	f.Add(r.Payload)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := OpenFields(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same prefix.
		var enc []byte
		for _, s := range fields {
			enc = appendField(enc, s)
		}
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("fields %q do not re-encode to the input", fields)
		}
	})
}

// rawUpgrade opens a TCP connection to port and completes a WebSocket
// handshake by hand, returning the socket and a client Protocol for it.
func rawUpgrade(port int, target string) (net.Conn, *libws.Protocol, error) {
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, nil, err
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\nX-Test: v1\r\n\r\n", target)
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := nc.Read(b); err != nil {
			nc.Close()
			return nil, nil, fmt.Errorf("handshake: %v after %q", err, head)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		nc.Close()
		return nil, nil, fmt.Errorf("handshake: %q", head)
	}
	return nc, libws.NewProtocol(libws.RoleClient, nil), nil
}

// openRaw connects a hand-driven client to a hub's port (driving an inline
// hub meanwhile) and returns the connection's id, socket and Protocol.
func openRaw(t *testing.T, host *testHost, port int, target string) (uint64, net.Conn, *libws.Protocol) {
	t.Helper()
	type result struct {
		nc  net.Conn
		p   *libws.Protocol
		err error
	}
	done := make(chan result, 1)
	go func() { nc, p, err := rawUpgrade(port, target); done <- result{nc, p, err} }()
	id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.nc.Close() })
	return id, r.nc, r.p
}

// waitEvent takes events from host until one of kind for conn (any conn
// when 0) arrives, running an inline hub meanwhile.
func waitEvent(t *testing.T, host *testHost, kind uint8, conn uint64, d time.Duration) Record {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r, ok := host.next(time.Until(deadline))
		if ok && r.Kind == kind && (conn == 0 || r.Conn == conn) {
			return r
		}
	}
	t.Fatalf("no event of kind %d for conn %d within %v", kind, conn, d)
	return Record{}
}

func newHostHub(t *testing.T, o Options) (*Hub, *testHost, int) {
	t.Helper()
	host := newTestHost()
	h, err := New(host, &o)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	t.Cleanup(func() { h.Shutdown(time.Second); checkNoneBuffered(t, h) })
	_, port, err := h.Listen("127.0.0.1:0", &Options{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	return h, host, port
}

func TestOpenEventFieldsEpoll(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		_, host, port := newHostHub(t, o)
		go func() {
			if nc, _, err := rawUpgrade(port, "/chat?room=1"); err == nil {
				defer nc.Close()
				time.Sleep(time.Second)
			}
		}()
		r := waitEvent(t, host, EventOpen, 0, 5*time.Second)
		f, err := OpenFields(r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(f[OpenPeer], "127.0.0.1:") || f[OpenTarget] != "/chat?room=1" || f[OpenSubprotocol] != "chat" || !strings.Contains(f[OpenHeaders], "X-Test: v1\r\n") {
			t.Fatalf("fields %q", f)
		}
	})
}

// The open event of a client connection (a goroutine connection) has the
// same layout: the server's address, the target, the subprotocol chosen
// and the response headers.
func TestOpenEventFieldsClient(t *testing.T) {
	_, _, port := newHostHub(t, Options{})
	host := newTestHost()
	h, err := New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	defer h.Shutdown(time.Second)
	id, err := h.Connect(fmt.Sprintf("ws://127.0.0.1:%d/x?y=1", port), &Options{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatal(err)
	}
	r := waitEvent(t, host, EventOpen, id, 5*time.Second)
	f, err := OpenFields(r.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if f[OpenPeer] != fmt.Sprintf("127.0.0.1:%d", port) || f[OpenTarget] != "/x?y=1" || f[OpenSubprotocol] != "chat" || !strings.Contains(f[OpenHeaders], "Sec-Websocket-Accept: ") {
		t.Fatalf("fields %q", f)
	}
}

// sendFrames writes client frames to nc.
func sendFrames(t *testing.T, nc net.Conn, p *libws.Protocol, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		p.WriteMessage(libws.OpText, []byte(m))
	}
	if _, err := nc.Write(p.Output()); err != nil {
		t.Fatal(err)
	}
	p.Sent(len(p.Output()))
}

// noEvent asserts that no event of kind arrives within d.
func noEvent(t *testing.T, host *testHost, kind uint8, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if r, ok := host.next(time.Until(deadline)); ok && r.Kind == kind {
			t.Fatalf("event %d (%q) while paused", kind, r.Payload)
		}
	}
}

// A paused epoll connection reads nothing and does not make the loop spin
// on its unread input; resuming delivers what waited; a close on a paused
// connection still completes.
func TestPauseResumeEpoll(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, port := newHostHub(t, o)
		id, nc, p := openRaw(t, host, port, "/")
		host.send(CmdPause, 0, 0, id, nil)
		host.send(CmdPause, 0, 0, id, nil) // idempotent
		host.next(50 * time.Millisecond)   // the pause is carried out
		var before uint64
		h.loop.do(func() { before = h.loop.turns })
		sendFrames(t, nc, p, "one", "two")
		noEvent(t, host, EventMessage, 600*time.Millisecond)
		var after uint64
		h.loop.do(func() { after = h.loop.turns })
		// The tick wakes the loop 5 times a second, the inline host's
		// polls every 10 ms; a loop woken by unread input turns thousands
		// of times.
		if after-before > 200 {
			t.Fatalf("loop turned %d times in 600 ms while paused", after-before)
		}
		host.send(CmdResume, 0, 0, id, nil)
		for _, want := range []string{"one", "two"} {
			if r := waitEvent(t, host, EventMessage, id, 5*time.Second); string(r.Payload) != want {
				t.Fatalf("got %q, want %q", r.Payload, want)
			}
		}
		host.send(CmdPause, 0, 0, id, nil)
		host.send(CmdClose, 0, 1000, id, []byte("done"))
		// The client answers the close; the paused hub must read it.
		buf := make([]byte, 256)
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		p.Feed(buf[:n])
		if f, ok, err := p.NextFrame(); !ok || err != nil || f.OpCode != libws.OpClose {
			t.Fatalf("want the hub's close, got %v %v %v", f.OpCode, ok, err)
		}
		p.WriteClose(1000, "")
		nc.Write(p.Output())
		if r := waitEvent(t, host, EventClose, id, 5*time.Second); r.Code != 1000 {
			t.Fatalf("close event code %d", r.Code)
		}
	})
}

// A paused client connection (a goroutine connection) reads nothing until
// resumed: what a read under way when the pause came in brings waits
// unparsed, as on an epoll connection, which stops reading at once.
func TestPauseResumeClient(t *testing.T) {
	send := make(chan string)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := libws.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for m := range send {
			c.WriteText(m)
		}
		c.Close(1000, "")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	host := newTestHost()
	h, err := New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	defer h.Shutdown(time.Second)
	id, err := h.Connect("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	send <- "first"
	waitEvent(t, host, EventMessage, id, 5*time.Second)
	// The reader is blocked in a read now: what it brings waits.
	host.send(CmdPause, 0, 0, id, nil)
	for paused := false; !paused; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		g := h.goConns[id]
		h.mu.Unlock()
		g.mu.Lock()
		paused = g.s.paused
		g.mu.Unlock()
	}
	send <- "second"
	send <- "third"
	noEvent(t, host, EventMessage, 500*time.Millisecond)
	host.send(CmdResume, 0, 0, id, nil)
	for _, want := range []string{"second", "third"} {
		if r := waitEvent(t, host, EventMessage, id, 5*time.Second); string(r.Payload) != want {
			t.Fatalf("got %q, want %q", r.Payload, want)
		}
	}
	close(send)
	waitEvent(t, host, EventClose, id, 5*time.Second)
}

// NextRecord reads what a host wrote: whatever the bytes, it returns a
// record that lies within them or nothing, and never panics.
func FuzzNextRecord(f *testing.F) {
	f.Add(AppendRecord(nil, CmdSend, 1, 0, 1, 0, []byte("hello")))
	f.Add(AppendError(nil, 1002, EProto, 2, "bad"))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for rest := b; ; {
			r, next, ok := NextRecord(rest)
			if !ok {
				return
			}
			if len(r.Payload) > MaxRecordLen || len(next) >= len(rest) || len(rest)-len(next) != recordSize(len(r.Payload)) {
				t.Fatalf("record of %d bytes took %d of %d", len(r.Payload), len(rest)-len(next), len(rest))
			}
			rest = next
		}
	})
}

// Sendable follows the ordering rule: sends are written while the
// connection is open and after its close event until the host's
// acknowledgement, and not after; unknown ids are not sendable.
func TestSendable(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, port := newHostHub(t, o)
		if h.Sendable(12345) {
			t.Fatal("an id that never existed is sendable")
		}
		id, nc, p := openRaw(t, host, port, "/")
		if !h.Sendable(id) {
			t.Fatal("an open connection is not sendable")
		}
		p.WriteClose(1000, "")
		nc.Write(p.Output())
		waitEvent(t, host, EventClose, id, 5*time.Second)
		if !h.Sendable(id) {
			t.Fatal("not sendable between the close event and its acknowledgement")
		}
		host.next(50 * time.Millisecond) // acknowledges the close event
		for deadline := time.Now().Add(5 * time.Second); h.Sendable(id); {
			if time.Now().After(deadline) {
				t.Fatal("still sendable after the acknowledgement")
			}
			host.next(10 * time.Millisecond)
		}
	})
}

// A close the peer never answers ends at the close timeout with an error
// event (ETimedOut) and a close event (1006).
func TestCloseTimeoutStatus(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		o.CloseTimeout = 300 * time.Millisecond
		h, host, _ := newHostHub(t, o)
		_, port, err := h.Listen("127.0.0.1:0", &Options{CloseTimeout: o.CloseTimeout})
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := openRaw(t, host, port, "/")
		host.send(CmdClose, 0, 1000, id, nil)
		r := waitEvent(t, host, EventError, id, 5*time.Second)
		if r.Status != ETimedOut {
			t.Fatalf("error status %d %q", r.Status, r.Payload)
		}
		if r := waitEvent(t, host, EventClose, id, 5*time.Second); r.Code != 1006 {
			t.Fatalf("close code %d", r.Code)
		}
	})
}
