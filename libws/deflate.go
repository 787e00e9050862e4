package libws

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
)

// permessage-deflate (RFC 7692).
//
// The implementation is github.com/klauspost/compress/flate: measured on
// 1 KiB JSON-like messages at level 1 it compresses 1.8-4x and inflates
// 2.2x faster than compress/flate, and a compressor holds 474 KiB instead
// of 1171 KiB.
//
// Memory per connection: without context takeover compressors and
// inflaters come from pools and a connection holds nothing between
// messages. With takeover a connection keeps its compressor (about
// 480 KiB at level 1) and, to inflate, the last 32 KiB of output plus an
// inflater (about 45 KiB). That is why the defaults ask for no context
// takeover in both directions.

// CompressionOptions enable permessage-deflate. The zero value is a valid
// configuration: level 1, 128-byte threshold, no context takeover.
type CompressionOptions struct {
	// Level is the flate level, 1 (fastest) to 9; 0 means 1.
	Level int
	// Threshold: messages shorter than this are sent uncompressed; 0 means 128.
	Threshold int
	// ContextTakeover keeps compression state across messages in both
	// directions where the peer agrees: better ratios for streams of
	// similar messages, at the memory cost above.
	ContextTakeover bool
	// PeerMaxWindowBits (8-15, 0 for none) asks the peer to compress with a
	// window of at most 2^n bytes (client_max_window_bits from a server,
	// server_max_window_bits from a client).
	PeerMaxWindowBits int
}

func (o *CompressionOptions) level() int {
	if o.Level < flate.BestSpeed || o.Level > flate.BestCompression {
		return flate.BestSpeed
	}
	return o.Level
}

func (o *CompressionOptions) threshold() int {
	if o.Threshold <= 0 {
		return 128
	}
	return o.Threshold
}

// DeflateParams are the negotiated permessage-deflate parameters.
// A window of 0 means the parameter was absent (15).
type DeflateParams struct {
	ServerNoContextTakeover bool
	ClientNoContextTakeover bool
	ServerMaxWindowBits     int
	ClientMaxWindowBits     int
	// clientMaxWindowOffered records a client_max_window_bits offer (it may
	// come without a value), which allows the server to answer with one.
	clientMaxWindowOffered bool
}

// String renders the parameters as a Sec-WebSocket-Extensions element.
func (p *DeflateParams) String() string {
	var b strings.Builder
	b.WriteString("permessage-deflate")
	if p.ServerNoContextTakeover {
		b.WriteString("; server_no_context_takeover")
	}
	if p.ClientNoContextTakeover {
		b.WriteString("; client_no_context_takeover")
	}
	if p.ServerMaxWindowBits != 0 {
		b.WriteString("; server_max_window_bits=" + strconv.Itoa(p.ServerMaxWindowBits))
	}
	if p.ClientMaxWindowBits != 0 {
		b.WriteString("; client_max_window_bits=" + strconv.Itoa(p.ClientMaxWindowBits))
	} else if p.clientMaxWindowOffered {
		b.WriteString("; client_max_window_bits")
	}
	return b.String()
}

var errBadDeflateParams = errors.New("invalid permessage-deflate parameters")

// extension is one element of a Sec-WebSocket-Extensions list.
type extension struct {
	name   string
	params []extensionParam
}

type extensionParam struct {
	name, value string
	hasValue    bool
}

// parseExtensions splits Sec-WebSocket-Extensions values into elements.
func parseExtensions(values []string) []extension {
	var out []extension
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			parts := strings.Split(elem, ";")
			name := strings.TrimSpace(parts[0])
			if name == "" {
				continue
			}
			e := extension{name: strings.ToLower(name)}
			for _, p := range parts[1:] {
				k, val, has := strings.Cut(p, "=")
				val = strings.Trim(strings.TrimSpace(val), `"`)
				e.params = append(e.params, extensionParam{strings.ToLower(strings.TrimSpace(k)), val, has})
			}
			out = append(out, e)
		}
	}
	return out
}

// windowBits parses a max_window_bits value: 8 to 15 without leading zeros.
func windowBits(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 || strconv.Itoa(n) != v {
		return 0, false
	}
	return n, true
}

// parseDeflateParams validates the parameters of one permessage-deflate
// element (RFC 7692 §7.1): known names only, each at most once, values
// where and only where allowed. offer says whether it is a client's offer
// (client_max_window_bits may then come without a value).
func parseDeflateParams(e extension, offer bool) (DeflateParams, error) {
	var p DeflateParams
	seen := map[string]bool{}
	for _, q := range e.params {
		if seen[q.name] {
			return p, errBadDeflateParams
		}
		seen[q.name] = true
		switch q.name {
		case "server_no_context_takeover", "client_no_context_takeover":
			if q.hasValue {
				return p, errBadDeflateParams
			}
			if q.name == "server_no_context_takeover" {
				p.ServerNoContextTakeover = true
			} else {
				p.ClientNoContextTakeover = true
			}
		case "server_max_window_bits":
			n, ok := windowBits(q.value)
			if !q.hasValue || !ok {
				return p, errBadDeflateParams
			}
			p.ServerMaxWindowBits = n
		case "client_max_window_bits":
			if !q.hasValue {
				if !offer {
					return p, errBadDeflateParams
				}
				p.clientMaxWindowOffered = true
				continue
			}
			n, ok := windowBits(q.value)
			if !ok {
				return p, errBadDeflateParams
			}
			p.ClientMaxWindowBits = n
			p.clientMaxWindowOffered = true
		default:
			return p, errBadDeflateParams
		}
	}
	return p, nil
}

