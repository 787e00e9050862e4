package hub

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/libws/libws/libws"
)

// A session is the part of a connection that every transport shares: its
// protocol (what the peer's bytes mean, which events and close frames come
// of them), its state, deadlines, idle and ping timers and buffered-bytes
// accounting. It does no I/O: the epoll connection (conn) and the goroutine connection
// (goConn) report what happened on their socket and carry out what the
// session answers, so that both follow one set of rules.
//
// States, and why each exists:
//
//   - stHandshake: the opening handshake is being read. The host knows
//     nothing of the connection yet, so a handshake deadline drops it
//     without an event (slowloris peers must not hold sockets).
//   - stOpen: messages flow; idle and ping timers run.
//   - stPeerClosed: the peer's close frame is in and its close event is
//     published. Our reply waits for the host's acknowledgement (it polled
//     again, so its replies to earlier messages are queued before the
//     close) or the close timeout; sends meanwhile are still written.
//   - stFailed: the peer broke the protocol after valid messages of the
//     same read. The error and close events are published; our close frame
//     (1002/1007/1009) is held, like the reply of stPeerClosed, so the
//     host's replies to those messages leave first.
//   - stClosing: we sent the first close frame and wait, up to the close
//     timeout, for the peer's reply.
//   - stDraining: done for the host (its close event is out). Our last
//     bytes are flushed, the write side is shut, and the peer's input is
//     read and discarded until EOF or the linger deadline, because closing
//     with unread input sends a reset that can overtake our close frame.
type session struct {
	id uint64
	// p parses the peer's frames and encodes ours (nil until open).
	p *libws.Protocol
	// held is our close frame (and the protocol's output before it) in
	// stFailed, sent once the host has acknowledged the close event.
	held      []byte
	client    bool // frames we send are masked
	state     uint8
	pressured bool // above the high-water mark: EventBackpressure was sent
	pinged    bool // a keepalive ping is out since the last input
	// pingAt is when the last keepalive ping went out (zero once its pong
	// came back), pongDue when it is given up on (see dueKeepalive), and
	// ping its payload, which a pong must echo to be taken as its answer
	// (pings the host sends have pongs of their own).
	pingAt  time.Time
	pongDue time.Time
	ping    [8]byte
	// latency is the round trip of the last answered keepalive ping, in
	// nanoseconds (0: none yet); Hub.Latency reads it without a lock.
	latency   atomic.Int64
	paused    bool // the host asked not to read (CmdPause)
	requested bool // an EventRequest went out: the host owes an answer, and gets a close event
	opts      *Options
	lastInput time.Time
	deadline  time.Time // handshake, close or linger deadline; zero when none
	// sendable says whether the host's sends are still written (open, or
	// its close event is out and not yet acknowledged); Hub.Sendable reads
	// it without waiting for the transport's lock.
	sendable atomic.Bool
}

const (
	stHandshake = iota
	stOpen
	stPeerClosed
	stFailed
	stClosing
	stDraining
)

// lingerDrain bounds how long a finished connection's input is discarded.
const lingerDrain = 2 * time.Second

func (s *session) start(now time.Time, o *Options) {
	s.opts = o
	s.lastInput = now
	s.deadline = now.Add(o.HandshakeTimeout)
}

// hostKnows reports whether the host still expects a close event.
func (s *session) hostKnows() bool {
	return s.state == stOpen || s.state == stClosing || s.state == stHandshake && s.requested
}

// awaitsAck reports whether our close frame waits for the host's
// acknowledgement of the close event (stPeerClosed, stFailed).
func (s *session) awaitsAck() bool { return s.state == stPeerClosed || s.state == stFailed }

// ackAnswers reports whether the host's acknowledgement of the close
// event (CmdCloseAck) sends the close frame that waited for it. With
// DisableAutoClose the host answers a peer's close itself.
func (s *session) ackAnswers() bool {
	return s.state == stFailed || s.state == stPeerClosed && !s.opts.DisableAutoClose
}

