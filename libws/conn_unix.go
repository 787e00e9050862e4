//go:build unix

package libws

import "syscall"

// rawReads: readRaw reads the socket itself here.
const rawReads = true

// readRaw is the RawConn callback of readPooled: it reads once, and
// returns false to wait for readability when there was nothing, after
// giving the buffer back.
func (c *Conn) readRaw(fd uintptr) bool {
	if c.rbuf == nil {
		c.rbuf, c.rpooled = readPool.Get().(*[]byte), true
	}
	for {
		n, err := syscall.Read(int(fd), *c.rbuf)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.releaseRead()
			return false
		case nil:
			c.rn = int32(n) // at most len(rbuf), an int32
		default:
			c.rerr = int32(err.(syscall.Errno))
		}
		return true
	}
}
