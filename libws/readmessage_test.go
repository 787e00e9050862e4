package libws_test

// ReadMessage as gorilla/websocket users rely on it: the same program, one
// that keeps every message it reads, runs against gorilla and libws and
// must find its messages intact with both.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/libws/libws/libws"
)

// keptMessage is message i of a parity run: distinct content and a length
// that varies, so a payload overwritten by a later one shows.
func keptMessage(i, base, step int) []byte {
	n := base + (i*step)%(base+301)
	b := make([]byte, n)
	for j := range b {
		b[j] = 'a' + byte((i+j)%26)
	}
	copy(b, fmt.Sprintf("%06d:", i))
	return b
}

// keepAll reads until an error and keeps every payload read returns, as a
// program collecting messages would.
func keepAll(read func() ([]byte, error)) ([][]byte, error) {
	var kept [][]byte
	for {
		p, err := read()
		if err != nil {
			return kept, err
		}
		kept = append(kept, p)
	}
}

func TestReadMessageKeepsPayloadsLikeGorilla(t *testing.T) {
	type client struct {
		name string
		// dial connects to url and returns the program's read call.
		dial func(t *testing.T, url string, compress bool) func() ([]byte, error)
		// closed reports whether err is the server's normal close.
		closed func(err error) bool
	}
	clients := []client{
		{"gorilla", func(t *testing.T, url string, compress bool) func() ([]byte, error) {
			d := websocket.Dialer{EnableCompression: compress, HandshakeTimeout: testTimeout}
			c, _, err := d.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			c.SetReadDeadline(time.Now().Add(testTimeout))
			c.SetReadLimit(-1)
			return func() ([]byte, error) { _, p, err := c.ReadMessage(); return p, err }
		}, func(err error) bool { return websocket.IsCloseError(err, websocket.CloseNormalClosure) }},
		{"libws", func(t *testing.T, url string, compress bool) func() ([]byte, error) {
			c := dialParity(t, url, compress)
			return func() ([]byte, error) { _, p, err := c.ReadMessage(); return p, err }
		}, func(err error) bool {
			var ce *libws.CloseError
			return errors.As(err, &ce) && ce.Code == libws.StatusNormalClosure
		}},
	}
	cases := []struct {
		name       string
		n          int
		base, step int
		fragments  int
		compress   bool
	}{
		{"small", 2000, 16, 37, 1, false},
		{"fragmented", 500, 16, 37, 3, false},
		{"larger than the read buffer", 40, 20 << 10, 4099, 1, false},
		{"compressed", 500, 16, 37, 1, true},
	}
	for _, tc := range cases {
		url := parityServer(t, tc.n, tc.base, tc.step, tc.fragments, tc.compress)
		for _, cl := range clients {
			t.Run(tc.name+"/"+cl.name, func(t *testing.T) {
				kept, err := keepAll(cl.dial(t, url, tc.compress))
				if !cl.closed(err) {
					t.Fatalf("reading ended with %v, want the server's 1000", err)
				}
				if len(kept) != tc.n {
					t.Fatalf("%d messages, want %d", len(kept), tc.n)
				}
				if bad := corrupted(kept, tc.base, tc.step); bad != 0 {
					t.Fatalf("%d of %d kept messages no longer hold what was received", bad, tc.n)
				}
			})
		}
	}
	// The program does detect reuse: payloads kept from the borrowing call
	// are overwritten by later messages. The client reads through a
	// buffer of its own: a pooled one would be overwritten by other
	// goroutines too, which the race detector reports.
	t.Run("small/libws borrowed", func(t *testing.T) {
		c := dialParity(t, parityServer(t, 2000, 16, 37, 1, false), false, 4096)
		kept, _ := keepAll(func() ([]byte, error) { _, p, err := c.ReadMessageBorrowed(); return p, err })
		if len(kept) != 2000 || corrupted(kept, 16, 37) == 0 {
			t.Fatalf("%d messages, none overwritten: the check cannot see reuse", len(kept))
		}
	})
}

func dialParity(t *testing.T, url string, compress bool, readBufferSize ...int) *libws.Conn {
	t.Helper()
	o := &libws.DialOptions{}
	if len(readBufferSize) > 0 {
		o.ReadBufferSize = readBufferSize[0]
	}
	if compress {
		o.Compression = &libws.CompressionOptions{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c, _, err := libws.Dial(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	c.SetReadDeadline(time.Now().Add(testTimeout))
	return c
}

func corrupted(kept [][]byte, base, step int) int {
	bad := 0
	for i, p := range kept {
		if !bytes.Equal(p, keptMessage(i, base, step)) {
			bad++
		}
	}
	return bad
}

// parityServer sends n messages, each in the given number of fragments,
// to every client, then closes with 1000.
func parityServer(t *testing.T, n, base, step, fragments int, compress bool) string {
	var o libws.UpgradeOptions
	if compress {
		o.Compression = &libws.CompressionOptions{}
	}
	s := startServer(t, &o, func(c *libws.Conn) error {
		for i := range n {
			m := keptMessage(i, base, step)
			if fragments == 1 {
				if err := c.WriteMessage(libws.OpBinary, m); err != nil {
					return err
				}
				continue
			}
			op, size := libws.OpBinary, len(m)/fragments+1
			for len(m) > 0 {
				k := min(size, len(m))
				if err := c.WriteFrame(k == len(m), op, m[:k]); err != nil {
					return err
				}
				op, m = libws.OpContinuation, m[k:]
			}
		}
		return c.Close(libws.StatusNormalClosure, "")
	})
	return "ws://" + s.addr + "/"
}
