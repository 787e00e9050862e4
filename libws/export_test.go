package libws

// ReadInProgress reports whether a goroutine holds c's read lock, so the
// black-box tests can wait until a reader is parked in ReadMessage before
// exercising Close's concurrent-reader path.
func ReadInProgress(c *Conn) bool {
	if c.rmu.TryLock() {
		c.rmu.Unlock()
		return false
	}
	return true
}

// ReadBufferHeld reports whether c holds a read buffer, so the tests can
// check that an idle connection gives its borrowed one back.
func ReadBufferHeld(c *Conn) bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.rbuf != nil
}
