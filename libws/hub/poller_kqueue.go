//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"time"

	"golang.org/x/sys/unix"
)

// poller is kqueue, with the methods of the epoll poller (poller_epoll.go).
// kqueue watches read and write readiness as two filters; a filter that
// is not wanted is kept registered but disabled, so that mod only flips it.
// Level-triggered (no EV_CLEAR), as the loop expects.
type poller struct{ kq int }

// pollEvent is the readiness of one descriptor; hup reports the peer's
// end or an error, which a read then finds.
type pollEvent struct {
	fd          int
	read, write bool
	hup         bool
}

func newPoller() (*poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(kq)
	return &poller{kq: kq}, nil
}

// fd is the kqueue descriptor: it is readable (poll, select, kqueue)
// while events are pending.
func (p *poller) fd() int { return p.kq }

func (p *poller) change(fd int, read, write bool) error {
	flag := func(on bool) uint16 {
		if on {
			return unix.EV_ADD | unix.EV_ENABLE
		}
		return unix.EV_ADD | unix.EV_DISABLE
	}
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, int(flag(read)))
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, int(flag(write)))
	_, err := unix.Kevent(p.kq, ch[:], nil, nil)
	return err
}

func (p *poller) add(fd int, read, write bool) error { return p.change(fd, read, write) }

func (p *poller) mod(fd int, read, write bool) error { return p.change(fd, read, write) }

// del stops watching fd; closing it would too, but the loop may keep the
// descriptor (a hand-off) and must not see it again.
func (p *poller) del(fd int) error {
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	_, err := unix.Kevent(p.kq, ch[:], nil, nil)
	return err
}

// wait waits up to timeout ms (-1: no limit) and fills evs: one event per
// ready filter, so a descriptor ready both ways comes twice.
func (p *poller) wait(evs []pollEvent, timeout int) (int, error) {
	var raw [64]unix.Kevent_t
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(time.Duration(timeout) * time.Millisecond))
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, raw[:min(len(evs), len(raw))], ts)
	if err != nil {
		return 0, err
	}
	for i, e := range raw[:n] {
		evs[i] = pollEvent{
			fd:    int(e.Ident),
			read:  e.Filter == unix.EVFILT_READ,
			write: e.Filter == unix.EVFILT_WRITE,
			hup:   e.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0,
		}
	}
	return n, nil
}

func (p *poller) close() error { return unix.Close(p.kq) }