// acceptDeflate picks the first acceptable permessage-deflate offer and
// returns the parameters of the answer; ok is false when there is none
// (offers with invalid parameters are declined, as RFC 7692 asks).
func acceptDeflate(values []string, o *CompressionOptions) (DeflateParams, bool) {
	for _, e := range parseExtensions(values) {
		if e.name != "permessage-deflate" {
			continue
		}
		offer, err := parseDeflateParams(e, true)
		if err != nil {
			continue
		}
		ans := DeflateParams{
			ServerNoContextTakeover: offer.ServerNoContextTakeover || !o.ContextTakeover,
			ClientNoContextTakeover: offer.ClientNoContextTakeover || !o.ContextTakeover,
			// A server must honour a limit on its own window by echoing it;
			// it then sends uncompressed (see outgoingAllowed).
			ServerMaxWindowBits: offer.ServerMaxWindowBits,
		}
		if offer.clientMaxWindowOffered && o.PeerMaxWindowBits != 0 {
			ans.ClientMaxWindowBits = o.PeerMaxWindowBits
			if offer.ClientMaxWindowBits != 0 && offer.ClientMaxWindowBits < ans.ClientMaxWindowBits {
				ans.ClientMaxWindowBits = offer.ClientMaxWindowBits
			}
		}
		return ans, true
	}
	return DeflateParams{}, false
}

// deflateOffer is the client's Sec-WebSocket-Extensions value.
func deflateOffer(o *CompressionOptions) string {
	p := DeflateParams{
		ServerNoContextTakeover: !o.ContextTakeover,
		ClientNoContextTakeover: !o.ContextTakeover,
		ServerMaxWindowBits:     o.PeerMaxWindowBits,
		clientMaxWindowOffered:  true,
	}
	return p.String()
}

