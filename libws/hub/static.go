package hub

import (
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/libws/libws/libws"
)

func isUpgrade(r *libws.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Upgrade")), "websocket")
}

// staticResponse answers a plain HTTP request from dir. It serves small
// pages (the demo's), read whole; it is not a general file server.
func staticResponse(dir string, r *libws.Request) []byte {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return plainResponse(http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("method not allowed\n"), false)
	}
	p := r.RequestURI
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	// path.Clean of a rooted path cannot climb above the root.
	p = path.Clean("/" + p)
	if strings.HasSuffix(p, "/") {
		p += "index.html"
	}
	name := filepath.Join(dir, filepath.FromSlash(p))
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		name = filepath.Join(name, "index.html")
	}
	body, err := os.ReadFile(name)
	if err != nil {
		return plainResponse(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found\n"), false)
	}
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(body)
	}
	return plainResponse(http.StatusOK, ctype, body, r.Method == http.MethodHead)
}

func plainResponse(status int, ctype string, body []byte, head bool) []byte {
	b := []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: " + ctype + "\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
	if head {
		return b
	}
	return append(b, body...)
}
