package libws

import "math/rand/v2"

// Role says which end of the connection this side is. It decides masking:
// a client masks what it sends and a server requires masked input.
type Role uint8

const (
	RoleServer Role = iota
	RoleClient
)

// DefaultMaxMessageSize is the message size limit when Options leaves it 0.
const DefaultMaxMessageSize = 64 << 20

// Options tune a Protocol or a Conn. The zero value gives the defaults.
type Options struct {
	// MaxFrameSize refuses frames whose payload is longer, before buffering
	// it (close 1009). 0 means MaxMessageSize.
	MaxFrameSize int64
	// MaxMessageSize refuses messages whose payload, summed over fragments,
	// is longer, before buffering it (close 1009). 0 means 64 MiB.
	MaxMessageSize int64
	// DisableAutoPong stops the automatic pong reply to each ping.
	DisableAutoPong bool
	// DisableAutoClose stops the automatic close reply; the application
	// must then reply itself.
	DisableAutoClose bool
	// KeepBuffer is how many bytes of buffer a Protocol keeps between
	// frames; larger buffers are released once drained. For a Protocol, 0
	// keeps none, which is what a server holding many idle connections
	// wants; a Conn treats 0 as 64 KiB, so that steady traffic of messages
	// up to that size reads without allocating.
	KeepBuffer int
}

func (o *Options) limits() (maxFrame, maxMessage int64) {
	maxMessage = o.MaxMessageSize
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessageSize
	}
	maxFrame = o.MaxFrameSize
	if maxFrame <= 0 || maxFrame > maxMessage {
		maxFrame = maxMessage
	}
	return maxFrame, maxMessage
}

// maxReserve bounds the buffer reserved for a frame before its bytes arrive.
const maxReserve = 1 << 20

// Frame is a frame (or, from the message readers, a whole message) handed to
// the application. Payload is unmasked and borrowed: it stays valid until
// the next call on the object that returned it.
type Frame struct {
	Fin     bool
	Rsv     byte
	OpCode  Opcode
	Payload []byte
}

// controlSink takes the control frames a Protocol decides to send (pongs and
// close replies). A Conn is one, so that replies go out under its write lock
// and never after its own close frame.
type controlSink interface {
	writeControl(op Opcode, payload []byte) error
}

// Protocol is the RFC 6455 state machine without I/O. Feed it received
// bytes, take frames or messages out with NextFrame or NextMessage, and
// send what Output returns. A Protocol is not safe for concurrent use.
type Protocol struct {
	server     bool
	opts       Options
	rsvAllowed byte
	sink       controlSink
	deflate    *deflateState

	// Input is parsed from buf[pos:]. buf is either the caller's slice from
	// Feed (borrowed) or pend, which owns the bytes of an unfinished frame.
	buf      []byte
	pos      int
	borrowed bool
	pend     []byte

	// The frame being received: its header has passed checkHeader, and
	// the first scanned bytes of its payload are unmasked and validated.
	inFrame bool
	scanned int

	// The data message being received.
	inMessage  bool
	msgOp      Opcode
	msgRsv     byte
	msgLen     int64
	utf8       utf8Validator
	fragments  []byte
	collecting bool

	out       []byte
	closeSent bool
	closeRecv bool
	failed    error

	closeCode   StatusCode
	closeReason string
}

// NewProtocol returns a Protocol for the given role; opts may be nil.
func NewProtocol(role Role, opts *Options) *Protocol {
	p := &Protocol{}
	p.init(role, opts)
	return p
}

func (p *Protocol) init(role Role, opts *Options) {
	p.server = role == RoleServer
	if opts != nil {
		p.opts = *opts
	}
	// Kept resolved in opts: no second copy of the limits per connection.
	p.opts.MaxFrameSize, p.opts.MaxMessageSize = p.opts.limits()
}

