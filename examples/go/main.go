// Command go-echo is a WebSocket echo server on the libws engine:
//
//	go-echo [-origin ORIGIN]... PORT
//
// Like gorilla, the engine refuses a browser's upgrade from another origin
// (cross-site WebSocket hijacking); each -origin is accepted as well ("*":
// any, for tests driven from about:blank pages).
package main

import (
	"flag"
	"log"
	"net/http"
	"slices"
	"time"

	"github.com/libws/libws/libws"
)

func main() {
	var origins []string
	flag.Func("origin", "also accept upgrades from this Origin (\"*\": any)", func(o string) error {
		origins = append(origins, o)
		return nil
	})
	flag.Parse()
	allowOrigins(origins)
	srv := newServer("127.0.0.1:"+flag.Arg(0), 10*time.Second)
	log.Fatal(srv.ListenAndServe())
}

// newServer is the whole server. handshakeTimeout drops a client that
// does not finish its request (slowloris) or, with TLS, its ClientHello;
// IdleTimeout ends idle keep-alive HTTP connections. An upgraded
// connection leaves both behind.
func newServer(addr string, handshakeTimeout time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           http.HandlerFunc(echo),
		ReadHeaderTimeout: handshakeTimeout,
		IdleTimeout:       60 * time.Second,
	}
}

var opts = &libws.UpgradeOptions{Compression: &libws.CompressionOptions{}}

// allowOrigins accepts the listed origins (and, as before, clients that
// send none: they are no browser).
func allowOrigins(origins []string) {
	if slices.Contains(origins, "*") {
		opts.AllowAnyOrigin = true
	} else if len(origins) > 0 {
		opts.CheckOrigin = func(origin string, h http.Header) bool {
			return origin == "" || slices.Contains(origins, origin)
		}
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	ws, err := libws.Upgrade(w, r, opts)
	if err != nil {
		return // Upgrade answered with the HTTP error
	}
	// The socket is served on a goroutine of its own and the handler
	// returns: net/http then frees what it kept for the request (about
	// 3 KiB), which it would hold for the socket's life.
	go serveSocket(ws)
}

func serveSocket(ws *libws.Conn) {
	// The socket goes back to the system as soon as the loop ends,
	// whatever ended it, not when the collector finds it.
	defer ws.CloseNow()
	for {
		// Borrowed: msg is only valid until the next read, and is
		// written back before it; ReadMessage would copy it.
		op, msg, err := ws.ReadMessageBorrowed()
		if err != nil {
			return
		}
		if err := ws.WriteMessage(op, msg); err != nil {
			return
		}
	}
}
