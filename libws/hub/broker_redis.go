package hub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/libws/libws/libws"
)

// A broker joins the hubs that share a Redis server (Options.Broker) into
// one system of topics. Each hub delivers its own publishes to its local
// subscribers itself and publishes them to Redis, tagged with its
// instance id; it subscribes in Redis to exactly the topics it has local
// subscribers for (as their counts go 0 -> 1 and 1 -> 0) and delivers what
// comes from Redis to them, skipping its own messages. So a message
// reaches every subscriber once, in the order its publisher sent it (one
// publishing goroutine, pipelines in order, no retries that could send one
// twice).
//
// All Redis I/O runs on the broker's goroutines: the loop only queues
// (publish, want) and takes what arrived (takeInbox), so a slow or dead
// Redis never holds it up. While Redis is down, publishes reach local
// subscribers only; the broker reconnects with backoff, subscribes again
// and reports both changes to the host (EventBroker).
//
// On the wire: channel "libws:" + topic; message: the publishing hub's
// instance id (u64 LE), the opcode (u8), the data.
type broker struct {
	h        *Hub
	addr     string
	opt      *redis.Options
	pub      *redis.Client
	instance uint64
	up       atomic.Bool

	wantMu  sync.Mutex
	wantSet map[string]bool // the topics with local subscribers
	changed chan struct{}

	outMu    sync.Mutex
	out      [][]byte // messages to publish: channel length (u16), channel, message
	outBytes int
	outReady chan struct{}

	inMu    sync.Mutex
	in      []byte // publish records for the loop (cmdPublishRemote)
	dropped atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// brokerChannelPrefix namespaces the hubs' Redis channels.
const brokerChannelPrefix = "libws:"

// brokerQueueMax bounds the bytes waiting to go to Redis and those from
// Redis waiting for the loop: past it messages are dropped (counted), not
// buffered without bound.
const brokerQueueMax = 64 << 20

// Backoff of reconnections, and the health check of the subscription
// connection (a peer that vanished without a reset is noticed by the
// missing pong).
var (
	brokerBackoffMin = 50 * time.Millisecond
	brokerBackoffMax = 2 * time.Second
	brokerPingEvery  = time.Second
	brokerPongWithin = 3 * time.Second
)

// initTopics sets up the topic registry and, with Options.Broker, starts
// the broker's goroutines.
func (h *Hub) initTopics() error {
	h.topics.byName = map[string]*topic{}
	h.topics.byConn = map[uint64]*member{}
	h.topics.goSubs = map[uint64]bool{}
	if h.opts.Broker == "" {
		return nil
	}
	b, err := newBroker(h, h.opts.Broker)
	if err != nil {
		return err
	}
	h.topics.broker = b
	return nil
}

// CheckBrokerURL reports whether url is a broker URL New accepts
// (redis://host:port/db).
func CheckBrokerURL(url string) error {
	_, err := parseBrokerURL(url)
	return err
}

func parseBrokerURL(url string) (*redis.Options, error) {
	if !strings.HasPrefix(url, "redis://") {
		return nil, fmt.Errorf("hub: broker URL %q: want redis://host:port/db", url)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("hub: broker URL %q: %w", url, err)
	}
	return opt, nil
}

func newBroker(h *Hub, url string) (*broker, error) {
	opt, err := parseBrokerURL(url)
	if err != nil {
		return nil, err
	}
	opt.MaxRetries = -1 // a retried PUBLISH could arrive twice
	// RESP2: over RESP3, go-redis (9.17) peeks at the name of each push
	// before reading it and drops one whose name is cut by the end of what
	// it has buffered (">3\r\n$7\r\nme" reads as a push named "me", of
	// no known kind): a pub/sub message lost now and then, mid-stream.
	// RESP2 delivers messages as replies, which it reads whole.
	opt.Protocol = 2
	opt.DialTimeout = time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.PoolSize = 2
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	b := &broker{
		h: h, addr: opt.Addr, opt: opt, pub: redis.NewClient(opt),
		instance: rand.Uint64() | 1,
		wantSet:  map[string]bool{},
		changed:  make(chan struct{}, 1),
		outReady: make(chan struct{}, 1),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(2)
	go b.subscriber()
	go b.publisher()
	return b, nil
}

// stopBroker ends the broker's goroutines (Shutdown).
func (h *Hub) stopBroker() {
	b := h.topics.broker
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
	b.pub.Close()
}

// want records whether this hub has local subscribers of topic (loop).
func (b *broker) want(topic string, yes bool) {
	b.wantMu.Lock()
	if yes {
		b.wantSet[topic] = true
	} else {
		delete(b.wantSet, topic)
	}
	b.wantMu.Unlock()
	signal(b.changed)
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// publish queues a local publish for Redis (loop). While Redis is down
// it is dropped: local subscribers have it already.
func (b *broker) publish(topic string, op libws.Opcode, data []byte) {
	if !b.up.Load() {
		return
	}
	ch := brokerChannelPrefix + topic
	m := make([]byte, 0, 2+len(ch)+9+len(data))
	m = binary.LittleEndian.AppendUint16(m, uint16(len(ch)))
	m = append(m, ch...)
	m = binary.LittleEndian.AppendUint64(m, b.instance)
	m = append(m, byte(op))
	m = append(m, data...)
	b.outMu.Lock()
	if b.outBytes+len(m) > brokerQueueMax {
		b.outMu.Unlock()
		b.dropped.Add(1)
		return
	}
	b.out = append(b.out, m)
	b.outBytes += len(m)
	b.outMu.Unlock()
	signal(b.outReady)
}

// publisher sends the queued messages, each batch in one pipeline, in
// order.
func (b *broker) publisher() {
	defer b.wg.Done()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.outReady:
		}
		b.outMu.Lock()
		batch := b.out
		b.out, b.outBytes = nil, 0
		b.outMu.Unlock()
		for len(batch) > 0 {
			n := min(len(batch), 1024)
			pipe := b.pub.Pipeline()
			for _, m := range batch[:n] {
				cl := int(binary.LittleEndian.Uint16(m))
				pipe.Publish(b.ctx, string(m[2:2+cl]), m[2+cl:])
			}
			if _, err := pipe.Exec(b.ctx); err != nil {
				// Lost with the connection; the subscriber reports the outage.
				b.dropped.Add(int64(n))
			}
			batch = batch[n:]
		}
	}
}

// subscriber keeps the subscription connection: it connects, subscribes
// to the wanted topics, follows changes of that set, hands messages to
// the loop, and on failure reports the outage and reconnects with backoff.
func (b *broker) subscriber() {
	defer b.wg.Done()
	backoff := brokerBackoffMin
	down := false
	for b.ctx.Err() == nil {
		err := b.session(func() {
			backoff = brokerBackoffMin
			down = false
			b.up.Store(true)
			b.event(BrokerUp, 0, b.addr)
		})
		b.up.Store(false)
		if b.ctx.Err() != nil {
			return
		}
		if !down {
			down = true
			b.event(BrokerDown, EIO, fmt.Sprintf("broker %s: %v", b.addr, err))
		}
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, brokerBackoffMax)
	}
}

