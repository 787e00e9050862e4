//go:build linux

package hub

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is the readiness interface of the socket loop (loop_poll.go),
// level-triggered: epoll here, kqueue on macOS and the BSDs
// (poller_kqueue.go), with the same methods, so that one loop runs on
// both. It also carries the loop's periodic tick (a timerfd here), so
// that a host waiting on fd() alone wakes for it.
type poller struct {
	epfd    int
	timerfd int
}

// pollEvent is epoll's own event, read in place (no copy per event).
type pollEvent unix.EpollEvent

// ident is the descriptor the event is for.
func (e *pollEvent) ident() int { return int(e.Fd) }

// readable: input, the peer's end or an error, which a read then finds.
func (e *pollEvent) readable() bool {
	return e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
}

func (e *pollEvent) writable() bool { return e.Events&unix.EPOLLOUT != 0 }

// hup reports the peer's end or an error.
func (e *pollEvent) hup() bool {
	return e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: fd, timerfd: -1}
	if p.timerfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err == nil {
		err = p.add(p.timerfd, true, false)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// fd is the descriptor that is readable while the poller has events, for
// a host that waits on it (an inline hub's PollFD).
func (p *poller) fd() int { return p.epfd }

func epollMask(read, write bool) uint32 {
	var ev uint32
	if read {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if write {
		ev |= unix.EPOLLOUT
	}
	return ev
}

// add watches fd for the readiness asked for (none: registered, silent).
func (p *poller) add(fd int, read, write bool) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: epollMask(read, write), Fd: int32(fd)})
}

// mod changes what fd is watched for.
func (p *poller) mod(fd int, read, write bool) error {
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: epollMask(read, write), Fd: int32(fd)})
}

// del stops watching fd (before it is closed).
func (p *poller) del(fd int) error { return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil) }

// wait waits up to timeout ms (-1: no limit) and fills evs. A wait that
// does not wait is a raw system call (see rawsys_direct.go).
func (p *poller) wait(evs []pollEvent, timeout int) (int, error) {
	if timeout != 0 {
		return unix.EpollWait(p.epfd, unsafe.Slice((*unix.EpollEvent)(&evs[0]), len(evs)), timeout)
	}
	n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	return int(n), rawErr(errno)
}

// tickID is the ident of the events that report a tick (see setTick).
func (p *poller) tickID() int { return p.timerfd }

// setTick has wait report a tick every period, or stops it (0).
func (p *poller) setTick(every time.Duration) error {
	var spec unix.ItimerSpec
	if every > 0 {
		spec.Interval = unix.NsecToTimespec(int64(every))
		spec.Value = spec.Interval
	}
	return unix.TimerfdSettime(p.timerfd, 0, &spec, nil)
}

// ackTick consumes a reported tick (the timerfd stays readable until read).
func (p *poller) ackTick() {
	var buf [8]byte
	unix.Read(p.timerfd, buf[:])
}

func (p *poller) close() error {
	if p.timerfd >= 0 {
		unix.Close(p.timerfd)
	}
	return unix.Close(p.epfd)
}

// newWaker makes the descriptor hosts write an 8-byte count to after
// queueing commands (Hub.WakeFD) and the one the loop watches for it:
// one eventfd here.
func newWaker() (r, w int, err error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	return fd, fd, err
}

// drainWake consumes the wake-ups written so far (one read resets an
// eventfd's count).
func drainWake(r int) {
	var buf [8]byte
	unix.Read(r, buf[:])
}

// closeWaker closes what newWaker made.
func closeWaker(r, w int) {
	if r >= 0 {
		unix.Close(r)
	}
}

// acceptConn accepts a connection, nonblocking and close-on-exec.
func acceptConn(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
