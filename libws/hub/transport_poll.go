//go:build (linux || darwin || freebsd || netbsd || openbsd || dragonfly) && !hubgoroutine

package hub

// goroutineTransport is false: plain-TCP server connections are the
// socket loop's (loop_poll.go: epoll or kqueue), TLS and client
// connections goConns.
const goroutineTransport = false

// published is a no-op: the socket loop watches an InlineHost's NotifyFD,
// so a waiting Run already wakes for events of goroutine connections.
func (l *loop) published() {}

func (l *loop) pollFD() int { return l.poll.fd() }

// deferFlush: the socket loop's batches coalesce its own connections'
// sends (see dispatchAll); a goroutine connection flushes each send.
func (l *loop) deferFlush(*goConn) bool { return false }
