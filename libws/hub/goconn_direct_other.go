//go:build !unix

package hub

// writeNonblocking writes nothing: Windows sockets of Go's poller are not
// in nonblocking mode, so a write here could block under the connection's
// lock; the writer goroutine does every write.
func writeNonblocking(uintptr, []byte) int { return 0 }
