//go:build linux

package hub

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libws/libws/libws"
)

func newInlineHub(t *testing.T) (*Hub, int) {
	t.Helper()
	host := newTestHost()
	h, err := New(host, &Options{Inline: true})
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	_, port, err := h.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

// pollFD waits for fd to be readable; the host of an inline hub relies on
// that to know when to run it.
func pollFD(t *testing.T, fd int, d time.Duration) bool {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, int(d/time.Millisecond))
	if err != nil && err != unix.EINTR {
		t.Fatal(err)
	}
	return n > 0
}

// An inline hub does nothing by itself: its PollFD tells the host when
// there is work, and Run does it on the host's goroutine.
func TestInlineHubRunsOnlyInRun(t *testing.T) {
	if goroutineTransport {
		t.Skip("goroutine transport: connections are served by goroutines, not by Run (see TestGoroutineInlineRunWakesForEvents)")
	}
	h, port := newInlineHub(t)
	defer h.Shutdown(time.Second)
	if pollFD(t, h.PollFD(), 50*time.Millisecond) {
		t.Fatal("PollFD readable with nothing to do")
	}
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	buf := make([]byte, 4096)
	nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := nc.Read(buf); n > 0 {
		t.Fatalf("answered without Run: %q", buf[:n])
	}
	if !pollFD(t, h.PollFD(), 5*time.Second) {
		t.Fatal("PollFD not readable with a connection waiting")
	}
	for i := 0; i < 10; i++ { // accept, then the request
		h.Run(0)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := nc.Read(buf)
	if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake: %q", buf[:n])
	}
}

// Shutdown ends an inline hub even while another goroutine waits in Run
// without a timeout, and that Run reports the stop.
func TestInlineShutdownWakesRun(t *testing.T) {
	h, _ := newInlineHub(t)
	stopped := make(chan struct{})
	go func() {
		for !h.Run(-1) {
		}
		close(stopped)
	}()
	time.Sleep(20 * time.Millisecond) // let it block
	done := make(chan struct{})
	go func() { h.Shutdown(time.Second); close(done) }()
	for _, c := range []chan struct{}{done, stopped} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("shutdown of an inline hub hangs")
		}
	}
	if !h.Run(0) {
		t.Error("Run after shutdown does not report the stop")
	}
}

// directHost is a DirectHost over testHost: it takes events in place only
// when none are queued, as the C host does, and can be told to refuse.
type directHost struct {
	*testHost
	notify int
	refuse bool
}

func (d *directHost) NotifyFD() int         { return d.notify }
func (d *directHost) PublishQuiet(b []byte) { d.Publish(b) }
func (d *directHost) TakeInPlace() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.refuse && len(d.events) == 0
}

// RunInto writes events into the host's buffer as far as they fit and
// publishes the rest after them; a host that refuses gets them all
// published. Either way they arrive in order.
func TestRunIntoKeepsOrder(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("refuse=%v", refuse), func(t *testing.T) {
			efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(efd)
			host := &directHost{testHost: newTestHost(), notify: efd, refuse: refuse}
			h, err := New(host, &Options{Inline: true})
			if err != nil {
				t.Fatal(err)
			}
			host.hub = h
			defer h.Shutdown(time.Second)
			_, port, err := h.Listen("127.0.0.1:0", nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []Record
			// take runs one turn into a buffer of size bytes and collects the
			// events: first those left in the buffer, then those published.
			take := func(size int) (inPlace int) {
				dst := make([]byte, size)
				n, _ := h.RunInto(10*time.Millisecond, dst)
				for b := dst[:n]; len(b) > 0; {
					r, rest, ok := NextRecord(b)
					if !ok {
						t.Fatalf("partial record in the %d bytes taken in place", n)
					}
					got, b = append(got, r), rest
				}
				host.mu.Lock()
				got = append(got, host.events...)
				host.events = nil
				host.mu.Unlock()
				return n
			}
			c := dialInline(t, port, func() { take(4096) })
			if c == nil {
				return
			}
			defer func() {
				h.Shutdown(0) // an inline hub answers a close only when run
				c.Close(1000, "")
			}()
			// Sizes vary so that a message may fit in what a bigger one before
			// it left of the buffer: it must still come after that one.
			message := func(i int) string { return fmt.Sprintf("message %02d %s", i, strings.Repeat("x", i%3*20)) }
			const count = 10
			for i := 0; i < count; i++ {
				if err := c.WriteText(message(i)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(50 * time.Millisecond) // all of them in one read
			inPlace := 0
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				inPlace += take(recordSize(len(message(0))) + recordSize(len(message(1))) + recordSize(len(message(3))))
				if n := len(got); n > 0 && got[n-1].Kind == EventMessage && bytes.HasPrefix(got[n-1].Payload, []byte(fmt.Sprintf("message %02d", count-1))) {
					break
				}
			}
			var msgs []string
			for _, r := range got {
				if r.Kind == EventMessage {
					msgs = append(msgs, string(r.Payload))
				}
			}
			if len(msgs) != count {
				t.Fatalf("got %d messages: %q", len(msgs), msgs)
			}
			for i, m := range msgs {
				if want := message(i); m != want {
					t.Errorf("message %d is %q, want %q", i, m, want)
				}
			}
			if refuse && inPlace != 0 {
				t.Errorf("%d bytes taken in place by a host that refuses", inPlace)
			}
			if !refuse && inPlace == 0 && !goroutineTransport { // its connections publish their own events
				t.Error("nothing taken in place")
			}
		})
	}
}

