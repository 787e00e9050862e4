// Command gws is the lxzan/gws echo peer of the libws benchmark suite: it
// listens on 127.0.0.1:PORT and echoes every message with the opcode it
// came with. It uses gws's own server and event API with messages handled
// in order on the connection's read goroutine (ParallelEnabled false), the
// default read buffer, and compression off (libws is measured without it).
//
// Usage: gws PORT
package main

import (
	"log"
	"os"

	"github.com/lxzan/gws"
)

type handler struct {
	gws.BuiltinEventHandler
}

// OnPing answers with the ping's payload, as RFC 6455 asks (the built-in
// handler sends an empty pong).
func (handler) OnPing(socket *gws.Conn, payload []byte) {
	_ = socket.WritePong(payload)
}

func (handler) OnMessage(socket *gws.Conn, message *gws.Message) {
	// Close returns the message buffer to gws's pool once it is written.
	defer message.Close()
	_ = socket.WriteMessage(message.Opcode, message.Bytes())
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gws PORT")
	}
	srv := gws.NewServer(handler{}, &gws.ServerOption{
		ParallelEnabled:   false,
		PermessageDeflate: gws.PermessageDeflate{Enabled: false},
		// The suite sends messages above gws's 16 MiB default cap only by
		// mistake, but keep the peers' limits alike: effectively none.
		ReadMaxPayloadSize:  1 << 30,
		WriteMaxPayloadSize: 1 << 30,
	})
	log.Fatal(srv.Run("127.0.0.1:" + os.Args[1]))
}
