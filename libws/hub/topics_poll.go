//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !hubgoroutine

package hub

import (
	"golang.org/x/sys/unix"

	"github.com/libws/libws/libws"
)

// publishLocal delivers a message to the subscribers of tp on this hub
// but exclude (runMu held). The socket loop's connections get references to the
// shared frame, written when the batch ends (flushPublished).
func (l *loop) publishLocal(tp *topic, op libws.Opcode, data []byte, exclude uint64) {
	if tp == nil {
		return
	}
	p := &prepared{op: op, payload: data}
	t := &l.h.topics
	for _, m := range tp.members {
		if m.id == exclude {
			continue
		}
		if m.g != nil {
			m.g.deliverGo(p)
			continue
		}
		c := m.c
		if c == nil || c.fd < 0 || !c.publishable() {
			continue
		}
		level, threshold, shareable := c.p.SharedCompression()
		if shareable {
			hdr, body := p.frame(level, threshold)
			m.pend = append(m.pend, hdr)
			if len(body) > 0 {
				m.pend = append(m.pend, body)
			}
		} else {
			// Context takeover: this connection's compressor encodes it,
			// in the order the frames go out (nothing else is written
			// to it before its pending frames, see topicCommand).
			f, err := c.p.AppendFrame(nil, true, op, data)
			if err != nil {
				continue
			}
			m.pend = append(m.pend, f)
		}
		if !m.dirty {
			m.dirty = true
			t.dirty = append(t.dirty, m)
		}
	}
	if !l.batching {
		l.flushPublished()
	}
}

// flushPublished writes the frames published during a batch, one writev
// per connection (runMu held).
func (l *loop) flushPublished() {
	t := &l.h.topics
	for i, m := range t.dirty {
		if len(m.pend) > 0 {
			l.flushMember(m)
		}
		m.dirty = false
		t.dirty[i] = nil
	}
	t.dirty = t.dirty[:0]
}

// iovMax is the most buffers one writev takes (IOV_MAX on Linux, macOS
// and the BSDs).
const iovMax = 1024

// flushMember writes a connection's published frames: straight to the
// socket while nothing is buffered, the rest queued as any send is (so
// backpressure and the limits apply).
func (l *loop) flushMember(m *member) {
	all := m.pend
	parts := all
	defer func() {
		clear(all)
		if cap(all) > iovMax {
			m.pend = nil
		} else {
			m.pend = all[:0]
		}
	}()
	c := m.c
	if c == nil || c.fd < 0 {
		return
	}
	for c.outLen() == 0 && len(parts) > 0 {
		chunk := parts[:min(len(parts), iovMax)]
		want := 0
		for _, b := range chunk {
			want += len(b)
		}
		n, err := l.writevN(c.fd, chunk)
		if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			l.remove(c, c.hostKnows(), uint16(libws.StatusAbnormalClosure), "")
			return
		}
		n = max(n, 0)
		left := n
		for len(parts) > 0 && left >= len(parts[0]) {
			left -= len(parts[0])
			parts = parts[1:]
		}
		if left > 0 {
			parts[0] = parts[0][left:]
		}
		if n < want {
			break // the socket is full: the rest is queued
		}
	}
	for _, b := range parts {
		l.write(c, b)
		if c.fd < 0 {
			return
		}
	}
}

// writevN is writev(2) of bufs (at most iovMax) on a nonblocking fd.
func (l *loop) writevN(fd int, bufs [][]byte) (int, error) {
	return sysWritevN(fd, &l.h.topics.iov, bufs)
}

// leaveTopics is the socket loop's hook where a connection ends for
// the host (finish) or goes (remove).
func (l *loop) leaveTopics(id uint64) {
	if len(l.h.topics.byConn) > 0 {
		l.h.topics.leaveAll(id)
	}
}