// ExecRefs sends the bytes deref finds for a by-reference send, in batch
// order with the inline records around it; Exec, which has no deref,
// leaves such a record alone.
func TestExecRefsSendsWhatDerefNames(t *testing.T) {
	h, port := newInlineHub(t)
	defer h.Shutdown(0)
	c := dialInline(t, port, func() { h.Run(10 * time.Millisecond) })
	if c == nil {
		return
	}
	defer c.CloseNow()
	id := waitOpen(t, h)
	stored := map[byte][]byte{1: []byte("by reference")}
	deref := func(ref []byte) []byte { return stored[ref[0]] }
	ref := []byte{1}
	h.Exec(AppendRecord(nil, CmdSendRef, uint8(libws.OpText), 0, id, 0, ref)) // no deref: not sent
	var batch []byte
	batch = AppendRecord(batch, CmdSend, uint8(libws.OpText), 0, id, 0, []byte("before"))
	batch = AppendRecord(batch, CmdSendRef, uint8(libws.OpText), 0, id, 0, ref)
	batch = AppendRecord(batch, CmdSend, uint8(libws.OpText), 0, id, 0, []byte("after"))
	h.ExecRefs(batch, deref)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"before", "by reference", "after"} {
		_, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// dialInline dials an inline hub's port from a goroutine while turn runs
// the hub (nothing else does, so the handshake needs it), and returns the
// client, or nil if the dial failed (reported).
func dialInline(t *testing.T, port int, turn func()) *libws.Conn {
	t.Helper()
	dialed := make(chan *libws.Conn, 1)
	go func() {
		c, _, err := libws.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/", port), nil)
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	for {
		select {
		case c := <-dialed:
			return c
		default:
			turn()
		}
	}
}

// waitOpen runs an inline hub until a connection's open event is out and
// returns the connection's id.
func waitOpen(t *testing.T, h *Hub) uint64 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		h.Run(10 * time.Millisecond)
		host := h.host.(*testHost)
		host.mu.Lock()
		for _, r := range host.events {
			if r.Kind == EventOpen {
				host.mu.Unlock()
				return r.Conn
			}
		}
		host.mu.Unlock()
	}
	t.Fatal("no open event")
	return 0
}

// Consecutive small sends of one batch to one connection leave in one
// write: on loopback, where each write of a few bytes under TCP_NODELAY is
// a segment of its own, the peer counts one data segment for them. A close
// behind them in a batch still comes after them.
func TestBatchedSendsToOneConnectionLeaveInOneWrite(t *testing.T) {
	h, port := newInlineHub(t)
	defer h.Shutdown(0)
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	id := waitOpen(t, h)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	dataSegments := func() uint32 {
		raw, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var info *unix.TCPInfo
		raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
		if err != nil {
			t.Fatal(err)
		}
		return info.Data_segs_in
	}
	expect := func(want []byte) {
		t.Helper()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(br, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got % x, want % x", got, want)
		}
	}
	text := func(m string) []byte { return append([]byte{0x81, byte(len(m))}, m...) }

	before := dataSegments()
	var batch []byte
	for _, m := range []string{"one", "two", "three"} {
		batch = AppendRecord(batch, CmdSend, uint8(libws.OpText), 0, id, 0, []byte(m))
	}
	h.Exec(batch)
	expect(slices.Concat(text("one"), text("two"), text("three")))
	if n := dataSegments() - before; n != 1 {
		t.Fatalf("three sends of one batch came in %d segments, want 1", n)
	}

	batch = AppendRecord(nil, CmdSend, uint8(libws.OpText), 0, id, 0, []byte("four"))
	batch = AppendRecord(batch, CmdClose, 0, 1000, id, 0, []byte("bye"))
	h.Exec(batch)
	expect(slices.Concat(text("four"), []byte{0x88, 5, 0x03, 0xE8}, []byte("bye")))
}
