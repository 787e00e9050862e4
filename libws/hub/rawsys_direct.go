//go:build linux || freebsd || netbsd || dragonfly

package hub

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's sockets are nonblocking, so their reads and writes, and a
// wait for readiness that does not wait (poller_epoll.go), return at
// once. They go to the kernel as raw system calls: the runtime's syscall bookkeeping costs a few hundred
// nanoseconds per call, and a goroutine seen in a system call for more
// than sysmon's 20 µs tick has its P taken away and another thread woken,
// which on a busy echo loop is thousands of futex and nanosleep calls a
// second. Calls that may block keep the ordinary path. Where system calls
// must go through libc (macOS, OpenBSD), rawsys_libc.go has the same
// functions on the ordinary path.

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

// sysWritevN is writev(2) of bufs (their nonempty ones, at most IOV_MAX)
// on a nonblocking fd; iov is the caller's, kept so that a call allocates
// nothing.
func sysWritevN(fd int, iov *[]unix.Iovec, bufs [][]byte) (int, error) {
	v := (*iov)[:0]
	for _, b := range bufs {
		if len(b) > 0 {
			e := unix.Iovec{Base: &b[0]}
			e.SetLen(len(b))
			v = append(v, e)
		}
	}
	if len(v) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	clear(v) // hold no payload past the call
	*iov = v[:0]
	return int(n), rawErr(errno)
}
