package hub

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/libws/libws/libws"
)

// Topics: a host subscribes connections to named topics and publishes a
// message to a topic once; the hub delivers it to every subscriber. The
// frame is built once per publish (server frames are not masked, so the
// same bytes serve every server connection) and compressed once per
// flate level among the subscribers that compress without context
// takeover. The publishes of one command batch to an epoll connection
// leave in one writev at the end of the batch. A subscriber that does not
// read is held to the session's limits (backpressure, 1008 at
// MaxBuffered, the hub-wide cap) like any send, so it never holds up the
// others. Client connections mask each frame, and connections that
// compress with context takeover encode their own: those get a frame each.
//
// The registry belongs to the loop (runMu). Goroutine connections end
// under their own lock, which is taken after the loop's, so they cannot
// leave their topics themselves: they queue their id (topics.gone) and the
// loop removes them at its next topic operation or turn.

// Command kinds of topics (see docs/hub-contract.md).
const (
	// CmdSubscribe subscribes Conn to the topic in the payload.
	CmdSubscribe = 16
	// CmdUnsubscribe unsubscribes Conn from the topic in the payload.
	CmdUnsubscribe = 17
	// CmdPublish sends a message to every subscriber of a topic: Opcode
	// text or binary; Conn a connection to leave out, or 0; payload a u16
	// topic length (LE), the topic, then the message (AppendPublish).
	CmdPublish = 18
	// cmdPublishRemote is CmdPublish for a message that came from the
	// broker: delivered here, not forwarded again. Hosts never send it.
	cmdPublishRemote = 19
)

// EventBroker reports the broker connection (Options.Broker): Code is
// BrokerDown (Status EIO, payload the error) or BrokerUp (payload the
// broker's address). Conn is 0.
const EventBroker = 16

// Codes of EventBroker.
const (
	BrokerDown = 1 // the broker is unreachable: publishes reach local subscribers only
	BrokerUp   = 2 // connected (again) and subscribed to every topic with local subscribers
)

// MaxTopicLen bounds a topic name, in bytes. Names are any bytes, at least one.
const MaxTopicLen = 1024

// ErrTopic is returned for an empty or too long topic name, ErrOpcode for a
// publish that is neither text nor binary.
var (
	ErrTopic  = errors.New("hub: a topic name has 1 to 1024 bytes")
	ErrOpcode = errors.New("hub: only text and binary messages are published")
)

func validTopic(name string) bool { return len(name) > 0 && len(name) <= MaxTopicLen }

// AppendSubscribe encodes a CmdSubscribe record.
func AppendSubscribe(dst []byte, conn uint64, topic string) []byte {
	return AppendRecord(dst, CmdSubscribe, 0, 0, conn, 0, []byte(topic))
}

// AppendUnsubscribe encodes a CmdUnsubscribe record.
func AppendUnsubscribe(dst []byte, conn uint64, topic string) []byte {
	return AppendRecord(dst, CmdUnsubscribe, 0, 0, conn, 0, []byte(topic))
}

// AppendPublish encodes a CmdPublish record; exclude is a connection that
// does not get the message (its sender, say), or 0.
func AppendPublish(dst []byte, topic string, op libws.Opcode, data []byte, exclude uint64) []byte {
	return appendPublish(dst, CmdPublish, topic, op, data, exclude)
}

func appendPublish(dst []byte, kind uint8, topic string, op libws.Opcode, data []byte, exclude uint64) []byte {
	var n [2]byte
	binary.LittleEndian.PutUint16(n[:], uint16(len(topic)))
	return AppendRecord(dst, kind, uint8(op), 0, exclude, 0, n[:], []byte(topic), data)
}

// splitPublish decodes a publish record's payload.
func splitPublish(p []byte) (topic string, data []byte, ok bool) {
	if len(p) < 2 {
		return "", nil, false
	}
	n := int(binary.LittleEndian.Uint16(p))
	if len(p) < 2+n {
		return "", nil, false
	}
	return string(p[2 : 2+n]), p[2+n:], true
}

// Subscribe subscribes connection conn to topic. A connection that is not
// open (or gone) is not subscribed; subscribing twice is one subscription.
func (h *Hub) Subscribe(conn uint64, topic string) error {
	if !validTopic(topic) {
		return ErrTopic
	}
	h.ExecRecord(Record{Kind: CmdSubscribe, Conn: conn, Payload: []byte(topic)})
	return nil
}

// Unsubscribe undoes Subscribe; it is a no-op for a connection that was
// not subscribed.
func (h *Hub) Unsubscribe(conn uint64, topic string) error {
	if !validTopic(topic) {
		return ErrTopic
	}
	h.ExecRecord(Record{Kind: CmdUnsubscribe, Conn: conn, Payload: []byte(topic)})
	return nil
}

