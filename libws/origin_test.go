package libws_test

// Origin checks as gorilla/websocket makes them: the same requests go to a
// gorilla Upgrader and to libws, and must get the same answers.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/libws/libws/libws"
)

func TestUpgradeOriginLikeGorilla(t *testing.T) {
	// Each server answers one upgrade and closes.
	gorillaServer := func(t *testing.T, allowAll bool) string {
		up := websocket.Upgrader{}
		if allowAll {
			up.CheckOrigin = func(*http.Request) bool { return true }
		}
		return startOriginHTTP(t, func(w http.ResponseWriter, r *http.Request) {
			if c, err := up.Upgrade(w, r, nil); err == nil {
				c.Close()
			}
		})
	}
	libwsServer := func(t *testing.T, allowAll bool) string {
		o := &libws.UpgradeOptions{AllowAnyOrigin: allowAll}
		if !allowAll {
			o = nil // the defaults a new user gets
		}
		return startOriginHTTP(t, func(w http.ResponseWriter, r *http.Request) {
			if c, err := libws.Upgrade(w, r, o); err == nil {
				c.CloseNow()
			}
		})
	}
	libwsConnServer := func(t *testing.T, allowAll bool) string {
		return startServer(t, &libws.UpgradeOptions{AllowAnyOrigin: allowAll}, func(*libws.Conn) error { return nil }).addr
	}
	servers := []struct {
		name  string
		start func(t *testing.T, allowAll bool) string
	}{
		{"gorilla Upgrader", gorillaServer},
		{"libws Upgrade", libwsServer},
		{"libws UpgradeConn", libwsConnServer},
	}
	const host = "chat.example:8080"
	cases := []struct {
		name   string
		origin []string // Origin header values; none: no header
		want   int      // by default
		anyOK  bool     // accepted when every origin is allowed
	}{
		{"no Origin", nil, 101, true},
		{"same origin", []string{"http://chat.example:8080"}, 101, true},
		{"same host, other scheme and case", []string{"https://CHAT.Example:8080"}, 101, true},
		{"same origin with a path", []string{"http://chat.example:8080/app"}, 101, true},
		{"other site", []string{"http://evil.example"}, 403, true},
		{"same name, other port", []string{"http://chat.example"}, 403, true},
		{"null", []string{"null"}, 403, true},
		{"empty", []string{""}, 403, true},
		{"first of two decides", []string{"http://evil.example", "http://chat.example:8080"}, 403, true},
	}
	for _, policy := range []string{"default", "allow all"} {
		allowAll := policy == "allow all"
		addrs := make([]string, len(servers))
		for i, s := range servers {
			addrs[i] = s.start(t, allowAll)
		}
		for _, tc := range cases {
			want := tc.want
			if allowAll && tc.anyOK {
				want = 101
			}
			t.Run(policy+"/"+tc.name, func(t *testing.T) {
				for i, s := range servers {
					if got := upgradeStatus(t, addrs[i], host, tc.origin); got != want {
						t.Errorf("%s answered %d, want %d", s.name, got, want)
					}
				}
			})
		}
	}
}

// TestCheckOriginOverridesAllowAnyOrigin: an explicit CheckOrigin decides
// even with AllowAnyOrigin set, so a caller adding a check (the hub with
// an origin list) is never overruled.
func TestCheckOriginOverridesAllowAnyOrigin(t *testing.T) {
	o := &libws.UpgradeOptions{AllowAnyOrigin: true, CheckOrigin: func(origin string, _ http.Header) bool { return origin == "https://good.example" }}
	for origin, want := range map[string]int{"https://good.example": 101, "https://evil.example": 403} {
		req, _, err := libws.ParseRequest([]byte(upgradeRequest("Origin: " + origin + "\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = req.Accept(o)
		var he *libws.HandshakeError
		switch {
		case want == 101 && err != nil:
			t.Errorf("%s: %v, want accepted", origin, err)
		case want == 403 && (!errors.As(err, &he) || he.Status != 403):
			t.Errorf("%s: %v, want 403", origin, err)
		}
	}
}

func startOriginHTTP(t *testing.T, h http.HandlerFunc) string {
	var wg sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		h(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		wg.Wait()
	})
	return srv.Listener.Addr().String()
}

// upgradeStatus sends an upgrade request for host with the given Origin
// headers to addr and returns the response's status.
func upgradeStatus(t *testing.T, addr, host string, origins []string) int {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET /chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", host, rfcKey)
	for _, o := range origins {
		fmt.Fprintf(&b, "Origin: %s\r\n", o)
	}
	b.WriteString("\r\n")
	if _, err := nc.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