// reads reports whether the transport reads the peer's input: not while
// the host paused the connection, nor, while open, while our unsent bytes
// to the peer are above the high-water mark (until they are under half of
// it). A peer that sends without reading what it is sent (an echo client
// that never reads) is then pushed back by TCP instead of making the hub
// buffer its answers up to the 1008 limit, on every host alike. Servers
// only: were both ends of a connection to stop reading while backed up,
// two libws peers sending faster than they read would wait on each other
// for ever; a server that stops while its client keeps reading cannot.
func (s *session) reads() bool {
	return !s.paused && !(s.pressured && s.state == stOpen && !s.client)
}

func (s *session) input(now time.Time) {
	s.lastInput = now
	s.pinged = false
}

func (s *session) opened() {
	s.state = stOpen
	s.deadline = time.Time{}
	s.sendable.Store(true)
}

// to enters a state that has the close deadline (stPeerClosed, stFailed,
// stClosing) or the linger deadline (stDraining).
func (s *session) to(state uint8, now time.Time) {
	s.state = state
	s.sendable.Store(state == stPeerClosed || state == stFailed)
	if state == stDraining {
		s.deadline = now.Add(lingerDrain)
	} else {
		s.deadline = now.Add(s.opts.CloseTimeout)
	}
}

// What a timer asks of the transport.
const (
	dueNone      = iota
	dueDrop      // handshake or linger over: drop the socket, no event
	dueAnswer    // the host did not acknowledge in time: send the held close
	dueCloseGone // our close got no reply in time: drop, close event 1006
	dueRefuse    // the host did not answer a request event in time: 503
	dueIdle      // no input for IdleTimeout: fail with 1008
	duePing      // no input for PingInterval: send a ping (payload s.ping)
	// dueKeepalive: no input for PongTimeout after a keepalive ping: the
	// peer is gone without a FIN (a pulled cable). Fail with 1011
	// "keepalive ping timeout", as websockets does.
	dueKeepalive
)

// due checks the session's timers at now.
func (s *session) due(now time.Time) int {
	if !s.deadline.IsZero() && now.After(s.deadline) {
		switch s.state {
		case stHandshake:
			if s.requested {
				return dueRefuse
			}
			return dueDrop
		case stDraining:
			return dueDrop
		case stPeerClosed, stFailed:
			return dueAnswer
		default:
			return dueCloseGone
		}
	}
	if s.state != stOpen {
		return dueNone
	}
	idle := now.Sub(s.lastInput)
	switch {
	case s.pinged && !s.paused && s.opts.PongTimeout > 0 && now.After(s.pongDue):
		// Not while paused: the pong waits unread in the socket.
		return dueKeepalive
	case s.opts.IdleTimeout > 0 && idle > s.opts.IdleTimeout:
		return dueIdle
	case s.opts.PingInterval > 0 && !s.pinged && idle > s.opts.PingInterval:
		s.pinged = true
		s.pingAt = now
		s.pongDue = now.Add(s.opts.PongTimeout)
		binary.LittleEndian.PutUint64(s.ping[:], uint64(now.UnixNano()))
		return duePing
	}
	return dueNone
}

// setPaused records the host's pause or resume. A resumed connection's
// pong may still be unread behind other input, so the pong timeout runs
// whole again from the resume.
func (s *session) setPaused(paused bool, now time.Time) {
	if s.paused && !paused && s.pinged {
		if due := now.Add(s.opts.PongTimeout); due.After(s.pongDue) {
			s.pongDue = due
		}
	}
	s.paused = paused
}

// pong notes a pong from the peer and returns the round trip of the
// keepalive ping it answers, in microseconds (at least 1), or 0 when it
// answers none.
func (s *session) pong(payload []byte) uint32 {
	if s.pingAt.IsZero() || string(payload) != string(s.ping[:]) {
		return 0
	}
	rtt := time.Since(s.pingAt)
	s.pingAt = time.Time{}
	s.latency.Store(int64(max(rtt, 1)))
	return max(saturate32(rtt.Microseconds()), 1)
}

// What a change of the buffered byte count asks of the transport.
const (
	pressureNone = iota
	pressureHigh // report EventBackpressure
	pressureLow  // report EventDrain
	pressureOver // past MaxBuffered: fail with 1008
)

