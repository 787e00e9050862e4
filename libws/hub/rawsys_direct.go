//go:build linux

package hub

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's sockets are nonblocking, so their reads and writes, and an
// epoll_wait that does not wait, return at once. They go to the kernel as
// raw system calls: the runtime's syscall bookkeeping costs a few hundred
// nanoseconds per call, and a goroutine seen in a system call for more
// than sysmon's 20 µs tick has its P taken away and another thread woken,
// which on a busy echo loop is thousands of futex and nanosleep calls a
// second. Calls that may block keep the ordinary path.

func rawErr(errno syscall.Errno) error {
	if errno != 0 {
		return errno
	}
	return nil
}

// sysRead is read(2) on a nonblocking fd.
func sysRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), rawErr(errno)
}

// sysWrite is write(2) on a nonblocking fd.
func sysWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), rawErr(errno)
}

// sysWritev2 is writev(2) of a then b on a nonblocking fd; iov is the
// caller's so that the call allocates nothing.
func sysWritev2(fd int, iov *[2]unix.Iovec, a, b []byte) (int, error) {
	cnt := 0
	for _, p := range [2][]byte{a, b} {
		if len(p) > 0 {
			iov[cnt].Base = &p[0]
			iov[cnt].SetLen(len(p))
			cnt++
		}
	}
	n, _, errno := syscall.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(cnt))
	iov[0].Base, iov[1].Base = nil, nil // hold no payload past the call
	return int(n), rawErr(errno)
}

// epollWait waits up to timeout ms (-1: no limit) for readiness on epfd.
func epollWait(epfd int, events []unix.EpollEvent, timeout int) (int, error) {
	if timeout != 0 {
		return unix.EpollWait(epfd, events, timeout)
	}
	n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), rawErr(errno)
}
