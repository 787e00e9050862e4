// Command go-echo is a WebSocket echo server on the libws engine: go-echo PORT.
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/libws/libws/libws"
)

func main() {
	opts := &libws.UpgradeOptions{Compression: &libws.CompressionOptions{}}
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := libws.Upgrade(w, r, opts)
		for err == nil {
			var op libws.Opcode
			var msg []byte
			if op, msg, err = ws.ReadMessage(); err == nil {
				err = ws.WriteMessage(op, msg)
			}
		}
	})))
}
