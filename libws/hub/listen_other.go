//go:build !unix

package hub

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// iovecs: no writev here (topics.iov stays empty).
type iovecs = [][]byte

var errReusePort = errors.New("hub: ReusePort (SO_REUSEPORT) is not available on this platform")

// listenConfig refuses ReusePort: the platform has no SO_REUSEPORT.
func listenConfig(o *Options) *net.ListenConfig {
	lc := &net.ListenConfig{}
	if o.ReusePort {
		lc.Control = func(string, string, syscall.RawConn) error { return errReusePort }
	}
	return lc
}

// listenTLS is tls.Listen, or errReusePort.
func listenTLS(addr string, o *Options) (net.Listener, error) {
	if o.ReusePort {
		return nil, errReusePort
	}
	return tls.Listen("tcp", addr, o.TLS)
}
