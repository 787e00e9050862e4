//go:build unix

package hub

import "syscall"

// writeNonblocking writes what a nonblocking socket takes now (Go's
// sockets are nonblocking); errors, EAGAIN included, are the writer's to
// meet.
func writeNonblocking(fd uintptr, b []byte) int {
	n, err := syscall.Write(int(fd), b)
	if err != nil {
		return 0
	}
	return n
}
