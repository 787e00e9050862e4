package hub

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/libws/libws/libws"
)

// TestOriginPermissiveByDefault: the hub, behind the C ABI and the
// bindings, keeps the default of ws and websockets (every Origin passes
// while CheckOrigin is nil), although libws.Upgrade refuses cross-origin
// requests by default; on the event loop and on TLS listeners alike, and a
// CheckOrigin still refuses.
func TestOriginPermissiveByDefault(t *testing.T) {
	tmp := httptest.NewUnstartedServer(nil)
	tmp.StartTLS()
	serverTLS := tmp.TLS.Clone()
	clientTLS := tmp.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tmp.Close()
	onlyGood := func(origin string, _ http.Header) bool { return origin == "" || origin == "https://good.example" }
	cases := []struct {
		name   string
		opts   Options
		scheme string
	}{
		{"loop", Options{}, "ws"},
		{"inline", Options{Inline: true}, "ws"},
		{"tls", Options{TLS: serverTLS}, "wss"},
	}
	for _, tc := range cases {
		for _, checked := range []bool{false, true} {
			name := tc.name + "/no CheckOrigin"
			if checked {
				name = tc.name + "/CheckOrigin"
			}
			t.Run(name, func(t *testing.T) {
				o := tc.opts
				if checked {
					o.CheckOrigin = onlyGood
				}
				_, port, _ := startEcho(t, &o)
				url := fmt.Sprintf("%s://127.0.0.1:%d/", tc.scheme, port)
				for origin, refused := range map[string]bool{"https://evil.example": checked, "https://good.example": false, "": false} {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					h := http.Header{}
					if origin != "" {
						h.Set("Origin", origin)
					}
					c, _, err := libws.Dial(ctx, url, &libws.DialOptions{Header: h, TLSConfig: clientTLS})
					cancel()
					var he *libws.HandshakeError
					switch {
					case refused && (!errors.As(err, &he) || he.Status != 403):
						t.Errorf("Origin %q: %v, want 403", origin, err)
					case !refused && err != nil:
						t.Errorf("Origin %q: %v, want accepted", origin, err)
					}
					if c != nil {
						c.CloseNow()
					}
				}
			})
		}
	}
}
