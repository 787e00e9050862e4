// Command gobwas is the gobwas/ws echo peer of the libws benchmark suite:
// it listens on 127.0.0.1:PORT and echoes every message with the opcode it
// came with, with one goroutine per connection using wsutil's streaming
// Reader and Writer. gobwas negotiates no extension unless asked to, so
// there is no compression (libws is measured without it).
//
// Usage: gobwas PORT
package main

import (
	"bufio"
	"io"
	"log"
	"net"
	"os"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func serve(conn net.Conn) {
	defer conn.Close()
	// ws.Upgrade reads exactly the request; the client sends no frame
	// before our 101 response, so nothing is lost by not sharing buffers.
	if _, err := ws.Upgrade(conn); err != nil {
		return
	}
	const state = ws.StateServerSide
	// Buffered reads: without them each frame costs a read syscall for the
	// 2-byte header, another for the extended length/mask, and one for the
	// payload.
	control := wsutil.ControlFrameHandler(conn, state)
	rd := &wsutil.Reader{
		Source:         bufio.NewReaderSize(conn, 4096),
		State:          state,
		OnIntermediate: control,
	}
	wr := wsutil.NewWriter(conn, state, ws.OpBinary)
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			// Answers pings and the close handshake (then errors out).
			if err := control(h, rd); err != nil {
				return
			}
			continue
		}
		wr.ResetOp(h.OpCode)
		// Grow the buffer to the whole unfragmented message so that it is
		// echoed as one frame, like it came, instead of 4 KiB fragments.
		if h.Fin && h.Length > int64(wr.Available()) {
			wr.Grow(int(h.Length))
		}
		if _, err := io.Copy(wr, rd); err != nil { // Writer.ReadFrom: no extra copy
			return
		}
		if err := wr.Flush(); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gobwas PORT")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			// Out of file descriptors and the like: back off and retry
			// rather than drop every established connection.
			log.Print(err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go serve(conn)
	}
}
