package hub

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// A backlog of many MiB drained by a reader that takes 4 KiB at a time:
// the send buffer moves O(bytes), not O(bytes²/write size).
func TestSlowReaderDrainIsLinear(t *testing.T) {
	h, host, port := newHostHub(t, Options{})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return nil
	}}
	dialed := make(chan net.Conn, 1)
	go func() {
		nc, err := d.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			dialed <- nil
			return
		}
		fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		dialed <- nc
	}()
	id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	nc := <-dialed
	if nc == nil {
		t.Fatal("dial failed")
	}
	defer nc.Close()
	const msg, count = 1 << 20, 16
	before := outCopied.Load()
	for i := 0; i < count; i++ {
		host.send(CmdSend, uint8(libws.OpBinary), 0, id, bytes.Repeat([]byte{byte(i)}, msg))
	}
	nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 4096)
	total := 0
	want := count*(msg+10) + 129 // frames and the 101 response
	for total < want-200 {
		n, err := nc.Read(buf)
		if err != nil && err != io.EOF {
			t.Fatalf("after %d bytes: %v", total, err)
		}
		total += n
		if total%(256<<10) < 4096 {
			h.Wake() // the test host's loop runs by itself; nothing to drive
		}
	}
	if copied := outCopied.Load() - before; copied > 2*count*msg {
		t.Fatalf("draining %d MiB moved %d MiB inside the send buffer", count*msg>>20, copied>>20)
	}
}

// At the descriptor limit the listener stays readable while accept fails:
// the loop rests instead of spinning, and accepts once descriptors are free.
func TestAcceptAtFDLimitBacksOff(t *testing.T) {
	h, port := newInlineHub(t)
	defer h.Shutdown(0)
	var clients []net.Conn
	for i := 0; i < 3; i++ {
		nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		clients = append(clients, nc)
	}
	restore := exhaustFDs(t, 0)
	var before, after uint64
	h.loop.do(func() { before = h.loop.turns })
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); {
		h.Run(10 * time.Millisecond)
	}
	h.loop.do(func() { after = h.loop.turns })
	restore()
	// Waiting 10 ms a turn, a resting loop turns about 50 times in 500 ms;
	// a spinning one, thousands.
	if after-before > 200 {
		t.Fatalf("the loop turned %d times in 500 ms at the descriptor limit", after-before)
	}
	for _, nc := range clients {
		fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	}
	host := h.host.(*testHost)
	for range clients {
		waitEvent(t, host, EventOpen, 0, 5*time.Second)
	}
}