var errNoPong = errors.New("no answer to ping")

// session serves one subscription connection until it fails; connected
// runs once it is subscribed to every wanted topic.
func (b *broker) session(connected func()) error {
	ps := b.pub.Subscribe(b.ctx)
	if err := ps.Ping(b.ctx); err != nil {
		ps.Close()
		return err
	}
	subscribed := map[string]bool{}
	if err := b.sync(ps, subscribed); err != nil {
		ps.Close()
		return err
	}
	broken := make(chan error, 1)
	var lastSeen atomic.Int64
	lastSeen.Store(time.Now().UnixNano())
	readerDone := make(chan struct{})
	// The reader is gone before session returns: nothing reaches the loop
	// (whose descriptors Shutdown closes) once the broker has stopped.
	defer func() { ps.Close(); <-readerDone }()
	go func() {
		defer close(readerDone)
		for {
			msg, err := ps.Receive(b.ctx)
			if err != nil {
				broken <- err
				return
			}
			lastSeen.Store(time.Now().UnixNano())
			if m, ok := msg.(*redis.Message); ok {
				b.received(m)
			}
		}
	}()
	connected()
	tick := time.NewTicker(brokerPingEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return nil
		case err := <-broken:
			return err
		case <-b.changed:
			if err := b.sync(ps, subscribed); err != nil {
				return err
			}
		case <-tick.C:
			if time.Since(time.Unix(0, lastSeen.Load())) > brokerPongWithin {
				return errNoPong
			}
			if err := ps.Ping(b.ctx); err != nil {
				return err
			}
		}
	}
}

// sync brings the connection's subscriptions to the wanted set.
func (b *broker) sync(ps *redis.PubSub, subscribed map[string]bool) error {
	b.wantMu.Lock()
	var add, drop []string
	for t := range b.wantSet {
		if !subscribed[t] {
			add = append(add, brokerChannelPrefix+t)
		}
	}
	for t := range subscribed {
		if !b.wantSet[t] {
			drop = append(drop, brokerChannelPrefix+t)
		}
	}
	b.wantMu.Unlock()
	if len(add) > 0 {
		if err := ps.Subscribe(b.ctx, add...); err != nil {
			return err
		}
		for _, c := range add {
			subscribed[c[len(brokerChannelPrefix):]] = true
		}
	}
	if len(drop) > 0 {
		if err := ps.Unsubscribe(b.ctx, drop...); err != nil {
			return err
		}
		for _, c := range drop {
			delete(subscribed, c[len(brokerChannelPrefix):])
		}
	}
	return nil
}

// received hands a message from Redis to the loop, unless this hub
// published it (its subscribers have it) or it is not one of ours.
func (b *broker) received(m *redis.Message) {
	topic, ok := strings.CutPrefix(m.Channel, brokerChannelPrefix)
	p := m.Payload
	if !ok || !validTopic(topic) || len(p) < 9 {
		return
	}
	if binary.LittleEndian.Uint64([]byte(p[:8])) == b.instance {
		return
	}
	op := libws.Opcode(p[8])
	if op != libws.OpText && op != libws.OpBinary {
		return
	}
	b.inMu.Lock()
	if len(b.in)+len(p) > brokerQueueMax {
		b.inMu.Unlock()
		b.dropped.Add(1)
		return
	}
	first := len(b.in) == 0
	b.in = appendPublish(b.in, cmdPublishRemote, topic, op, []byte(p[9:]), 0)
	b.inMu.Unlock()
	if first {
		b.h.loop.wake()
	}
}

// takeInbox returns the messages from Redis for the loop to deliver, at
// each turn's commands; it also removes the goroutine connections that
// ended (their wake-up brought the loop here), so that a topic they leave
// empty is unsubscribed in Redis without waiting for another command.
func (t *topics) takeInbox() []byte {
	t.reap()
	b := t.broker
	if b == nil {
		return nil
	}
	b.inMu.Lock()
	in := b.in
	b.in = nil
	b.inMu.Unlock()
	return in
}

// event reports a change of the broker connection to the host.
func (b *broker) event(code uint16, status int32, msg string) {
	b.h.host.Publish(appendRecord(nil, EventBroker, 0, code, 0, 0, status, []byte(msg)))
}
