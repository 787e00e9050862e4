//go:build ((!linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly) || hubgoroutine) && unix

package hub

import (
	"os"
	"syscall"
)

// newWakePipe makes the pipe a host writes to wake the goroutine loop
// (Hub.WakeFD): a goroutine reads it, in Go's poller, and calls wake for
// each read. It ends when closeWakePipe closes the write side. The write
// side is nonblocking: a host never blocks on it, and a full pipe already
// holds a wake-up.
func newWakePipe(wake func()) (int, error) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return -1, err
	}
	for _, fd := range p {
		syscall.CloseOnExec(fd)
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(p[0])
			syscall.Close(p[1])
			return -1, err
		}
	}
	r := os.NewFile(uintptr(p[0]), "hub wake pipe")
	go readWakes(r, wake)
	return p[1], nil
}

func closeWakePipe(fd int) { syscall.Close(fd) }
