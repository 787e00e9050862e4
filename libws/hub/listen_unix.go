//go:build unix

package hub

import (
	"context"
	"crypto/tls"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// iovecs is the vector of a writev (topics.iov).
type iovecs = []unix.Iovec

// listenConfig sets SO_REUSEPORT on a listener's socket before it binds
// when o.ReusePort asks for it, so that several processes (or hubs) serve
// one port and the kernel spreads connections among them.
func listenConfig(o *Options) *net.ListenConfig {
	lc := &net.ListenConfig{}
	if o.ReusePort {
		lc.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc
}

// listenTLS is tls.Listen with listenConfig's socket options.
func listenTLS(addr string, o *Options) (net.Listener, error) {
	if !o.ReusePort {
		return tls.Listen("tcp", addr, o.TLS)
	}
	if c := o.TLS; len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return tls.Listen("tcp", addr, c) // its error: no certificate
	}
	ln, err := listenConfig(o).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, o.TLS), nil
}
