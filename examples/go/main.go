// Command go-echo is a WebSocket echo server written with the libws engine.
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/libws/libws/libws"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ws, err := libws.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		for {
			op, msg, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(op, msg) != nil {
				return
			}
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], nil))
}