// Publish sends a text or binary message to every subscriber of topic but
// exclude (0: none), on this hub and, with a broker, on every hub sharing
// it. data is written or copied before Publish returns.
func (h *Hub) Publish(topic string, op libws.Opcode, data []byte, exclude uint64) error {
	if !validTopic(topic) {
		return ErrTopic
	}
	if op != libws.OpText && op != libws.OpBinary {
		return ErrOpcode
	}
	if len(data) > MaxRecordLen-2-len(topic) {
		return libws.ErrMessageTooBig
	}
	h.Exec(AppendPublish(nil, topic, op, data, exclude))
	return nil
}

// TopicCount returns the number of this hub's open connections subscribed
// to topic (a connection stops counting once its close begins). Commands
// the host queued before the call are carried out first, so a count
// follows the subscriptions sent before it. It costs O(subscribers).
func (h *Hub) TopicCount(topic string) int {
	n := 0
	h.loop.do(func() {
		if h.loop.stopped {
			return
		}
		l := h.loop
		l.runCommands()
		if len(l.ev) > 0 {
			// Outside an iteration, as in exec: the host may be waiting.
			h.host.Publish(l.ev)
			l.ev = l.ev[:0]
		}
		h.topics.reap()
		if t := h.topics.byName[topic]; t != nil {
			for _, m := range t.members {
				if m.open() {
					n++
				}
			}
		}
	})
	return n
}

// compressions counts the messages CompressShared compressed, so tests
// can check that a publish compresses once per level, not per subscriber.
var compressions atomic.Int64

type topic struct {
	name    string
	members []*member
}

// member is a subscribed connection: an epoll connection (c) or a
// goroutine one (g).
type member struct {
	id     uint64
	c      *conn
	g      *goConn
	topics map[*topic]int // its index in each topic's members
	// pend holds the frames published to c in the current batch, written
	// in one writev when the batch ends (see flushPublished).
	pend  [][]byte
	dirty bool
}

// topics is a hub's registry (Hub.topics).
type topics struct {
	byName map[string]*topic
	byConn map[uint64]*member
	dirty  []*member
	broker *broker
	iov    iovecs // writevN's vector, kept so that a call allocates nothing

	// goneMu guards the goroutine connections that are subscribed
	// (goSubs) and those that ended since the loop last looked (gone).
	goneMu  sync.Mutex
	goSubs  map[uint64]bool
	gone    []uint64
	anyGone atomic.Bool // gone is not empty: reap without the lock otherwise
}

// goConnEnded is called by a goroutine connection that ends (its lock
// held): its subscriptions go at the loop's next topic operation or turn.
func (h *Hub) goConnEnded(id uint64) {
	t := &h.topics
	t.goneMu.Lock()
	queued := t.goSubs[id]
	if queued {
		delete(t.goSubs, id)
		t.gone = append(t.gone, id)
		t.anyGone.Store(true)
	}
	t.goneMu.Unlock()
	if queued {
		h.loop.wake()
	}
}

// reap removes the goroutine connections that ended (runMu held).
func (t *topics) reap() {
	if !t.anyGone.Load() {
		return
	}
	t.goneMu.Lock()
	t.anyGone.Store(false)
	gone := t.gone
	t.gone = nil
	t.goneMu.Unlock()
	for _, id := range gone {
		t.leaveAll(id)
	}
}

// leaveAll removes a connection from every topic (runMu held). Its frames
// not yet written are dropped: it is gone, or its close is on its way and
// the batch that published them was flushed before the close (see
// topicCommand).
func (t *topics) leaveAll(id uint64) {
	m := t.byConn[id]
	if m == nil {
		return
	}
	for tp := range m.topics {
		t.detach(m, tp)
	}
	delete(t.byConn, id)
	clear(m.pend)
	m.pend = m.pend[:0]
	m.c, m.g = nil, nil
}

// detach takes m out of tp's members; a topic left empty is forgotten
// and, with a broker, unsubscribed.
func (t *topics) detach(m *member, tp *topic) {
	i := m.topics[tp]
	last := len(tp.members) - 1
	if i != last {
		moved := tp.members[last]
		tp.members[i] = moved
		moved.topics[tp] = i
	}
	tp.members[last] = nil
	tp.members = tp.members[:last]
	delete(m.topics, tp)
	if len(tp.members) == 0 {
		delete(t.byName, tp.name)
		if t.broker != nil {
			t.broker.want(tp.name, false)
		}
	}
}

// topicCommand carries out the topic commands (runMu held); for other
// commands it writes what was published to their connection earlier in
// the batch first, so that they take effect in order. It reports whether
// r was a topic command.
func (h *Hub) topicCommand(r Record) bool {
	t := &h.topics
	switch r.Kind {
	case CmdSubscribe:
		t.reap()
		h.subscribe(r.Conn, string(r.Payload))
	case CmdUnsubscribe:
		t.reap()
		if m, tp := t.byConn[r.Conn], t.byName[string(r.Payload)]; m != nil && tp != nil {
			if _, ok := m.topics[tp]; ok {
				t.detach(m, tp)
				if len(m.topics) == 0 {
					t.forget(m)
				}
			}
		}
	case CmdPublish, cmdPublishRemote:
		name, data, ok := splitPublish(r.Payload)
		op := libws.Opcode(r.Opcode)
		if !ok || !validTopic(name) || op != libws.OpText && op != libws.OpBinary {
			return true // ws_hub_send_raw refuses such records; Go hosts get nothing
		}
		t.reap()
		if r.Kind == CmdPublish && t.broker != nil {
			t.broker.publish(name, op, data)
		}
		h.loop.publishLocal(t.byName[name], op, data, r.Conn)
	default:
		if len(t.dirty) > 0 {
			if m := t.byConn[r.Conn]; m != nil && len(m.pend) > 0 {
				h.loop.flushMember(m)
			}
		}
		return false
	}
	return true
}

