//go:build unix

package hub

import (
	"crypto/tls"
	"net"
	"syscall"
)

// canWaitReadable says waitReadable waits (see goConn.idleReader).
const canWaitReadable = true

// waitReadable waits until a connection's socket has input, an EOF or an
// error, without reading it: a peek of one byte tells.
func waitReadable(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var b [1]byte
	rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
	})
}
