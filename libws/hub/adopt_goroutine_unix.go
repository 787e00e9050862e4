//go:build ((!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine) && unix

package hub

import (
	"net"
	"os"
	"syscall"
)

// fileConn is a net.Conn on a duplicate of fd, a connected stream socket;
// fd itself is left alone.
func fileConn(fd int) (net.Conn, error) {
	if typ, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TYPE); err != nil || typ != syscall.SOCK_STREAM {
		return nil, errAdoptFD
	}
	if _, err := syscall.Getpeername(fd); err != nil {
		return nil, errAdoptFD
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), "adopted")
	nc, err := net.FileConn(f) // dups again, into Go's poller
	f.Close()
	if err != nil {
		return nil, errAdoptFD
	}
	return nc, nil
}

func closeFD(fd int) { syscall.Close(fd) }
