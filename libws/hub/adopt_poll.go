//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !hubgoroutine

package hub

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

var errAdoptFD = errors.New("hub: adopt: fd is not a connected stream socket")

// adopt registers a connected socket as if a listener had accepted it and
// feeds it the bytes the host read.
func (l *loop) adopt(fd int, pre []byte, o *Options) (uint64, error) {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_STREAM {
		return 0, errAdoptFD
	}
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return 0, errAdoptFD
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return 0, err
	}
	unix.CloseOnExec(fd)
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // fails harmlessly on a Unix socket
	var id uint64
	err = ErrClosed
	l.do(func() {
		if l.stopping || l.stopped {
			return
		}
		if err = l.poll.add(fd, true, false); err != nil {
			return
		}
		c := &conn{fd: fd, peer: sockaddrString(sa), armedIn: true} // registered for input above
		c.id = l.h.newID()
		id = c.id
		now := time.Now()
		c.start(now, o)
		l.register(c)
		if len(pre) > 0 {
			l.handshake(c, pre) // copies pre
		}
		l.armTimer() // its handshake deadline
		if len(l.ev) > 0 {
			// Outside an iteration: the host may be waiting on its fd.
			l.h.host.Publish(l.ev)
			l.ev = l.ev[:0]
		}
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}
