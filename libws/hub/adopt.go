package hub

import "errors"

// ErrAdoptTLS refuses Adopt with TLS options: the socket of an adopted
// connection carries the plaintext request the host read.
var ErrAdoptTLS = errors.New("hub: adopt: a TLS connection cannot be adopted (the socket must carry plaintext HTTP)")

// Adopt serves a connection whose socket the host accepted itself, and
// whose HTTP request it may have begun to read (an HTTP server that found
// an upgrade request on one of its routes): fd is the connected stream
// socket, pre the bytes already read from it (the request head, whole or
// in part, and anything after it). The hub answers the request (with
// opts.RequestEvents, after the host's answer to the request event) and
// serves the connection like one of its listeners', with listener id 0 in
// its events. On success the hub owns fd and closes it when done; on an
// error fd is still the caller's. pre is copied. opts nil: the hub's.
func (h *Hub) Adopt(fd int, pre []byte, opts *Options) (uint64, error) {
	o := h.resolve(opts)
	if o.TLS != nil && opts != nil {
		return 0, ErrAdoptTLS
	}
	o.TLS = nil // the hub's default TLS is its listeners' certificate
	return h.loop.adopt(fd, pre, &o)
}
