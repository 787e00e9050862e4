package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// readFrames reads frames from nc until want frames or a close frame came.
func readFrames(t *testing.T, nc net.Conn, p *libws.Protocol, want int) []libws.Frame {
	t.Helper()
	var got []libws.Frame
	buf := make([]byte, 64<<10)
	for len(got) < want {
		f, ok, err := p.NextFrame()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		if ok {
			f.Payload = append([]byte(nil), f.Payload...)
			got = append(got, f)
			if f.OpCode == libws.OpClose {
				break
			}
			continue
		}
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		p.Feed(buf[:n])
	}
	return got
}

// maskedFrame encodes a client frame with a zero mask key (payload as is).
func maskedFrame(b0 byte, payload []byte) []byte {
	h := libws.Header{Fin: b0&0x80 != 0, Rsv: b0 & 0x70 >> 4, OpCode: libws.Opcode(b0 & 0x0f), Masked: true, Length: int64(len(payload))}
	var hb [14]byte
	n, err := libws.PutHeader(hb[:], &h)
	if err != nil {
		panic(err)
	}
	return append(hb[:n:n], payload...)
}

// A violation right behind valid messages in one read: the host's replies
// to those messages reach the peer before the close frame that reports
// the violation, as for a peer's close.
func TestViolationAfterMessagesRepliesFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  []byte
		code libws.StatusCode
	}{
		{"reserved bits", maskedFrame(0x81|0x40, []byte("x")), 1002},
		{"reserved opcode", maskedFrame(0x83, nil), 1002},
		{"unexpected continuation", maskedFrame(0x80, []byte("x")), 1002},
		{"invalid utf-8", maskedFrame(0x81, []byte{'a', 0xff}), 1007},
		{"too big", maskedFrame(0x82, make([]byte, 2000)), 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachMode(t, func(t *testing.T, o Options) {
				o.MaxMessageSize = 1000
				_, port, seen := startEcho(t, &o)
				nc, p, err := rawUpgrade(port, "/")
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				in := append(maskedFrame(0x81, []byte("one")), maskedFrame(0x81, []byte("two"))...)
				nc.Write(append(in, tc.bad...))
				got := readFrames(t, nc, p, 3)
				if len(got) != 3 || string(got[0].Payload) != "one" || string(got[1].Payload) != "two" || got[2].OpCode != libws.OpClose {
					t.Fatalf("got %d frames: %+v", len(got), got)
				}
				if code, _, _ := p.CloseStatus(); code != tc.code {
					t.Fatalf("close code %d, want %d", code, tc.code)
				}
				for deadline := time.After(5 * time.Second); ; {
					select {
					case r := <-seen:
						if r.Kind != EventError {
							continue
						}
						if r.Code != uint16(tc.code) || r.Status != closeStatus(uint16(tc.code)) {
							t.Fatalf("error event code %d status %d", r.Code, r.Status)
						}
						return
					case <-deadline:
						t.Fatal("no error event")
					}
				}
			})
		})
	}
}

// A frame longer than a record can carry fails with 1009 as soon as its
// header arrives, whatever the configured limit.
func TestMessageLimitHeldUnderRecordLen(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		o.MaxMessageSize = 1 << 40
		_, port, seen := startEcho(t, &o)
		nc, p, err := rawUpgrade(port, "/")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(hdr[2:], MaxRecordLen+1)
		nc.Write(hdr)
		nc.Write(make([]byte, 4096))
		got := readFrames(t, nc, p, 1)
		if code, _, _ := p.CloseStatus(); len(got) != 1 || code != 1009 {
			t.Fatalf("got %+v, close %d", got, code)
		}
		for deadline := time.After(5 * time.Second); ; {
			select {
			case r := <-seen:
				if r.Kind == EventError {
					if r.Code != 1009 || r.Status != ETooBig {
						t.Fatalf("error event code %d status %d", r.Code, r.Status)
					}
					return
				}
			case <-deadline:
				t.Fatal("no error event")
			}
		}
	})
}

// newClientHub is a hub for client connections only.
func newClientHub(t *testing.T) (*Hub, *testHost) {
	t.Helper()
	host := newTestHost()
	h, err := New(host, nil)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	t.Cleanup(func() { h.Shutdown(time.Second); checkNoneBuffered(t, h) })
	return h, host
}