// Feed hands received bytes to the Protocol. b is borrowed, not copied,
// until NextFrame or NextMessage reports that more input is needed (the
// unparsed rest is copied then), and payloads are unmasked in place in it.
func (p *Protocol) Feed(b []byte) {
	if len(b) == 0 || p.closeRecv || p.failed != nil {
		// Nothing is parsed after the peer's close frame or a violation:
		// keeping the bytes would only let the peer grow the buffer.
		return
	}
	if p.pos == len(p.buf) && len(p.pend) == 0 {
		p.buf, p.pos, p.borrowed = b, 0, true
		return
	}
	p.stash(0)
	p.pend = append(p.pend, b...)
	p.buf = p.pend
}

// Space returns free room in the Protocol's own buffer when an unfinished
// frame is waiting for its payload, so a reader can read straight into it
// and call Commit; otherwise it returns nil.
func (p *Protocol) Space() []byte {
	if p.borrowed || len(p.pend) == 0 {
		return nil
	}
	return p.pend[len(p.pend):cap(p.pend)]
}

// Commit adds n bytes read into the slice Space returned.
func (p *Protocol) Commit(n int) {
	p.pend = p.pend[:len(p.pend)+n]
	p.buf = p.pend
}

// stash moves the unparsed input into pend, so that the caller's buffer can
// be reused, and makes sure pend can hold want bytes.
func (p *Protocol) stash(want int) {
	rest := p.buf[p.pos:]
	if len(rest) == 0 && p.opts.KeepBuffer < cap(p.pend) {
		// Drained: release a large buffer whether or not it held the input.
		p.pend = nil
	}
	if p.borrowed || len(p.pend) == 0 {
		p.pend = append(p.pend[:0], rest...)
	} else if p.pos > 0 {
		p.pend = p.pend[:copy(p.pend, rest)]
	}
	if want > cap(p.pend) {
		nb := make([]byte, len(p.pend), want)
		copy(nb, p.pend)
		p.pend = nb
	}
	p.buf, p.pos, p.borrowed = p.pend, 0, false
}

// Buffered is the number of received bytes not yet returned as frames.
func (p *Protocol) Buffered() int { return len(p.buf) - p.pos }

// NextFrame returns the next frame. ok is false with a nil error when more
// input is needed. Control frames are returned too, after their automatic
// reply was queued. Once the peer's close frame has been returned, no
// further frame is.
func (p *Protocol) NextFrame() (f Frame, ok bool, err error) {
	return p.next(false)
}

// NextMessage returns the next whole message, fragments joined; control
// frames that arrive between fragments are returned as they come.
func (p *Protocol) NextMessage() (f Frame, ok bool, err error) {
	return p.next(true)
}

func (p *Protocol) next(collect bool) (Frame, bool, error) {
	for {
		f, ok, err := p.readFrame()
		if err != nil || !ok {
			return f, ok, err
		}
		if !collect || f.OpCode.IsControl() {
			return f, true, nil
		}
		if f.Fin && f.OpCode != OpContinuation {
			return p.finishMessage(f)
		}
		if f.OpCode != OpContinuation {
			p.collecting = true
			p.fragments = p.fragments[:0]
		}
		p.fragments = append(p.fragments, f.Payload...)
		if !f.Fin {
			continue
		}
		p.collecting = false
		msg := Frame{Fin: true, Rsv: p.msgRsv, OpCode: p.msgOp, Payload: p.fragments}
		if cap(p.fragments) > p.opts.KeepBuffer && cap(p.fragments) > 64<<10 {
			// The caller borrows msg until its next call; drop our reference
			// so a one-off large message is not pinned for the connection's life.
			p.fragments = nil
		}
		return p.finishMessage(msg)
	}
}

