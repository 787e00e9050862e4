//go:build darwin || openbsd

package hub

import "golang.org/x/sys/unix"

// The functions of rawsys_direct.go where system calls go through libc:
// the ordinary wrappers (the loop's sockets are nonblocking all the same).

func sysRead(fd int, p []byte) (int, error) { return unix.Read(fd, p) }

func sysWrite(fd int, p []byte) (int, error) { return unix.Write(fd, p) }

// sysWritev2 is writev(2) of a then b; iov is unused here (unix.Writev
// builds its own vector).
func sysWritev2(fd int, _ *[2]unix.Iovec, a, b []byte) (int, error) {
	if len(b) == 0 {
		return unix.Write(fd, a)
	}
	return unix.Writev(fd, [][]byte{a, b})
}

// sysWritevN is writev(2) of bufs (at most IOV_MAX); iov is unused here.
func sysWritevN(fd int, _ *[]unix.Iovec, bufs [][]byte) (int, error) {
	return unix.Writev(fd, bufs)
}