// pressure accounts n unsent bytes.
func (s *session) pressure(n int) int {
	switch {
	case n >= s.opts.MaxBuffered && s.state != stDraining:
		return pressureOver
	case !s.pressured && n > s.opts.HighWater:
		s.pressured = true
		return pressureHigh
	case s.pressured && n <= s.opts.HighWater/2:
		s.pressured = false
		return pressureLow
	}
	return pressureNone
}

// saturate32 is n for a record's u32 aux field.
func saturate32(n int64) uint32 { return uint32(min(max(n, 0), 1<<32-1)) }

// protocolOptions are the engine settings of a connection's protocol.
// The close reply is the session's to send (see stPeerClosed), not the
// engine's. Message and frame limits are held under MaxRecordLen whatever
// the configuration: a longer message could not be handed to the host in
// one record, so it fails with 1009 before it is buffered.
func protocolOptions(o *Options) libws.Options {
	p := o.Options
	p.DisableAutoClose = true
	if p.MaxMessageSize > MaxRecordLen {
		p.MaxMessageSize = MaxRecordLen
	}
	if p.MaxFrameSize > MaxRecordLen {
		p.MaxFrameSize = MaxRecordLen
	}
	return p
}

// eventSink takes a session's events (the loop's event buffer).
type eventSink interface {
	event(kind, opcode uint8, code uint16, id uint64, aux uint32, payload []byte)
	errorEvent(id uint64, code uint16, status int32, msg string)
}

// What feeding input asks of the transport once it has written the
// protocol's output (pongs, close frames).
const (
	fedOn   = iota // keep reading
	fedDone        // the connection is over for the host: finish (drain)
)

// feed runs received bytes through the protocol and turns what comes out
// into events.
func (s *session) feed(data []byte, k eventSink) int {
	s.p.Feed(data)
	delivered := false // events the host may answer came of this read
	for {
		f, ok, err := s.p.NextMessage()
		if err != nil {
			return s.violation(err, delivered, k)
		}
		if !ok {
			return fedOn
		}
		switch f.OpCode {
		case libws.OpText, libws.OpBinary:
			k.event(EventMessage, uint8(f.OpCode), 0, s.id, 0, f.Payload)
		case libws.OpPing:
			k.event(EventPing, uint8(f.OpCode), 0, s.id, 0, f.Payload)
		case libws.OpPong:
			k.event(EventPong, uint8(f.OpCode), 0, s.id, s.pong(f.Payload), f.Payload)
		case libws.OpClose:
			code, reason, _ := s.p.CloseStatus()
			k.event(EventClose, 0, uint16(code), s.id, 0, []byte(reason))
			if s.state == stClosing {
				return fedDone // it answers ours: the handshake is complete
			}
			s.to(stPeerClosed, time.Now())
			return fedOn
		}
		delivered = true
	}
}

// violation fails a connection whose peer broke the protocol. The
// protocol has queued the close frame that says why; when events of the
// same read went to the host, that frame waits for the host's
// acknowledgement (stFailed) so that its replies to them leave first.
func (s *session) violation(err error, delivered bool, k eventSink) int {
	var pe *libws.ProtocolError
	code := uint16(libws.StatusInternalError)
	if errors.As(err, &pe) {
		code = uint16(pe.Code)
	}
	k.errorEvent(s.id, code, statusOf(err), err.Error())
	k.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), s.id, 0, nil)
	if !delivered || s.state != stOpen {
		return fedDone
	}
	out := s.p.Output()
	s.held = append(s.held[:0], out...)
	s.p.Sent(len(out))
	s.to(stFailed, time.Now())
	return fedOn
}

// answer makes the close frame that waited for the host, in stPeerClosed
// (the reply to the peer's close, echoing its code and reason unless the
// host gave a code) or stFailed (the held close of the violation). The
// transport writes held, then the protocol's output, and finishes.
func (s *session) answer(code uint16, reason string) (held []byte) {
	switch s.state {
	case stFailed:
		held, s.held = s.held, nil
	case stPeerClosed:
		if code == 0 {
			if peer, peerReason, _ := s.p.CloseStatus(); peer != libws.StatusNoStatusReceived {
				code, reason = uint16(peer), peerReason
			}
		}
		if s.p.WriteClose(libws.StatusCode(code), reason) != nil {
			// A code or reason the host may not send: the peer still gets
			// its echo (ws.h's calls refuse such codes before they get here).
			peer, peerReason, _ := s.p.CloseStatus()
			if peer == libws.StatusNoStatusReceived {
				peer, peerReason = 0, ""
			}
			s.p.WriteClose(peer, peerReason)
		}
	}
	return held
}