// finishMessage inflates a compressed message and validates compressed
// text as it is inflated: it cannot be checked as its frames arrive,
// because inflating starts only once the whole message is in.
func (p *Protocol) finishMessage(msg Frame) (Frame, bool, error) {
	if msg.Rsv&Rsv1 == 0 || p.deflate == nil {
		return msg, true, nil
	}
	var text *utf8Validator
	if msg.OpCode == OpText {
		p.utf8.Reset()
		text = &p.utf8
	}
	out, err := p.deflate.inflate(msg.Payload, p.opts.MaxMessageSize, text)
	if err != nil {
		return Frame{}, false, p.fail(err)
	}
	msg.Rsv &^= Rsv1
	msg.Payload = out
	return msg, true, nil
}

// EnableCompression turns on permessage-deflate with negotiated
// parameters, for callers that negotiate the handshake themselves. RSV1
// then marks compressed messages, which NextMessage inflates; NextFrame
// returns frames as they are on the wire.
func (p *Protocol) EnableCompression(params *DeflateParams, opts *CompressionOptions) {
	if params == nil {
		return
	}
	if opts == nil {
		opts = &CompressionOptions{}
	}
	p.deflate = newDeflateState(p.server, params, opts)
	p.rsvAllowed |= Rsv1
}

// readFrame parses one frame and applies every per-frame rule, queueing the
// automatic replies.
func (p *Protocol) readFrame() (Frame, bool, error) {
	if p.failed != nil {
		return Frame{}, false, p.failed
	}
	if p.closeRecv {
		return Frame{}, false, nil
	}
	h, n, err := ParseHeader(p.buf[p.pos:])
	if err != nil {
		return Frame{}, false, p.fail(err)
	}
	if n == 0 {
		p.stash(0)
		return Frame{}, false, nil
	}
	if !p.inFrame {
		// The header is seen whole for the first time: the rules that
		// need only the header run once, before any payload is kept.
		if err := p.checkHeader(&h); err != nil {
			return Frame{}, false, p.fail(err)
		}
		p.inFrame, p.scanned = true, 0
		if !h.OpCode.IsControl() {
			p.beginFrame(&h)
		}
	}
	if avail := len(p.buf) - p.pos - n; h.Length > int64(avail) {
		if avail > p.scanned && p.checksText(&h) {
			// Validate the part of the payload already here, so invalid
			// text fails when it arrives, not when a frame the peer may
			// never finish is complete. It is unmasked in place; scanned
			// records how far, for the next call.
			seg := p.buf[p.pos+n+p.scanned : p.pos+n+avail]
			if h.Masked {
				Mask(seg, h.Mask, p.scanned)
			}
			p.scanned = avail
			if !p.utf8.Write(seg) {
				return Frame{}, false, p.fail(ErrInvalidUTF8)
			}
		}
		// Reserve room for the frame, but only up to a bound: a header may
		// announce a large payload that the peer never sends.
		p.stash(n + int(min(h.Length, maxReserve)))
		return Frame{}, false, nil
	}
	end := p.pos + n + int(h.Length)
	payload := p.buf[p.pos+n : end]
	p.pos = end
	fresh := payload[p.scanned:]
	if h.Masked {
		Mask(fresh, h.Mask, p.scanned)
	}
	p.inFrame = false
	f := Frame{Fin: h.Fin, Rsv: h.Rsv, OpCode: h.OpCode, Payload: payload}
	switch h.OpCode {
	case OpPing:
		if !p.opts.DisableAutoPong && !p.closeSent {
			if err := p.reply(OpPong, payload); err != nil {
				return Frame{}, false, err
			}
		}
	case OpPong:
	case OpClose:
		code, reason, err := ParseClosePayload(payload)
		if err != nil {
			return Frame{}, false, p.fail(err)
		}
		p.closeRecv = true
		p.closeCode, p.closeReason = code, reason
		if !p.opts.DisableAutoClose && !p.closeSent {
			if code == StatusNoStatusReceived {
				code = 0
			}
			// The reply echoes the code (RFC 6455 §5.5.1); the reason is the
			// peer's to give, not ours to repeat.
			if err := p.WriteClose(code, ""); err != nil {
				return Frame{}, false, err
			}
		}
	default:
		if err := p.endFrame(&h, fresh); err != nil {
			return Frame{}, false, p.fail(err)
		}
	}
	return f, true, nil
}

