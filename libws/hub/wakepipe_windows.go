package hub

import (
	"errors"
	"net"
	"sync"
)

// wakeConns holds the write side of each wake socket pair, by the handle
// WakeFD hands out, until closeWakePipe.
var wakeConns sync.Map

// newWakePipe makes what a host writes to wake the goroutine loop
// (Hub.WakeFD) on Windows, which waits on sockets and not pipes: a
// connected pair of loopback TCP sockets. A goroutine reads one end and
// calls wake for each read; WakeFD is the other end's SOCKET handle, which
// a host writes with send(). Socket handles fit in an int: Windows keeps
// handle values within 32 bits.
func newWakePipe(wake func()) (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return -1, err
	}
	defer ln.Close()
	w, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return -1, err
	}
	r, err := ln.Accept()
	if err != nil {
		w.Close()
		return -1, err
	}
	// Another local process may have connected first: the pair must be ours.
	if r.RemoteAddr().String() != w.LocalAddr().String() {
		r.Close()
		w.Close()
		return -1, errors.New("hub: wake socket pair: a foreign connection came first")
	}
	raw, err := w.(*net.TCPConn).SyscallConn()
	if err != nil {
		r.Close()
		w.Close()
		return -1, err
	}
	fd := -1
	raw.Control(func(h uintptr) { fd = int(h) })
	wakeConns.Store(fd, w)
	go readWakes(r, wake)
	return fd, nil
}

func closeWakePipe(fd int) {
	if w, ok := wakeConns.LoadAndDelete(fd); ok {
		w.(net.Conn).Close()
	}
}
