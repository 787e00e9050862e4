//go:build (!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine

package hub

import (
	"errors"
	"net"
)

var errAdoptFD = errors.New("hub: adopt: fd is not a connected stream socket")

// adopt serves a connected socket the host accepted as a goroutine
// connection, as one of a listener's, fed first with the bytes the host
// read (pre, copied). On success the hub owns fd; on an error it is still
// the caller's.
func (l *loop) adopt(fd int, pre []byte, o *Options) (uint64, error) {
	nc, err := fileConn(fd) // a descriptor of its own: fd is closed on success
	if err != nil {
		return 0, err
	}
	h := l.h
	h.mu.Lock()
	if h.shutdown {
		h.mu.Unlock()
		nc.Close()
		return 0, ErrClosed
	}
	g := newGoConn(h, h.newID(), 0, o)
	h.goWG.Add(1)
	h.mu.Unlock()
	closeFD(fd)
	go g.accept(&prefixed{Conn: nc, pre: append([]byte(nil), pre...)})
	return g.id(), nil
}

// prefixed is a connection whose first reads return bytes read before.
type prefixed struct {
	net.Conn
	pre []byte
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// latency: no connection is the loop's own (see Hub.Latency).
func (l *loop) latency(uint64) (int64, bool) { return 0, false }
