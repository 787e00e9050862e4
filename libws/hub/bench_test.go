package hub

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// benchHost keeps the last batch of events, for a benchmark that answers
// them itself after each turn.
type benchHost struct{ ev []byte }

func (b *benchHost) Publish(ev []byte) { b.ev = append(b.ev, ev...) }
func (b *benchHost) Commands() []byte  { return nil }

// BenchmarkInlineEcho is one echo of a small message through an inline
// hub: a read, a message event, a send command, a write.
func BenchmarkInlineEcho(b *testing.B) {
	host := &benchHost{}
	h, err := New(host, &Options{Inline: true})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Shutdown(0)
	_, port, err := h.Listen("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	head := make([]byte, 129)
	for len(host.ev) == 0 {
		h.Run(10 * time.Millisecond)
	}
	if _, err := io.ReadFull(nc, head); err != nil {
		b.Fatal(err)
	}
	host.ev = host.ev[:0]
	frame := maskedFrame(0x81, []byte("hello, echo"))
	reply := make([]byte, 2+len("hello, echo"))
	var cmd []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nc.Write(frame)
		for len(host.ev) == 0 {
			h.Run(-1)
		}
		cmd = cmd[:0]
		for rest := host.ev; ; {
			r, next, ok := NextRecord(rest)
			if !ok {
				break
			}
			rest = next
			cmd = AppendRecord(cmd, CmdSend, r.Opcode, 0, r.Conn, 0, r.Payload)
		}
		host.ev = host.ev[:0]
		h.Exec(cmd)
		if _, err := io.ReadFull(nc, reply); err != nil {
			b.Fatal(err)
		}
	}
}