// checkDeflateAnswer validates a server's answer to our offer.
func checkDeflateAnswer(values []string, o *CompressionOptions) (*DeflateParams, error) {
	exts := parseExtensions(values)
	if len(exts) == 0 {
		return nil, nil
	}
	if len(exts) > 1 || exts[0].name != "permessage-deflate" || o == nil {
		return nil, errors.New("server accepted an extension that was not offered")
	}
	p, err := parseDeflateParams(exts[0], false)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// deflateState is a connection's compression state. The compressing half
// is used by writers only and the inflating half by the reader only, so a
// Conn's read/write split needs no extra lock.
type deflateState struct {
	level     int
	threshold int
	// Outgoing: compress at all, and keep the compressor between messages.
	compressOut  bool
	takeoverOut  bool
	compressor   *flate.Writer
	compressed   bytes.Buffer
	takeoverIn   bool
	inflater     io.ReadCloser
	window       []byte // last 32 KiB of inflated output, with takeover
	inflated     []byte
	src          inflateSource
	keepInflated int
}

// newDeflateState sets up compression for our role from the negotiated
// parameters.
func newDeflateState(server bool, p *DeflateParams, o *CompressionOptions) *deflateState {
	d := &deflateState{level: o.level(), threshold: o.threshold()}
	ourWindow, ourNoTakeover, peerNoTakeover := p.ClientMaxWindowBits, p.ClientNoContextTakeover, p.ServerNoContextTakeover
	if server {
		ourWindow, ourNoTakeover, peerNoTakeover = p.ServerMaxWindowBits, p.ServerNoContextTakeover, p.ClientNoContextTakeover
	}
	// Our compressor always uses a 32 KiB window; where the peer asked for
	// less we send uncompressed, which RFC 7692 allows for any message.
	d.compressOut = ourWindow == 0 || ourWindow == 15
	d.takeoverOut = !ourNoTakeover
	d.takeoverIn = !peerNoTakeover
	return d
}

var (
	compressorPools [flate.BestCompression + 1]sync.Pool
	inflaterPool    sync.Pool
)

// The sync-flush marker ends every compressed message on the wire; on
// input it is put back, followed by an empty final stored block so that the
// inflater reports io.EOF at the end of the message.
var inflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// encode compresses a whole text or binary message where that is on; it
// returns the RSV bits and the payload to put on the wire. A nil state
// leaves everything as it is.
func (d *deflateState) encode(fin bool, op Opcode, payload []byte) (byte, []byte) {
	if d == nil || !fin || (op != OpText && op != OpBinary) {
		return 0, payload
	}
	if c := d.compress(payload); c != nil {
		return Rsv1, c
	}
	return 0, payload
}

// compress returns payload compressed for one message, or nil when the
// message should go uncompressed.
func (d *deflateState) compress(payload []byte) []byte {
	if !d.compressOut || len(payload) < d.threshold {
		return nil
	}
	d.compressed.Reset()
	w := d.compressor
	if w == nil {
		if pooled, _ := compressorPools[d.level].Get().(*flate.Writer); pooled != nil {
			w = pooled
			w.Reset(&d.compressed)
		} else {
			w, _ = flate.NewWriter(&d.compressed, d.level)
		}
		if d.takeoverOut {
			d.compressor = w
		}
	}
	w.Write(payload)
	w.Flush()
	if !d.takeoverOut {
		compressorPools[d.level].Put(w)
	}
	out := d.compressed.Bytes()
	out = out[:len(out)-4] // the 00 00 ff ff of the sync flush
	if d.compressed.Cap() > 1<<20 && !d.takeoverOut {
		d.compressed = bytes.Buffer{}
		return append([]byte(nil), out...)
	}
	return out
}

// inflateSource serves a message's compressed bytes and then the tail; it
// is an io.ByteReader so the inflater reads no further than it must.
type inflateSource struct {
	parts [2][]byte
}

func (s *inflateSource) Read(b []byte) (int, error) {
	for i := range s.parts {
		if len(s.parts[i]) > 0 {
			n := copy(b, s.parts[i])
			s.parts[i] = s.parts[i][n:]
			return n, nil
		}
	}
	return 0, io.EOF
}

func (s *inflateSource) ReadByte() (byte, error) {
	for i := range s.parts {
		if len(s.parts[i]) > 0 {
			c := s.parts[i][0]
			s.parts[i] = s.parts[i][1:]
			return c, nil
		}
	}
	return 0, io.EOF
}

// checkEnd runs once the inflater reached the end of a final block. With
// the usual sync-flush ending that is the empty final block of the tail,
// and nothing is left. A sender may also end a message with a final block
// of its own (RFC 7692 §7.2.3.4); then the whole tail is left, after at most
// one 00 byte: the start of the empty stored block whose other four bytes
// the sender removed. Anything else is data the inflater would silently
// skip, so the message is refused.
func (s *inflateSource) checkEnd() error {
	rest, tail := s.parts[0], s.parts[1]
	switch {
	case len(rest) == 0 && len(tail) == 0:
		return nil
	case len(tail) == len(inflateTail) && (len(rest) == 0 || len(rest) == 1 && rest[0] == 0):
		return nil
	}
	return ErrDeflateTrailingData
}

// inflate decompresses one message, refusing it as soon as its output
// passes limit, so a small frame cannot inflate into gigabytes. With text
// non-nil the output is validated as UTF-8 as it comes out, so invalid
// text stops the inflation at once instead of at the limit. The result is
// valid until the next inflate.
func (d *deflateState) inflate(payload []byte, limit int64, text *utf8Validator) ([]byte, error) {
	d.src.parts = [2][]byte{payload, inflateTail}
	r := d.inflater
	if r == nil {
		if pooled, _ := inflaterPool.Get().(io.ReadCloser); pooled != nil {
			r = pooled
			r.(flate.Resetter).Reset(&d.src, d.window)
		} else {
			r = flate.NewReaderDict(&d.src, d.window)
		}
		if d.takeoverIn {
			d.inflater = r
		}
	} else {
		r.(flate.Resetter).Reset(&d.src, d.window)
	}
	out := d.inflated[:0]
	var err error
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		var n int
		n, err = r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			err = ErrMessageTooBig
			break
		}
		if text != nil && !text.Write(out[len(out)-n:]) {
			err = ErrInvalidUTF8
			break
		}
		if err != nil {
			if err == io.EOF {
				err = d.src.checkEnd()
				if err == nil && text != nil && !text.Complete() {
					err = ErrInvalidUTF8
				}
			} else {
				err = &ProtocolError{StatusInvalidPayloadData, "invalid compressed data: " + err.Error()}
			}
			break
		}
	}
	if !d.takeoverIn {
		inflaterPool.Put(r)
	}
	if err != nil {
		return nil, err
	}
	if d.takeoverIn {
		d.window = appendWindow(d.window, out)
	}
	if cap(out) <= 1<<20 {
		d.inflated = out
	} else {
		d.inflated = nil
	}
	return out, nil
}

// appendWindow keeps the last 32 KiB of output, the most a later message
// may refer back to.
func appendWindow(window, out []byte) []byte {
	const size = 32 << 10
	if len(out) >= size {
		return append(window[:0], out[len(out)-size:]...)
	}
	if len(window)+len(out) > size {
		drop := len(window) + len(out) - size
		window = window[:copy(window, window[drop:])]
	}
	return append(window, out...)
}