// checkHeader applies the rules a frame header must follow on this
// connection, given the message in progress and the limits.
func (p *Protocol) checkHeader(h *Header) error {
	if err := h.Check(p.server, p.rsvAllowed); err != nil {
		return err
	}
	if h.Length > p.opts.MaxFrameSize {
		return ErrFrameTooBig
	}
	if !h.OpCode.IsControl() {
		switch {
		case h.OpCode == OpContinuation && !p.inMessage:
			return ErrUnexpectedContinuation
		case h.OpCode != OpContinuation && p.inMessage:
			return ErrExpectedContinuation
		}
		prior := p.msgLen
		if h.OpCode != OpContinuation {
			prior = 0
		}
		if prior+h.Length > p.opts.MaxMessageSize {
			return ErrMessageTooBig
		}
	}
	return nil
}

// beginFrame keeps the fragmentation state when a data frame's header has
// passed checkHeader.
func (p *Protocol) beginFrame(h *Header) {
	if h.OpCode != OpContinuation {
		p.inMessage = true
		p.msgOp, p.msgRsv, p.msgLen = h.OpCode, h.Rsv, 0
		p.utf8.Reset()
	}
	p.msgLen += h.Length
}

// checksText reports whether the payload of the data frame in progress is
// validated as it arrives: uncompressed text. Compressed text is checked
// once inflated (finishMessage).
func (p *Protocol) checksText(h *Header) bool {
	return !h.OpCode.IsControl() && p.msgOp == OpText && p.msgRsv&Rsv1 == 0
}

// endFrame validates the payload bytes of a complete data frame that were
// not validated while it arrived, and ends the message at its final frame.
func (p *Protocol) endFrame(h *Header, fresh []byte) error {
	if p.checksText(h) {
		if !p.utf8.Write(fresh) || (h.Fin && !p.utf8.Complete()) {
			return ErrInvalidUTF8
		}
	}
	if h.Fin {
		p.inMessage = false
	}
	return nil
}

// fail records a violation and queues the close frame that reports it.
func (p *Protocol) fail(err error) error {
	p.failed = err
	if pe, ok := err.(*ProtocolError); ok && !p.closeSent {
		p.WriteClose(pe.Code, pe.Msg)
	}
	return err
}

// Failed returns the violation that stopped the Protocol, if any.
func (p *Protocol) Failed() error { return p.failed }

// CloseStatus returns the code and reason of the peer's close frame, and
// whether one has arrived.
func (p *Protocol) CloseStatus() (StatusCode, string, bool) {
	return p.closeCode, p.closeReason, p.closeRecv
}

// CloseSent reports whether a close frame has been queued or sent.
func (p *Protocol) CloseSent() bool { return p.closeSent }

func (p *Protocol) reply(op Opcode, payload []byte) error {
	if p.sink != nil {
		return p.sink.writeControl(op, payload)
	}
	p.out = appendFrame(p.out, true, 0, op, payload, !p.server, p.maskKey())
	return nil
}

// Output returns the bytes waiting to be sent. Report how many were sent
// with Sent.
func (p *Protocol) Output() []byte { return p.out }

// Sent drops the first n bytes of Output.
func (p *Protocol) Sent(n int) {
	if n >= len(p.out) {
		if cap(p.out) > p.opts.KeepBuffer {
			p.out = nil
		} else {
			p.out = p.out[:0]
		}
		return
	}
	p.out = p.out[:copy(p.out, p.out[n:])]
}

// WriteFrame queues one frame. Control frames must have fin set and at most
// 125 bytes of payload.
func (p *Protocol) WriteFrame(fin bool, op Opcode, payload []byte) error {
	out, err := p.AppendFrame(p.out, fin, op, payload)
	p.out = out
	return err
}

