//go:build ((!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine) && unix

package hub

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// A host that queues commands and writes an 8-byte count to WakeFD, as
// the C library does, wakes the goroutine loop: the queued send goes out.
func TestGoroutineWakeFD(t *testing.T) {
	host := newTestHost()
	h, err := New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	defer h.Shutdown(time.Second)
	_, port, err := h.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := libws.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	host.mu.Lock()
	host.cmds = AppendRecord(host.cmds, CmdSend, uint8(libws.OpText), 0, id, 0, []byte("woken"))
	host.mu.Unlock()
	one := [8]byte{1}
	if _, err := syscall.Write(h.WakeFD(), one[:]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := c.ReadMessage()
	if err != nil || string(got) != "woken" {
		t.Fatalf("got %q, %v", got, err)
	}
}
