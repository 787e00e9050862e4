//go:build linux

package hub

import "golang.org/x/sys/unix"

// poller is the readiness interface of the socket loop, level-triggered:
// epoll here, kqueue on macOS and the BSDs (poller_kqueue.go), with the
// same methods, so that a loop written against it runs on both. The epoll
// loop (loop_linux.go) still calls epoll itself; see README "Platforms".
type poller struct{ epfd int }

// pollEvent is the readiness of one descriptor; hup reports the peer's
// end or an error, which a read then finds.
type pollEvent struct {
	fd          int
	read, write bool
	hup         bool
}

func newPoller() (*poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &poller{epfd: fd}, nil
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

// wait waits up to timeout ms (-1: no limit) and fills evs.
func (p *poller) wait(evs []pollEvent, timeout int) (int, error) {
	var raw [64]unix.EpollEvent
	n, err := unix.EpollWait(p.epfd, raw[:min(len(evs), len(raw))], timeout)
	if err != nil {
		return 0, err
	}
	for i, e := range raw[:n] {
		evs[i] = pollEvent{
			fd:    int(e.Fd),
			read:  e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
			write: e.Events&unix.EPOLLOUT != 0,
			hup:   e.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
		}
	}
	return n, nil
}

func (p *poller) close() error { return unix.Close(p.epfd) }
