package hub

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// A peer that sends without reading its echoes is pushed back by TCP: the
// hub stops reading it while its unsent echoes are above the high-water
// mark, instead of buffering them up to MaxBuffered and failing it with
// 1008 (or, across many such peers, holding gigabytes).
func TestNonReadingEchoPeerIsPushedBack(t *testing.T) {
	const highWater = 64 << 10
	const maxBuffered = 8 << 20
	eachMode(t, func(t *testing.T, o Options) {
		host := newTestHost()
		h, err := New(host, &o)
		if err != nil {
			t.Fatal(err)
		}
		host.hub = h
		t.Cleanup(func() { h.Shutdown(time.Second) })
		_, port, err := h.Listen("127.0.0.1:0", &Options{HighWater: highWater, MaxBuffered: maxBuffered})
		if err != nil {
			t.Fatal(err)
		}
		id, nc, p := openRaw(t, host, port, "/")
		// Small kernel buffers on both sides, so that what the peer manages
		// to send is what the hub took, not what loopback can hold.
		nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
		nc.(*net.TCPConn).SetReadBuffer(16 << 10)
		shrinkReceiveBuffer(t, h, id, 16<<10)
		shrinkSendBuffer(t, h, id, 16<<10)
		frame, err := p.AppendFrame(nil, true, libws.OpBinary, make([]byte, 16<<10))
		if err != nil {
			t.Fatal(err)
		}
		// The stream is the frame over and over; a write cut short by its
		// deadline goes on where it stopped.
		var sent atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for sent.Load() < 2*maxBuffered {
				select {
				case <-stop:
					return
				default:
				}
				nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				off := int(sent.Load() % int64(len(frame)))
				n, err := nc.Write(frame[off:])
				sent.Add(int64(n))
				if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
					return
				}
			}
		}()
		until := time.Now().Add(2 * time.Second)
		for time.Now().Before(until) {
			r, ok := host.next(50 * time.Millisecond)
			if !ok || r.Conn != id {
				continue
			}
			switch r.Kind {
			case EventMessage:
				host.send(CmdSend, r.Opcode, 0, id, r.Payload)
			case EventError, EventClose:
				t.Fatalf("the connection failed instead of being pushed back: kind %d code %d %q (peer sent %d bytes)", r.Kind, r.Code, r.Payload, sent.Load())
			}
		}
		close(stop)
		<-done
		if n := sent.Load(); n >= maxBuffered {
			t.Fatalf("the peer sent %d bytes without reading: the hub kept reading", n)
		}
		// An inline host echoes each turn's messages before the next read,
		// so what is buffered stays near the mark. A threaded hub keeps
		// reading until the host's late echoes push it over the mark: how
		// far depends on the host's lag, which a loaded machine stretches.
		bound := int64(4 * highWater)
		if !o.Inline {
			bound = 32 * highWater
		}
		if b := h.BufferedAmount(id); b > bound {
			t.Fatalf("%d bytes buffered for a peer that does not read (high-water mark %d)", b, highWater)
		}
	})
}

// A hub client sending faster than its hub server echoes, both above their
// high-water marks, still gets every echo: only the server side stops
// reading while backed up, so the two cannot wait on each other.
func TestBackedUpClientAndServerDoNotDeadlock(t *testing.T) {
	_, port, _ := startEcho(t, &Options{HighWater: 64 << 10})
	h, host := newClientHub(t)
	id, err := h.Connect(fmt.Sprintf("ws://127.0.0.1:%d/", port), &Options{HighWater: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	const count = 400
	msg := make([]byte, 64<<10)
	for i := 0; i < count; i++ {
		host.send(CmdSend, uint8(libws.OpBinary), 0, id, msg)
	}
	for got := 0; got < count; got++ {
		waitEvent(t, host, EventMessage, id, 10*time.Second)
	}
}

// A threaded hub's loop reads nothing while its host holds more than
// hostBacklogMax bytes of untaken events, as goroutine readers wait
// (TestReaderWaitsForASlowHost); an inline hub reads only while its host
// polls. Either way a host that falls behind holds a bounded amount of
// input, and every message still arrives, in order.
func TestLoopWaitsForASlowHost(t *testing.T) {
	const count, size = 200, 64 << 10 // 12.5 MiB, far more than the socket buffers hold
	eachMode(t, func(t *testing.T, o Options) {
		_, host, port := newHostHub(t, o)
		peerDone := make(chan struct{})
		defer close(peerDone)
		go func() { // an inline hub answers the handshake in waitEvent
			nc, _, err := rawUpgrade(port, "/")
			if err != nil {
				return
			}
			defer nc.Close()
			nc.SetDeadline(time.Time{})
			defer func() { <-peerDone }()
			payload := make([]byte, size)
			for i := 0; i < count; i++ {
				binary.BigEndian.PutUint32(payload, uint32(i))
				if _, err := nc.Write(maskedFrame(0x82, payload)); err != nil {
					return
				}
			}
		}()
		waitEvent(t, host, EventOpen, 0, 5*time.Second)
		time.Sleep(time.Second) // the host takes nothing meanwhile
		if held, limit := host.Backlog(), hostBacklogMax+readBig+size+2*recordHeader; held > limit {
			t.Fatalf("the host holds %d bytes of events, over %d", held, limit)
		}
		for i := 0; i < count; i++ {
			r := waitEvent(t, host, EventMessage, 0, 5*time.Second)
			if len(r.Payload) != size || binary.BigEndian.Uint32(r.Payload) != uint32(i) {
				t.Fatalf("message %d: %d bytes, number %d", i, len(r.Payload), binary.BigEndian.Uint32(r.Payload))
			}
		}
	})
}
