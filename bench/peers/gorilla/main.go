// Command gorilla is the gorilla/websocket echo peer of the libws benchmark
// suite: it listens on 127.0.0.1:PORT and echoes every message on path /
// with the opcode it came with. Compression is off (libws is measured
// without it).
//
// Usage: gorilla PORT
package main

import (
	"io"
	"log"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	// gorilla's defaults (4 KiB each), spelled out for the record.
	ReadBufferSize:    4096,
	WriteBufferSize:   4096,
	EnableCompression: false,
	// The load generator sends no Origin; accept any.
	CheckOrigin: func(*http.Request) bool { return true },
}

func echo(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has already answered with an HTTP error
	}
	defer c.Close()
	// No read limit: messages of any size the suite sends are echoed.
	for {
		// Streaming the message from NextReader into NextWriter copies it
		// through gorilla's own buffers (its writer implements ReaderFrom),
		// without allocating a []byte per message as ReadMessage would.
		mt, rd, err := c.NextReader()
		if err != nil {
			return // includes the peer's close, already answered by gorilla
		}
		wr, err := c.NextWriter(mt)
		if err != nil {
			return
		}
		if _, err := io.Copy(wr, rd); err != nil {
			return
		}
		if err := wr.Close(); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gorilla PORT")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", echo)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], mux))
}
