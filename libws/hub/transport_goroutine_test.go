//go:build (!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine

package hub

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// outCopied counts the bytes the epoll loop moves inside its send
// buffers (loop_poll.go). A goConn's writer takes its whole buffer at
// once and moves nothing, so with the goroutine transport the count stays
// 0 and TestSlowReaderDrainIsLinear checks only that the backlog drains.
var outCopied atomic.Int64

// shrinkSendBuffer sets the kernel send buffer of a server connection.
func shrinkSendBuffer(t *testing.T, h *Hub, id uint64, n int) {
	t.Helper()
	if err := tcpOf(t, h, id).SetWriteBuffer(n); err != nil {
		t.Fatal(err)
	}
}

// shrinkReceiveBuffer sets the kernel receive buffer of a server connection.
func shrinkReceiveBuffer(t *testing.T, h *Hub, id uint64, n int) {
	t.Helper()
	if err := tcpOf(t, h, id).SetReadBuffer(n); err != nil {
		t.Fatal(err)
	}
}

// tcpOf is the socket of a goroutine connection.
func tcpOf(t *testing.T, h *Hub, id uint64) *net.TCPConn {
	t.Helper()
	h.mu.Lock()
	g := h.goConns[id]
	h.mu.Unlock()
	if g == nil {
		t.Fatalf("no connection %d", id)
	}
	g.mu.Lock()
	nc := g.nc
	g.mu.Unlock()
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		t.Fatalf("connection %d is a %T, not a TCP connection", id, nc)
	}
	return tc
}

// notifyHost is an InlineHost whose NotifyFD is only handed back, never
// used: the goroutine loop does no I/O on it.
type notifyHost struct{ *testHost }

func (notifyHost) NotifyFD() int           { return 42 }
func (n notifyHost) PublishQuiet(b []byte) { n.Publish(b) }

// With the goroutine transport an inline hub's connections do not wait
// for Run: the handshake completes by itself, and a Run waiting with a
// long timeout returns as soon as the open event is published. PollFD is
// the host's NotifyFD, which Publish signals.
func TestGoroutineInlineRunWakesForEvents(t *testing.T) {
	host := notifyHost{newTestHost()}
	h, err := New(host, &Options{Inline: true})
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	defer h.Shutdown(time.Second)
	if fd := h.PollFD(); fd != 42 {
		t.Fatalf("PollFD is %d, want the host's NotifyFD 42", fd)
	}
	_, port, err := h.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Run also returns for other wake-ups (a new connection wakes the loop
	// for its timers), so it runs until the open event is in; no turn may
	// wait out its long timeout.
	done := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if h.Run(60 * time.Second) {
				done <- fmt.Errorf("Run reports a stop")
				return
			}
			host.mu.Lock()
			n := len(host.events)
			host.mu.Unlock()
			if n > 0 {
				done <- nil
				return
			}
		}
		done <- fmt.Errorf("no open event within 10 s")
	}()
	time.Sleep(20 * time.Millisecond) // let Run wait
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := libws.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return when the open event was published")
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if host.events[0].Kind != EventOpen {
		t.Fatalf("events %+v, want an open event first", host.events)
	}
}
