//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !hubgoroutine

package hub

import (
	"syscall"
	"testing"
)

// shrinkSendBuffer sets the kernel send buffer of a server connection.
func shrinkSendBuffer(t *testing.T, h *Hub, id uint64, n int) {
	t.Helper()
	h.loop.do(func() {
		if err := syscall.SetsockoptInt(h.loop.byID[id].fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, n); err != nil {
			t.Fatal(err)
		}
	})
}

// shrinkReceiveBuffer sets the kernel receive buffer of a server connection.
func shrinkReceiveBuffer(t *testing.T, h *Hub, id uint64, n int) {
	t.Helper()
	h.loop.do(func() {
		if err := syscall.SetsockoptInt(h.loop.byID[id].fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, n); err != nil {
			t.Fatal(err)
		}
	})
}
