package hub

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