// A hub client (a goroutine connection) gets the same idle timeout as an
// epoll connection: failed with 1008 and status ETimedOut.
func TestClientIdleTimeout(t *testing.T) {
	_, port, _ := startEcho(t, &Options{})
	h, host := newClientHub(t)
	id, err := h.Connect(fmt.Sprintf("ws://127.0.0.1:%d/", port), &Options{IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	r := waitEvent(t, host, EventError, id, 5*time.Second)
	if r.Code != 1008 || r.Status != ETimedOut {
		t.Fatalf("error event code %d status %d %q", r.Code, r.Status, r.Payload)
	}
	waitEvent(t, host, EventClose, id, 5*time.Second)
}

// stuckServer accepts one WebSocket connection and never reads from it.
func stuckServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		t.Cleanup(func() { nc.Close() })
		nc.(*net.TCPConn).SetReadBuffer(4096)
		var req []byte
		b := make([]byte, 1)
		for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
			if _, err := nc.Read(b); err != nil {
				return
			}
			req = append(req, b[0])
		}
		r, _, err := libws.ParseRequest(req)
		if err != nil || r == nil {
			return
		}
		resp, _, err := r.Accept(nil)
		if err != nil {
			return
		}
		nc.Write(resp)
	}()
	return "ws://" + ln.Addr().String() + "/"
}

// MaxBuffered fails a goroutine connection with 1008 and status EPolicy,
// as it does an epoll connection, instead of dropping it silently.
func TestClientMaxBufferedFails1008(t *testing.T) {
	h, host := newClientHub(t)
	id, err := h.Connect(stuckServer(t), &Options{HighWater: 64 << 10, MaxBuffered: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, id, 5*time.Second)
	chunk := make([]byte, 256<<10)
	for i := 0; i < 64; i++ {
		host.send(CmdSend, uint8(libws.OpBinary), 0, id, chunk)
	}
	r := waitEvent(t, host, EventError, id, 10*time.Second)
	if r.Code != 1008 || r.Status != EPolicy {
		t.Fatalf("error event code %d status %d %q", r.Code, r.Status, r.Payload)
	}
	waitEvent(t, host, EventClose, id, 5*time.Second)
	if n := h.total.Load(); n != 0 {
		t.Fatalf("hub still counts %d buffered bytes of a closed connection", n)
	}
}

// Past MaxTotalBuffered the connections with the largest buffers fail
// with 1008 (EPolicy) until the hub's total is under the cap; the others
// keep their buffers.
func TestHubWideBufferCap(t *testing.T) {
	const mib = 1 << 20
	h, host, port := newHostHub(t, Options{MaxTotalBuffered: 8 * mib})
	var ids []uint64
	for i := 0; i < 3; i++ {
		id, nc, _ := openRaw(t, host, port, "/")
		nc.(*net.TCPConn).SetReadBuffer(4096)
		ids = append(ids, id)
		// The kernel takes almost nothing from the hub: what is sent stays
		// in the hub's buffers, where the cap applies.
		shrinkSendBuffer(t, h, id, 4096)
	}
	chunk := make([]byte, 256<<10)
	var events []Record
	for i, mibs := range []int{6, 4, 1} {
		for j := 0; j < mibs*4; j++ {
			host.send(CmdSend, uint8(libws.OpBinary), 0, ids[i], chunk)
		}
		events = append(events, collect(host, 200*time.Millisecond)...)
	}
	events = append(events, collect(host, 300*time.Millisecond)...)
	var errs []Record
	for _, r := range events {
		if r.Kind == EventError {
			errs = append(errs, r)
		}
	}
	if len(errs) != 1 || errs[0].Conn != ids[0] || errs[0].Code != 1008 || errs[0].Status != EPolicy {
		t.Fatalf("want one 1008/EPolicy error for conn %d, got %+v", ids[0], errs)
	}
	if h.BufferedAmount(ids[0]) != -1 {
		t.Fatal("the largest buffer's connection is still there")
	}
	if b, c := h.BufferedAmount(ids[1]), h.BufferedAmount(ids[2]); b < 3*mib || c < mib/2 {
		t.Fatalf("the others lost their buffers: %d, %d", b, c)
	}
	if n := h.total.Load(); n > 8*mib {
		t.Fatalf("total %d over the cap", n)
	}
}

// collect takes the events that arrive within d.
func collect(host *testHost, d time.Duration) []Record {
	var rs []Record
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if r, ok := host.next(time.Until(deadline)); ok {
			rs = append(rs, r)
		}
	}
	return rs
}
