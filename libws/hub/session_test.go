package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"syscall"
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
