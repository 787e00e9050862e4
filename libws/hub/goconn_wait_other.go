//go:build !unix

package hub

import "net"

// canWaitReadable says waitReadable waits: not here, where an idle
// reader keeps its small buffer.
const canWaitReadable = false

func waitReadable(net.Conn) {}
