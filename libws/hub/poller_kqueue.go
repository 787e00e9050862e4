//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package hub

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is kqueue, with the methods of the epoll poller (poller_epoll.go).
// kqueue watches read and write readiness as two filters; a filter that
// is not wanted is kept registered but disabled, so that mod only flips it
// (the write filter is registered by the first mod that names it).
// Level-triggered (no EV_CLEAR), as the loop expects. Unlike epoll, which
// reports a hang-up or an error even to a descriptor watched for nothing,
// a disabled filter reports nothing: a paused connection whose peer is gone
// is found when it is resumed or written to.
type poller struct{ kq int }

// pollEvent is kqueue's own event, read in place: one per ready filter, so
// a descriptor ready both ways comes twice.
type pollEvent unix.Kevent_t

// ident is the descriptor the event is for (for a tick, tickID).
func (e *pollEvent) ident() int { return int(e.Ident) }

// readable: input or the peer's end (EV_EOF), which a read then finds.
func (e *pollEvent) readable() bool { return e.Filter == unix.EVFILT_READ }

func (e *pollEvent) writable() bool { return e.Filter == unix.EVFILT_WRITE }

// hup reports the peer's end or an error.
func (e *pollEvent) hup() bool { return e.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0 }

func newPoller() (*poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(kq)
	return &poller{kq: kq}, nil
}

// fd is the kqueue descriptor: it is readable (poll, select, kqueue)
// while events are pending, ticks included.
func (p *poller) fd() int { return p.kq }

// change sets the read filter, then the write filter unless both is false
// (add: a descriptor that is only read, as wake-up pipes and listeners
// are, never gets one). The read filter comes first: a change that fails,
// with no event list to report it in, ends the call there.
func (p *poller) change(fd int, read, write, both bool) error {
	flag := func(on bool) int {
		if on {
			return unix.EV_ADD | unix.EV_ENABLE
		}
		return unix.EV_ADD | unix.EV_DISABLE
	}
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, flag(read))
	n := 1
	if write || both {
		unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, flag(write))
		n = 2
	}
	_, err := unix.Kevent(p.kq, ch[:n], nil, nil)
	return err
}

// add watches fd for the readiness asked for (none: registered, silent).
func (p *poller) add(fd int, read, write bool) error { return p.change(fd, read, write, false) }

// mod changes what fd is watched for.
func (p *poller) mod(fd int, read, write bool) error { return p.change(fd, read, write, true) }

// del stops watching fd; closing it would too, but the loop may keep the
// descriptor (a hand-off) and must not see it again. A write filter that
// was never registered is not an error.
func (p *poller) del(fd int) error {
	var ch [2]unix.Kevent_t
	unix.SetKevent(&ch[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&ch[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	if _, err := unix.Kevent(p.kq, ch[:], nil, nil); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// wait waits up to timeout ms (-1: no limit) and fills evs.
func (p *poller) wait(evs []pollEvent, timeout int) (int, error) {
	var ts unix.Timespec
	tp := &ts
	if timeout < 0 {
		tp = nil
	} else if timeout > 0 {
		ts = unix.NsecToTimespec(int64(time.Duration(timeout) * time.Millisecond))
	}
	return unix.Kevent(p.kq, nil, unsafe.Slice((*unix.Kevent_t)(&evs[0]), len(evs)), tp)
}

// tickID is the ident of the events that report a tick (see setTick): the
// kqueue's own descriptor, which no other event can name.
func (p *poller) tickID() int { return p.kq }

// setTick has wait report a tick every period (an EVFILT_TIMER, in
// milliseconds), or stops it (0).
func (p *poller) setTick(every time.Duration) error {
	var ch [1]unix.Kevent_t
	if every > 0 {
		unix.SetKevent(&ch[0], p.kq, unix.EVFILT_TIMER, unix.EV_ADD|unix.EV_ENABLE)
		ch[0].Data = int64(every / time.Millisecond)
	} else {
		unix.SetKevent(&ch[0], p.kq, unix.EVFILT_TIMER, unix.EV_DELETE)
	}
	_, err := unix.Kevent(p.kq, ch[:], nil, nil)
	return err
}

// ackTick: a timer event is consumed by the wait that reports it.
func (p *poller) ackTick() {}

func (p *poller) close() error { return unix.Close(p.kq) }

// newWaker makes the descriptor hosts write an 8-byte count to after
// queueing commands (Hub.WakeFD) and the one the loop watches for it: the
// two ends of a nonblocking pipe (there is no eventfd here; EVFILT_USER
// has no descriptor for a host to write to).
func newWaker() (r, w int, err error) {
	var p [2]int
	syscall.ForkLock.RLock() // no exec between pipe and close-on-exec
	err = unix.Pipe(p[:])
	if err == nil {
		unix.CloseOnExec(p[0])
		unix.CloseOnExec(p[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, -1, err
	}
	for _, fd := range p {
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return -1, -1, err
		}
	}
	return p[0], p[1], nil
}

// drainWake consumes the wake-ups written so far: until a read comes
// short, the pipe is empty (a full pipe already held a wake-up).
func drainWake(r int) {
	var buf [256]byte
	for {
		if n, _ := unix.Read(r, buf[:]); n < len(buf) {
			return
		}
	}
}

// closeWaker closes what newWaker made.
func closeWaker(r, w int) {
	if r >= 0 {
		unix.Close(r)
		unix.Close(w)
	}
}

// acceptConn accepts a connection, nonblocking and close-on-exec: with
// Accept and two more calls, as not every one of these systems has accept4
// (FreeBSD and DragonFly do; a connection accepted costs two calls more).
func acceptConn(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}