// close starts the close handshake the host asked for; the frame is in
// the protocol's output.
func (s *session) close(code uint16, reason string) error {
	if s.state != stOpen {
		return nil
	}
	if err := s.p.WriteClose(libws.StatusCode(code), reason); err != nil {
		return err
	}
	s.to(stClosing, time.Now())
	return nil
}

// appendUnchecked encodes a data or control frame without the protocol,
// which refuses every frame once its close frame is queued: in stFailed
// that frame is held back for the host's replies, which still go out
// before it. They go uncompressed, which needs no negotiation.
func (s *session) appendUnchecked(dst []byte, op libws.Opcode, payload []byte) ([]byte, error) {
	if op.IsReserved() || op.IsControl() && len(payload) > libws.MaxControlPayload {
		return dst, libws.ErrInvalidOpcode
	}
	h := libws.Header{Fin: true, OpCode: op, Length: int64(len(payload)), Masked: s.client}
	if s.client {
		k := rand.Uint32()
		h.Mask = [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
	}
	var hb [14]byte
	n, err := libws.PutHeader(hb[:], &h)
	if err != nil {
		return dst, err
	}
	dst = append(dst, hb[:n]...)
	start := len(dst)
	dst = append(dst, payload...)
	if s.client {
		libws.Mask(dst[start:], h.Mask, 0)
	}
	return dst, nil
}

// upgradeOptions are a server connection's handshake settings.
func upgradeOptions(o *Options) *libws.UpgradeOptions {
	// Permissive like ws and websockets when CheckOrigin is nil; the Go
	// engine's own default refuses cross-origin requests.
	return &libws.UpgradeOptions{Subprotocols: o.Subprotocols, CheckOrigin: o.CheckOrigin, AllowAnyOrigin: true, Header: o.Header, Compression: o.Compression}
}

// refusal is the response that refuses a request ParseRequest rejected.
func refusal(err error) []byte {
	var he *libws.HandshakeError
	errors.As(err, &he)
	return libws.RefusalResponse(he)
}

// openProtocol ends the handshake: the session reads and writes frames with the
// negotiated extensions from now on.
func (s *session) openProtocol(role libws.Role, params *libws.DeflateParams) {
	popts := protocolOptions(s.opts)
	s.p = libws.NewProtocol(role, &popts)
	s.p.EnableCompression(params, s.opts.Compression)
	s.client = role == libws.RoleClient
	s.opened()
}

// fail closes the connection with a close frame of our own making (in the
// protocol's output) and does not wait for the reply: the transport
// writes it and finishes.
func (s *session) fail(code uint16, status int32, reason string, k eventSink) {
	if s.state == stOpen {
		s.p.WriteClose(libws.StatusCode(code), reason)
	}
	k.errorEvent(s.id, code, status, reason)
	if s.hostKnows() {
		k.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), s.id, 0, []byte(reason))
	}
}

// failBuffered reports a connection failed for holding too many unsent
// bytes (1008). The transport drops it without a close frame: the peer is
// not reading, so the frame would not reach it.
func (s *session) failBuffered(why string, k eventSink) {
	k.errorEvent(s.id, uint16(libws.StatusPolicyViolation), EPolicy, why)
	if s.hostKnows() {
		k.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), s.id, 0, []byte(why))
	}
}

// closeTimedOut reports a close handshake whose reply did not come within
// the close timeout; the transport drops the socket.
func (s *session) closeTimedOut(k eventSink) {
	const why = "close handshake timed out"
	k.errorEvent(s.id, 0, ETimedOut, why)
	k.event(EventClose, 0, uint16(libws.StatusAbnormalClosure), s.id, 0, []byte(why))
}
