package hub

import "net"

// flushSoon sends what send queued (mu held): at once as far as the
// socket takes it (writeNow), the rest by the writer; or, while the loop
// carries out a batch of commands, when the batch is done, so that the
// sends of one batch to one connection leave in one write, as on the
// epoll loop.
func (g *goConn) flushSoon() {
	if g.h.loop.deferFlush(g) {
		return
	}
	g.writeNow()
	g.wakeWriter()
}

// writeNow hands what is queued straight to a plain TCP socket while the
// writer goroutine is idle (mu held), as the epoll loop writes in the
// sending call: a send is in the kernel when it returns, so once the peer
// has the bytes BufferedAmount no longer counts them, and an echo costs
// no hand-over to the writer. What the socket does not take at once stays
// queued for the writer. TLS connections always go through the writer.
func (g *goConn) writeNow() {
	if g.writing > 0 || len(g.out) == 0 || g.gone || g.shut {
		return
	}
	tc, ok := g.nc.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	n := 0
	rc.Write(func(fd uintptr) bool {
		n = writeNonblocking(fd, g.out)
		return true // one attempt: waiting is the writer's
	})
	if n <= 0 {
		return
	}
	if n == len(g.out) {
		g.out = g.out[:0]
	} else {
		g.out = g.out[n:]
	}
	g.account(-int64(n))
}
