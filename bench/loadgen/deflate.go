//go:build linux

package main

// permessage-deflate (RFC 7692), client side, on the standard library's
// compress/flate: like the framing in wire.go, no code shared with any
// server being measured (libws uses klauspost/compress, ws uses zlib).
//
// loadgen offers exactly one thing:
//
//	permessage-deflate; client_no_context_takeover; server_no_context_takeover
//
// No context takeover in either direction means every message is a
// self-contained DEFLATE stream: this side keeps no 32 KiB window from one
// message to the next, an echo can be inflated and checked on its own, and
// a compressed message only depends on its content, so the few distinct
// messages loadgen sends are compressed once up front (see load.zmsgs)
// rather than on every send, leaving loadgen's core to inflating and
// checking echoes. It is also what the libws servers ask for by default.
// The server must accept the offer as made (RFC 7692 section 7.1.1.1:
// server_no_context_takeover in its answer); any other answer fails the
// handshake rather than being misread, and no answer at all means the
// server declined, which the report shows ("deflate": false).

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

const deflateOffer = "permessage-deflate; client_no_context_takeover; server_no_context_takeover"

// rsv1 marks a data frame whose message is compressed (RFC 7692 section 6).
const rsv1 = 0x40

// inflateTail goes after a received payload before inflating it: the
// 00 00 ff ff the sender stripped (section 7.2.2), then an empty final
// stored block, so that the reader ends with io.EOF at the end of the
// message instead of io.ErrUnexpectedEOF, which is also what a truncated
// stream gives.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// deflateParams is what the server answered beyond the mandatory
// server_no_context_takeover. Neither changes what loadgen does: it never
// keeps context anyway, and inflating handles any window up to 2^15.
type deflateParams struct {
	clientNoContextTakeover bool
	serverMaxWindowBits     int // 0: not in the answer (15)
}

// parseDeflateResponse reads the Sec-WebSocket-Extensions values of a 101
// response to deflateOffer. No value (or only empty ones): the server
// declined, ok is false and err nil. Anything but a valid acceptance of
// that one offer is an error.
func parseDeflateResponse(values []string) (p deflateParams, ok bool, err error) {
	var elems []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			// Empty list elements are allowed by HTTP's list syntax.
			if e = strings.TrimSpace(e); e != "" {
				elems = append(elems, e)
			}
		}
	}
	switch {
	case len(elems) == 0:
		return p, false, nil
	case len(elems) > 1:
		return p, false, fmt.Errorf("server answered %d extensions %q, one was offered", len(elems), elems)
	}
	parts := strings.Split(elems[0], ";")
	if name := strings.TrimSpace(parts[0]); !strings.EqualFold(name, "permessage-deflate") {
		return p, false, fmt.Errorf("server negotiated extension %q, which was not offered", name)
	}
	seen := map[string]bool{}
	for _, param := range parts[1:] {
		k, v, hasValue := strings.Cut(param, "=")
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		if k == "" {
			return p, false, fmt.Errorf("malformed permessage-deflate answer %q", elems[0])
		}
		if seen[k] {
			return p, false, fmt.Errorf("permessage-deflate answer %q repeats %s", elems[0], k)
		}
		seen[k] = true
		// A value may be a quoted string (RFC 7692 section 7.1).
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		switch k {
		case "server_no_context_takeover", "client_no_context_takeover":
			if hasValue {
				return p, false, fmt.Errorf("permessage-deflate answer %q: %s takes no value", elems[0], k)
			}
			p.clientNoContextTakeover = p.clientNoContextTakeover || k == "client_no_context_takeover"
		case "server_max_window_bits":
			n, err := strconv.Atoi(v)
			// strconv.Itoa round trip: no sign, no leading zero, as the
			// RFC's grammar has it.
			if !hasValue || err != nil || strconv.Itoa(n) != v || n < 8 || n > 15 {
				return p, false, fmt.Errorf("permessage-deflate answer %q: server_max_window_bits must be 8 to 15", elems[0])
			}
			p.serverMaxWindowBits = n
		case "client_max_window_bits":
			return p, false, fmt.Errorf("permessage-deflate answer %q has client_max_window_bits, which was not offered", elems[0])
		default:
			return p, false, fmt.Errorf("permessage-deflate answer %q has unknown parameter %q", elems[0], k)
		}
	}
	if !seen["server_no_context_takeover"] {
		return p, false, fmt.Errorf("permessage-deflate answer %q lacks server_no_context_takeover: the server would keep context between messages, which was not offered", elems[0])
	}
	return p, true, nil
}

// compressor turns messages into permessage-deflate payloads.
type compressor struct {
	fw  *flate.Writer
	buf bytes.Buffer
}

func newCompressor() *compressor {
	// Level 1, as the libws servers default to; loadgen's own compression
	// ratio is reported separately from the server's anyway.
	fw, err := flate.NewWriter(nil, flate.BestSpeed)
	if err != nil {
		panic(err) // only for an invalid level
	}
	return &compressor{fw: fw}
}

// compress returns msg as a message payload: msg alone as a raw DEFLATE
// stream ended by a sync flush, whose 00 00 ff ff is then removed
// (section 7.2.1). The result is valid until the next call.
func (z *compressor) compress(msg []byte) []byte {
	z.buf.Reset()
	z.fw.Reset(&z.buf) // no context takeover: every message starts afresh
	z.fw.Write(msg)    // a bytes.Buffer does not fail
	z.fw.Flush()
	b := z.buf.Bytes()
	return b[:len(b)-4]
}

// inflaters are shared by all connections: without context takeover an
// inflater keeps nothing from one message to the next, and one per
// connection (some 45 KB of window and tables each) made 10,000 fan-out
// subscribers' inflating miss the caches on every message (measured:
// loadgen saturated at about 15,000 deliveries/s of 1 KiB).
var inflaters = sync.Pool{New: func() any { return new(inflater) }}

// inflater inflates received payloads, each on its own.
type inflater struct {
	fr  io.ReadCloser // and a flate.Resetter
	src bytes.Reader  // an io.ByteReader: flate reads it without a bufio layer
}

// inflate inflates in, a received payload followed by inflateTail, into
// dst and returns the length. A message longer than dst is an errTooLong.
func (f *inflater) inflate(dst, in []byte) (int, error) {
	f.src.Reset(in)
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return 0, err
	}
	n := 0
	for {
		if n == len(dst) {
			// dst is full: the stream must end here. (A Read into an empty
			// slice could return 0, nil forever, hence the probe byte.)
			var probe [1]byte
			for {
				m, err := f.fr.Read(probe[:])
				if m > 0 {
					return n, errTooLong{int64(n) + 1, int64(len(dst))}
				}
				if err == io.EOF {
					return n, nil
				}
				if err != nil {
					return n, inflateError(err)
				}
			}
		}
		m, err := f.fr.Read(dst[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, inflateError(err)
		}
	}
}

func inflateError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("inflating the echo: compressed data ends mid-stream")
	}
	return fmt.Errorf("inflating the echo: %w", err)
}
