package hub

import (
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libws/libws/libws"
)

func isUpgrade(r *libws.Request) bool {
	return strings.Contains(strings.ToLower(r.Header.Get("Upgrade")), "websocket")
}

// maxStaticFile bounds what the static server reads into memory.
const maxStaticFile = 16 << 20

// serveStatic answers a plain HTTP request from dir on its own goroutine:
// file I/O must never stall the event loop. It serves the demo's small
// pages; it is not a general file server.
func serveStatic(nc net.Conn, dir string, r *libws.Request) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	nc.Write(staticResponse(dir, r))
}

func staticResponse(dir string, r *libws.Request) []byte {
	notFound := plainResponse(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found\n"), false)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return plainResponse(http.StatusMethodNotAllowed, "text/plain; charset=utf-8", []byte("method not allowed\n"), false)
	}
	p := r.RequestURI
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p, err := url.PathUnescape(p)
	if err != nil {
		return notFound
	}
	p = path.Clean("/" + p)
	if strings.HasSuffix(p, "/") {
		p += "index.html"
	}
	for _, seg := range strings.Split(p, "/") {
		if strings.HasPrefix(seg, ".") {
			return notFound // dotfiles stay private
		}
	}
	// os.Root confines every lookup, symlinks included, to dir.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return notFound
	}
	defer root.Close()
	name := strings.TrimPrefix(p, "/")
	if st, err := root.Stat(name); err == nil && st.IsDir() {
		name = path.Join(name, "index.html")
	}
	// Only regular files: a FIFO or a device would block or never end.
	// O_NONBLOCK keeps even the open of a FIFO from waiting for a writer.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return notFound
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxStaticFile {
		return notFound
	}
	body, err := io.ReadAll(io.LimitReader(f, maxStaticFile))
	if err != nil {
		return notFound
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
