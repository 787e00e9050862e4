// Command gws is the lxzan/gws peer of the benchmark's fan-out scenario
// (loadgen -fanout): it keeps its connections in a set and relays each
// text message a connection sends to all of them (the sender too) through
// a gws.Broadcaster, which frames the message once for all of them, as
// gws' documentation recommends for broadcasting. Compression off, unless
// FANOUT_DEFLATE=1 (level 1, no context takeover).
//
// Usage: gws PORT
package main

import (
	"log"
	"net"
	"os"
	"sync"

	"github.com/lxzan/gws"
)

type handler struct {
	gws.BuiltinEventHandler
	mu    sync.Mutex
	conns map[*gws.Conn]struct{}
}

func (h *handler) OnOpen(socket *gws.Conn) {
	h.mu.Lock()
	h.conns[socket] = struct{}{}
	h.mu.Unlock()
}

func (h *handler) OnClose(socket *gws.Conn, err error) {
	h.mu.Lock()
	delete(h.conns, socket)
	h.mu.Unlock()
}

func (h *handler) OnPing(socket *gws.Conn, payload []byte) {
	_ = socket.WritePong(payload)
}

func (h *handler) OnMessage(socket *gws.Conn, message *gws.Message) {
	defer message.Close()
	if message.Opcode != gws.OpcodeText {
		return
	}
	b := gws.NewBroadcaster(gws.OpcodeText, message.Bytes())
	h.mu.Lock()
	for c := range h.conns {
		_ = b.Broadcast(c)
	}
	h.mu.Unlock()
	_ = b.Close()
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gws PORT")
	}
	h := &handler{conns: make(map[*gws.Conn]struct{})}
	srv := gws.NewServer(h, &gws.ServerOption{
		ParallelEnabled: false,
		PermessageDeflate: gws.PermessageDeflate{
			Enabled:               os.Getenv("FANOUT_DEFLATE") != "",
			Level:                 1,
			ServerContextTakeover: false,
			ClientContextTakeover: false,
		},
		ReadMaxPayloadSize:  1 << 30,
		WriteMaxPayloadSize: 1 << 30,
	})
	// The suite checks that the port listens by connecting and closing
	// without a request: not an error worth a log line each time.
	srv.OnError = func(net.Conn, error) {}
	log.Fatal(srv.Run("127.0.0.1:" + os.Args[1]))
}