// AppendFrame is WriteFrame that appends the encoded frame to dst instead
// of Output, for callers that manage their own send buffers.
func (p *Protocol) AppendFrame(dst []byte, fin bool, op Opcode, payload []byte) ([]byte, error) {
	rsv, payload, err := p.encode(fin, op, payload)
	if err != nil {
		return dst, err
	}
	return appendFrame(dst, fin, rsv, op, payload, !p.server, p.maskKey()), nil
}

// AppendHeader is AppendFrame for a server that sends the payload itself,
// right after the header (one writev), sparing the copy of a large payload
// into its send buffer. It appends the frame header to dst and returns the
// payload to send after it: payload itself, or its compressed form, valid
// until the next call. Clients must use AppendFrame, which masks a copy.
func (p *Protocol) AppendHeader(dst []byte, fin bool, op Opcode, payload []byte) (header, body []byte, err error) {
	if !p.server {
		return dst, nil, ErrClientHeader
	}
	rsv, body, err := p.encode(fin, op, payload)
	if err != nil {
		return dst, nil, err
	}
	h := Header{Fin: fin, Rsv: rsv, OpCode: op, Length: int64(len(body))}
	start := len(dst)
	dst = grow(dst, h.Size())
	PutHeader(dst[start:], &h)
	return dst, body, nil
}

// encode checks a frame about to be sent and compresses its payload when
// the extension says so.
func (p *Protocol) encode(fin bool, op Opcode, payload []byte) (rsv byte, out []byte, err error) {
	if err := checkWrite(fin, op, payload); err != nil {
		return 0, nil, err
	}
	if p.closeSent {
		return 0, nil, ErrClosed
	}
	if op == OpClose {
		p.closeSent = true
	}
	rsv, out = p.deflate.encode(fin, op, payload)
	return rsv, out, nil
}

// WriteMessage queues a whole message as one frame.
func (p *Protocol) WriteMessage(op Opcode, payload []byte) error {
	return p.WriteFrame(true, op, payload)
}

// WriteClose queues a close frame. A zero code sends no status at all.
func (p *Protocol) WriteClose(code StatusCode, reason string) error {
	// On the stack, not in the Protocol, which would carry 127 bytes for
	// the one close frame of its life: the sink's copy escapes it, so it
	// is allocated, once.
	var ctrl [2 + MaxControlPayload]byte
	payload, err := closePayload(ctrl[:0], code, reason)
	if err != nil {
		return err
	}
	if p.sink != nil {
		p.closeSent = true
		return p.sink.writeControl(OpClose, payload)
	}
	return p.WriteFrame(true, OpClose, payload)
}

// closePayload validates what an application asks to send in a close frame.
func closePayload(dst []byte, code StatusCode, reason string) ([]byte, error) {
	if code != 0 && !ValidCloseCode(code) {
		return nil, ErrInvalidCloseCode
	}
	if code == 0 && reason != "" {
		return nil, ErrInvalidClosePayload
	}
	if len(reason) > MaxControlPayload-2 {
		reason = truncateUTF8(reason, MaxControlPayload-2)
	}
	return ClosePayload(dst, code, reason), nil
}

// truncateUTF8 shortens s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func checkWrite(fin bool, op Opcode, payload []byte) error {
	if op.IsReserved() {
		return ErrInvalidOpcode
	}
	if op.IsControl() && (!fin || len(payload) > MaxControlPayload) {
		return ErrControlPayload
	}
	return nil
}

// maskKey is the key of a frame this side sends: a client draws one, a
// server's frames are not masked.
func (p *Protocol) maskKey() [4]byte {
	if p.server {
		return [4]byte{}
	}
	return newMaskKey()
}

// newMaskKey draws a masking key from the runtime's per-thread generator:
// unpredictable, as RFC 6455 §5.3 asks, and free of locks and allocation.
func newMaskKey() [4]byte {
	k := rand.Uint32()
	return [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
}
