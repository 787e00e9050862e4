package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// eachMode runs a test on a hub with a loop goroutine and on an inline
// hub driven by its host.
func eachMode(t *testing.T, test func(t *testing.T, o Options)) {
	for _, inline := range []bool{false, true} {
		name := "goroutine"
		if inline {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) { test(t, Options{Inline: inline}) })
	}
}

// startEcho runs a hub whose host echoes every message, until the test ends.
func startEcho(t *testing.T, opts *Options) (*Hub, int, chan Record) {
	t.Helper()
	host := newTestHost()
	h, err := New(host, opts)
	if err != nil {
		t.Fatal(err)
	}
	host.hub = h
	_, port, err := h.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan Record, 100000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, ok := host.next(50 * time.Millisecond)
			if !ok {
				continue
			}
			if r.Kind == EventMessage {
				host.send(CmdSend, r.Opcode, 0, r.Conn, r.Payload)
			}
			select {
			case seen <- r:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		h.Shutdown(2 * time.Second)
		checkNoneBuffered(t, h)
		close(stop)
		<-done
	})
	return h, port, seen
}

func TestHubEcho(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		_, port, seen := startEcho(t, &o)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := libws.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/chat?x=1", port), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20} {
			msg := bytes.Repeat([]byte{byte(size)}, size)
			if err := c.WriteMessage(libws.OpBinary, msg); err != nil {
				t.Fatal(err)
			}
			op, got, err := c.ReadMessage()
			if err != nil || op != libws.OpBinary || !bytes.Equal(got, msg) {
				t.Fatalf("size %d: op %v err %v equal %v", size, op, err, bytes.Equal(got, msg))
			}
		}
		if err := c.WriteText("héllo"); err != nil {
			t.Fatal(err)
		}
		if op, got, err := c.ReadMessage(); err != nil || op != libws.OpText || string(got) != "héllo" {
			t.Fatalf("text echo: %v %q %v", op, got, err)
		}
		c.Close(4000, "bye")
		var open, closed bool
		for !closed {
			select {
			case r := <-seen:
				switch r.Kind {
				case EventOpen:
					f, err := OpenFields(r.Payload)
					if err != nil || f[OpenTarget] != "/chat?x=1" {
						t.Errorf("open target %q %v", f[OpenTarget], err)
					}
					open = true
				case EventClose:
					if r.Code != 4000 || string(r.Payload) != "bye" {
						t.Errorf("close event %d %q", r.Code, r.Payload)
					}
					closed = true
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no close event")
			}
		}
		if !open {
			t.Error("no open event")
		}
	})
}

func TestHubInvalidUTF8Closes1007(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		_, port, _ := startEcho(t, &o)
		nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		buf := make([]byte, 4096)
		n, _ := nc.Read(buf)
		if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) {
			t.Fatalf("handshake: %q", buf[:n])
		}
		// Masked text frame with zero key carrying an invalid byte.
		nc.Write([]byte{0x81, 0x82, 0, 0, 0, 0, 'a', 0xFF})
		n, _ = nc.Read(buf)
		if n < 4 || buf[0] != 0x88 || int(buf[2])<<8|int(buf[3]) != 1007 {
			t.Fatalf("want close 1007, got % x", buf[:n])
		}
	})
}

