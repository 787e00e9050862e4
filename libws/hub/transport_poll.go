//go:build linux && !hubgoroutine

package hub

// goroutineTransport is false: plain-TCP server connections are the
// epoll loop's (loop_linux.go), TLS and client connections goConns.
const goroutineTransport = false

// published is a no-op: the epoll loop watches an InlineHost's NotifyFD,
// so a waiting Run already wakes for events of goroutine connections.
func (l *loop) published() {}

func (l *loop) pollFD() int { return l.epfd }

// deferFlush: the epoll loop's batches coalesce its own connections'
// sends (see dispatchAll); a goroutine connection flushes each send.
func (l *loop) deferFlush(*goConn) bool { return false }
