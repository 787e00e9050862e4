//go:build !unix

package libws

// rawReads: no readRaw here (the read system call differs); TCP
// connections read through net.Conn into a buffer of their own.
const rawReads = false

func (c *Conn) readRaw(fd uintptr) bool { panic("libws: readRaw without rawReads") }
