// Command gorilla is the gorilla/websocket peer of the benchmark's fan-out
// scenario (loadgen -fanout), written as gorilla's own chat example is: a
// hub goroutine keeps the clients and relays each text message a client
// sends to all of them (the sender too), each client has a buffered send
// channel drained by its write goroutine (a client whose channel is full is
// dropped, as in the example). The message is framed once per broadcast
// with a PreparedMessage rather than once per client (and, with
// FANOUT_DEFLATE=1, compressed once per set of compression parameters).
//
// Usage: gorilla PORT
package main

import (
	"compress/flate"
	"log"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	CheckOrigin:     func(*http.Request) bool { return true },
}

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type hub struct {
	clients    map[*client]bool
	broadcast  chan []byte
	register   chan *client
	unregister chan *client
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if h.clients[c] {
				delete(h.clients, c)
				close(c.send)
			}
		case msg := <-h.broadcast:
			pm, err := websocket.NewPreparedMessage(websocket.TextMessage, msg)
			if err != nil {
				log.Print(err)
				continue
			}
			for c := range h.clients {
				select {
				case c.send <- pm:
				default:
					delete(h.clients, c)
					close(c.send)
				}
			}
		}
	}
}

func (c *client) writePump() {
	defer c.conn.Close()
	for pm := range c.send {
		if err := c.conn.WritePreparedMessage(pm); err != nil {
			return
		}
	}
	c.conn.WriteMessage(websocket.CloseMessage, []byte{})
}

func (c *client) readPump(h *hub) {
	defer func() {
		h.unregister <- c
		c.conn.Close()
	}()
	for {
		mt, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if mt == websocket.TextMessage {
			h.broadcast <- msg
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: gorilla PORT")
	}
	h := &hub{
		clients:    make(map[*client]bool),
		broadcast:  make(chan []byte),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
	if os.Getenv("FANOUT_DEFLATE") != "" {
		upgrader.EnableCompression = true
	}
	go h.run()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		// The chat example's buffer (256 messages).
		conn.SetCompressionLevel(flate.BestSpeed)
		c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, 256)}
		h.register <- c
		go c.writePump()
		go c.readPump(h)
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Args[1], nil))
}