func TestHubStaticFiles(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		dir := t.TempDir()
		page := bytes.Repeat([]byte("<p>demo</p>\n"), 50000) // larger than a socket buffer
		if err := os.WriteFile(filepath.Join(dir, "index.html"), page, 0o644); err != nil {
			t.Fatal(err)
		}
		o.StaticDir = dir
		_, port, _ := startEcho(t, &o)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		for _, tc := range []struct {
			path   string
			status int
			body   []byte
		}{
			{"/", 200, page},
			{"/index.html?x=1", 200, page},
			{"/../../etc/passwd", 404, nil},
			{"/missing.js", 404, nil},
		} {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.body != nil && !bytes.Equal(body, tc.body)) {
				t.Errorf("%s: status %d, %d bytes", tc.path, resp.StatusCode, len(body))
			}
			if tc.status == 200 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("%s: content type %q", tc.path, resp.Header.Get("Content-Type"))
			}
		}
		// The same port still upgrades WebSockets.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := libws.Dial(ctx, fmt.Sprintf("ws://127.0.0.1:%d/", port), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.WriteText("x")
		if _, got, err := c.ReadMessage(); err != nil || string(got) != "x" {
			t.Fatalf("echo after static: %q %v", got, err)
		}
		c.Close(1000, "")
	})
}

func TestHubStaticRefusesSpecialFiles(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "a b.txt"), []byte("spaced"), 0o644)
		os.WriteFile(filepath.Join(dir, ".secret"), []byte("hidden"), 0o644)
		if err := mkfifo(t, filepath.Join(dir, "pipe")); err != nil {
			t.Fatal(err)
		}
		os.Symlink("/etc/hostname", filepath.Join(dir, "escape"))
		o.StaticDir = dir
		_, port, _ := startEcho(t, &o)
		client := &http.Client{Timeout: 5 * time.Second}
		for _, tc := range []struct {
			path   string
			status int
			body   string
		}{
			{"/a%20b.txt", 200, "spaced"},
			{"/pipe", 404, ""},
			{"/.secret", 404, ""},
			{"/escape", 404, ""},
		} {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, tc.path))
			if err != nil {
				t.Fatalf("%s: %v", tc.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
				t.Errorf("%s: %d %q", tc.path, resp.StatusCode, body)
			}
		}
		// The loop still serves after all of that.
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/a%%20b.txt", port))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("loop stalled: %v", err)
		}
		resp.Body.Close()
	})
}

// A message and the close frame in one write: the host's reply to the
// message must reach the peer before the close reply, which echoes the
// code and the reason.
func TestHubReplyBeforeCloseReply(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		_, port, _ := startEcho(t, &o)
		for i := 0; i < 20; i++ {
			nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			nc.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			br := make([]byte, 4096)
			n, _ := nc.Read(br)
			if !bytes.HasPrefix(br[:n], []byte("HTTP/1.1 101")) {
				t.Fatalf("handshake: %q", br[:n])
			}
			p := libws.NewProtocol(libws.RoleClient, nil)
			p.WriteMessage(libws.OpText, []byte("last words"))
			p.WriteClose(4001, "bye")
			nc.Write(p.Output())
			p.Sent(len(p.Output()))
			var got []libws.Frame
			for len(got) < 2 {
				n, err := nc.Read(br)
				if err != nil {
					break
				}
				p.Feed(br[:n])
				for {
					f, ok, err := p.NextFrame()
					if err != nil || !ok {
						break
					}
					f.Payload = append([]byte(nil), f.Payload...)
					got = append(got, f)
				}
			}
			nc.Close()
			if len(got) != 2 || got[0].OpCode != libws.OpText || string(got[0].Payload) != "last words" || got[1].OpCode != libws.OpClose {
				t.Fatalf("round %d: got %d frames %+v", i, len(got), got)
			}
			if code, reason, _ := p.CloseStatus(); code != 4001 || reason != "bye" {
				t.Fatalf("close reply %d %q", code, reason)
			}
		}
	})
}

// checkNoneBuffered asserts that a hub that has shut down counts no unsent
// bytes: the hub-wide total follows every connection's buffer, and a
// drift would make the cap fail connections that hold nothing.
func checkNoneBuffered(t *testing.T, h *Hub) {
	t.Helper()
	// Goroutine connections finish their accounting as they end.
	for deadline := time.Now().Add(2 * time.Second); h.total.Load() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.total.Load(); n != 0 {
		t.Errorf("the hub still counts %d buffered bytes after shutdown", n)
	}
}
