// Command go-echo-tls is examples/go (go-echo, the libws Go engine's echo
// server) serving wss:// for the bench suite's TLS section: the same
// handler, under http.ListenAndServeTLS with the PEM files named by
// BENCH_TLS_CERT and BENCH_TLS_KEY. go-echo PORT takes no TLS options.
//
// Usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem go-echo-tls PORT
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/libws/libws/libws"
)

func main() {
	if len(os.Args) != 2 || os.Getenv("BENCH_TLS_CERT") == "" || os.Getenv("BENCH_TLS_KEY") == "" {
		log.Fatal("usage: BENCH_TLS_CERT=cert.pem BENCH_TLS_KEY=key.pem go-echo-tls PORT")
	}
	// As go-echo: compression accepted when offered (the suite offers none).
	opts := &libws.UpgradeOptions{Compression: &libws.CompressionOptions{}}
	log.Fatal(http.ListenAndServeTLS("127.0.0.1:"+os.Args[1], os.Getenv("BENCH_TLS_CERT"), os.Getenv("BENCH_TLS_KEY"),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