// forget drops a member with no topics left.
func (t *topics) forget(m *member) {
	delete(t.byConn, m.id)
	if m.g != nil {
		t.goneMu.Lock()
		delete(t.goSubs, m.id)
		t.goneMu.Unlock()
	}
}

// subscribe adds a subscription of an open connection (runMu held).
func (h *Hub) subscribe(id uint64, name string) {
	if !validTopic(name) {
		return
	}
	t := &h.topics
	m := t.byConn[id]
	if m == nil {
		m = &member{id: id}
		if c := h.loop.byID[id]; c != nil {
			if !c.publishable() {
				return
			}
			m.c = c
		} else {
			h.mu.Lock()
			g := h.goConns[id]
			h.mu.Unlock()
			if g == nil {
				return
			}
			// Registered before the check: a connection that ends after
			// it is then queued in gone and removed, whatever the timing.
			t.goneMu.Lock()
			t.goSubs[id] = true
			t.goneMu.Unlock()
			g.mu.Lock()
			open := !g.gone && g.s.p != nil && g.s.publishable()
			g.mu.Unlock()
			if !open {
				t.goneMu.Lock()
				delete(t.goSubs, id)
				t.goneMu.Unlock()
				return
			}
			m.g = g
		}
		m.topics = map[*topic]int{}
		t.byConn[id] = m
	}
	tp := t.byName[name]
	if tp == nil {
		tp = &topic{name: name}
		t.byName[name] = tp
		if t.broker != nil {
			t.broker.want(name, true)
		}
	}
	if _, ok := m.topics[tp]; ok {
		return
	}
	m.topics[tp] = len(tp.members)
	tp.members = append(tp.members, m)
}

// publishable says whether published messages are written to a
// connection: it is open. Once a close has begun (either side's, or a
// failure) the connection no longer counts as a subscriber, though it
// leaves its topics only when it ends for the host (finish, remove).
func (s *session) publishable() bool {
	return s.state == stOpen && s.p != nil && !s.p.CloseSent()
}

// open reports whether a member is an open connection (runMu held).
func (m *member) open() bool {
	if m.c != nil {
		return m.c.fd >= 0 && m.c.publishable()
	}
	if m.g == nil {
		return false
	}
	m.g.mu.Lock()
	defer m.g.mu.Unlock()
	return !m.g.gone && m.g.s.publishable()
}

// prepared is one published message, encoded on demand once per kind of
// frame its subscribers need.
type prepared struct {
	op      libws.Opcode
	payload []byte
	plain   []byte // header of the uncompressed frame
	// deflated[level] is the frame compressed at that level: header, body.
	deflated [10][2][]byte
}

// frame returns the header and body of the frame for a connection that
// compresses at level (0: not) messages of threshold bytes or more.
func (p *prepared) frame(level, threshold int) (hdr, body []byte) {
	if level > 0 && level < len(p.deflated) && len(p.payload) >= threshold {
		d := &p.deflated[level]
		if d[0] == nil {
			compressions.Add(1)
			body := libws.CompressShared(p.payload, level)
			d[0] = frameHeader(p.op, libws.Rsv1, len(body))
			d[1] = body
		}
		return d[0], d[1]
	}
	if p.plain == nil {
		p.plain = frameHeader(p.op, 0, len(p.payload))
	}
	return p.plain, p.payload
}

// frameHeader encodes the header of an unmasked final frame.
func frameHeader(op libws.Opcode, rsv byte, n int) []byte {
	h := libws.Header{Fin: true, Rsv: rsv, OpCode: op, Length: int64(n)}
	b := make([]byte, h.Size())
	libws.PutHeader(b, &h)
	return b
}

// deliverGo writes a published message to a goroutine connection: the
// shared frame for a server that may use it, a frame of its own for a
// client (masked) or a context-takeover compressor.
func (g *goConn) deliverGo(p *prepared) {
	g.mu.Lock()
	defer g.unlock()
	if g.gone || !g.s.publishable() {
		return
	}
	level, threshold, shareable := g.s.p.SharedCompression()
	if g.s.client || !shareable {
		g.send(p.op, p.payload)
		return
	}
	hdr, body := p.frame(level, threshold)
	g.out = append(append(g.out, hdr...), body...)
	g.account(int64(len(hdr) + len(body)))
	g.wakeWriter()
}
