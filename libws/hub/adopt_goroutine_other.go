//go:build !unix

package hub

import (
	"errors"
	"net"
)

var errAdoptPlatform = errors.New("hub: adopt: not available on this platform (Go cannot wrap a socket handle as a connection here)")

func fileConn(int) (net.Conn, error) { return nil, errAdoptPlatform }

func closeFD(int) {}
