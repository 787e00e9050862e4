//go:build linux

package hub

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/libws/libws/libws"
)

// sub is a test client subscribed (or about to be) to topics of a hub:
// its reader goroutine collects the messages it gets.
type sub struct {
	id   uint64
	c    *libws.Conn
	msgs chan []byte
	done chan error // the reader's end
}

// dialSub connects a client to a hub's port, running an inline hub
// meanwhile, and starts reading its messages.
func dialSub(t *testing.T, host *testHost, port int, opts *libws.DialOptions) *sub {
	t.Helper()
	dialed := make(chan *libws.Conn, 1)
	go func() {
		c, _, err := libws.Dial(context.Background(), fmt.Sprintf("ws://127.0.0.1:%d/", port), opts)
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	id := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	c := <-dialed
	if c == nil {
		t.FailNow()
	}
	s := &sub{id: id, c: c, msgs: make(chan []byte, 1<<16), done: make(chan error, 1)}
	go func() {
		for {
			_, m, err := c.ReadMessage()
			if err != nil {
				s.done <- err
				return
			}
			s.msgs <- m
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return s
}

// expect takes the client's next message and checks it.
func (s *sub) expect(t *testing.T, want string, d time.Duration) {
	t.Helper()
	select {
	case m := <-s.msgs:
		if string(m) != want {
			t.Fatalf("conn %d got %.60q, want %.60q", s.id, m, want)
		}
	case err := <-s.done:
		t.Fatalf("conn %d ended (%v) waiting for %.60q", s.id, err, want)
	case <-time.After(d):
		t.Fatalf("conn %d: no message within %v, want %.60q", s.id, d, want)
	}
}

func mustSubscribe(t *testing.T, h *Hub, id uint64, topic string) {
	t.Helper()
	if err := h.Subscribe(id, topic); err != nil {
		t.Fatal(err)
	}
}

func mustPublish(t *testing.T, h *Hub, topic, msg string, exclude uint64) {
	t.Helper()
	if err := h.Publish(topic, libws.OpText, []byte(msg), exclude); err != nil {
		t.Fatal(err)
	}
}

// Every subscriber gets every publish, in order, but the excluded one;
// unsubscribing and disconnecting take connections out of the topic and
// out of its count.
func TestTopicFanOut(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, port := newHostHub(t, o)
		subs := make([]*sub, 5)
		for i := range subs {
			subs[i] = dialSub(t, host, port, nil)
			mustSubscribe(t, h, subs[i].id, "room")
		}
		mustSubscribe(t, h, subs[0].id, "other")
		if n := h.TopicCount("room"); n != 5 {
			t.Fatalf("TopicCount(room) = %d, want 5", n)
		}
		if n := h.TopicCount("nobody"); n != 0 {
			t.Fatalf("TopicCount(nobody) = %d", n)
		}
		const count = 200
		for i := 0; i < count; i++ {
			mustPublish(t, h, "room", fmt.Sprint("m", i), subs[0].id)
		}
		mustPublish(t, h, "other", "only-0", 0)
		subs[0].expect(t, "only-0", 5*time.Second)
		for _, s := range subs[1:] {
			for i := 0; i < count; i++ {
				s.expect(t, fmt.Sprint("m", i), 5*time.Second)
			}
		}
		if err := h.Unsubscribe(subs[1].id, "room"); err != nil {
			t.Fatal(err)
		}
		h.Subscribe(subs[2].id, "room") // twice is once
		if n := h.TopicCount("room"); n != 4 {
			t.Fatalf("after an unsubscribe TopicCount = %d, want 4", n)
		}
		subs[3].c.CloseNow()
		waitEvent(t, host, EventClose, subs[3].id, 5*time.Second)
		if n := h.TopicCount("room"); n != 3 {
			t.Fatalf("after a disconnect TopicCount = %d, want 3", n)
		}
		mustPublish(t, h, "room", "after", 0)
		mustPublish(t, h, "other", "end", 0)
		subs[0].expect(t, "after", 5*time.Second)
		subs[0].expect(t, "end", 5*time.Second)
		subs[2].expect(t, "after", 5*time.Second)
		subs[4].expect(t, "after", 5*time.Second)
		mustSubscribe(t, h, subs[1].id, "other")
		mustPublish(t, h, "other", "end2", 0)
		subs[1].expect(t, "end2", 5*time.Second) // not "after": it had left
	})
}

func TestTopicBadArguments(t *testing.T) {
	h, _, _ := newHostHub(t, Options{})
	for _, topic := range []string{"", strings.Repeat("x", MaxTopicLen+1)} {
		if err := h.Subscribe(1, topic); err != ErrTopic {
			t.Errorf("Subscribe(%d bytes) = %v, want ErrTopic", len(topic), err)
		}
		if err := h.Publish(topic, libws.OpText, nil, 0); err != ErrTopic {
			t.Errorf("Publish(%d bytes) = %v, want ErrTopic", len(topic), err)
		}
	}
	for _, op := range []libws.Opcode{libws.OpPing, libws.OpClose, libws.OpContinuation, 3} {
		if err := h.Publish("t", op, nil, 0); err != ErrOpcode {
			t.Errorf("Publish(opcode %d) = %v, want ErrOpcode", op, err)
		}
	}
	// Unknown connections and malformed records are ignored, not a crash.
	h.Subscribe(12345, "t")
	h.Exec(AppendRecord(nil, CmdPublish, uint8(libws.OpText), 0, 0, 0, []byte{9}))
	h.Exec(AppendRecord(nil, CmdPublish, uint8(libws.OpText), 0, 0, 0, []byte{0, 0, 'x'}))
	if n := h.TopicCount("t"); n != 0 {
		t.Fatalf("an unknown connection was subscribed: %d", n)
	}
}

// The publishes of one batch to a connection leave in one write: the
// peer counts one data segment for three of them.
func TestTopicBatchLeavesInOneWrite(t *testing.T) {
	h, host, port := newHostHub(t, Options{Inline: true})
	id, nc, _ := openRaw(t, host, port, "/")
	mustSubscribe(t, h, id, "t")
	br := bufio.NewReader(nc)
	segments := func() uint32 {
		raw, _ := nc.(*net.TCPConn).SyscallConn()
		var info *unix.TCPInfo
		var err error
		raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
		if err != nil {
			t.Fatal(err)
		}
		return info.Data_segs_in
	}
	before := segments()
	var batch []byte
	for _, m := range []string{"one", "two", "three"} {
		batch = AppendPublish(batch, "t", libws.OpText, []byte(m), 0)
	}
	batch = AppendRecord(batch, CmdSend, uint8(libws.OpText), 0, id, 0, []byte("four"))
	h.Exec(batch)
	var want []byte
	for _, m := range []string{"one", "two", "three", "four"} {
		want = append(append(want, 0x81, byte(len(m))), m...)
	}
	got := make([]byte, len(want))
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
	if n := segments() - before; n > 2 {
		t.Fatalf("three publishes and a send of one batch came in %d segments", n)
	}
}

// With permessage-deflate without context takeover, a publish is
// compressed once per level among its subscribers, not once per
// subscriber; context-takeover subscribers get their own compression and
// still decode every message.
func TestTopicCompressesOncePerLevel(t *testing.T) {
	h, host, _ := newHostHub(t, Options{})
	listen := func(c *libws.CompressionOptions) int {
		_, port, err := h.Listen("127.0.0.1:0", &Options{Compression: c})
		if err != nil {
			t.Fatal(err)
		}
		return port
	}
	level1 := listen(&libws.CompressionOptions{})
	level6 := listen(&libws.CompressionOptions{Level: 6})
	takeover := listen(&libws.CompressionOptions{ContextTakeover: true})
	deflate := &libws.DialOptions{Compression: &libws.CompressionOptions{}}
	deflateTakeover := &libws.DialOptions{Compression: &libws.CompressionOptions{ContextTakeover: true}}
	var subs []*sub
	for i := 0; i < 4; i++ {
		subs = append(subs, dialSub(t, host, level1, deflate))
	}
	subs = append(subs, dialSub(t, host, level6, deflate), dialSub(t, host, level6, deflate))
	subs = append(subs, dialSub(t, host, level1, nil)) // no compression
	subs = append(subs, dialSub(t, host, takeover, deflateTakeover), dialSub(t, host, takeover, deflateTakeover))
	for _, s := range subs {
		mustSubscribe(t, h, s.id, "t")
	}
	const count = 5
	before := compressions.Load()
	for i := 0; i < count; i++ {
		mustPublish(t, h, "t", fmt.Sprint(i, strings.Repeat(" compressible text", 100)), 0)
	}
	if n := compressions.Load() - before; n != 2*count {
		t.Fatalf("%d publishes to subscribers at two levels were compressed %d times, want %d", count, n, 2*count)
	}
	mustPublish(t, h, "t", "short", 0) // under the threshold: not compressed
	if n := compressions.Load() - before; n != 2*count {
		t.Fatalf("a message under the threshold was compressed")
	}
	for _, s := range subs {
		for i := 0; i < count; i++ {
			s.expect(t, fmt.Sprint(i, strings.Repeat(" compressible text", 100)), 5*time.Second)
		}
		s.expect(t, "short", 5*time.Second)
	}
}

// A subscriber that does not read is held to the session's limits: it is
// failed with 1008 (EPolicy) at MaxBuffered, and the others get every
// message meanwhile, promptly.
func TestTopicSlowSubscriberDoesNotSlowOthers(t *testing.T) {
	const maxBuffered = 1 << 20
	h, host, _ := newHostHub(t, Options{})
	_, port, err := h.Listen("127.0.0.1:0", &Options{HighWater: 64 << 10, MaxBuffered: maxBuffered})
	if err != nil {
		t.Fatal(err)
	}
	slowID, slow, _ := openRaw(t, host, port, "/")
	// Small kernel buffers on both sides, so that what it does not read
	// stays in the hub.
	slow.(*net.TCPConn).SetReadBuffer(16 << 10)
	shrinkSendBuffer(t, h, slowID, 16<<10)
	mustSubscribe(t, h, slowID, "t")
	fast := make([]*sub, 3)
	for i := range fast {
		fast[i] = dialSub(t, host, port, nil)
		mustSubscribe(t, h, fast[i].id, "t")
	}
	errs := make(chan Record, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if r, ok := host.next(50 * time.Millisecond); ok && r.Kind == EventError && r.Conn == slowID {
				errs <- r
				return
			}
		}
	}()
	const count = 3000
	msg := strings.Repeat("x", 1000)
	start := time.Now()
	got := make([]int, len(fast))
	for i := 0; i < count; i++ {
		mustPublish(t, h, "t", fmt.Sprintf("%05d%s", i, msg), 0)
		// Pace by the fast readers, so that only the one that does not
		// read falls behind.
		for j, s := range fast {
			for got[j] < i-100 {
				select {
				case m := <-s.msgs:
					if want := fmt.Sprintf("%05d", got[j]); string(m[:5]) != want {
						t.Fatalf("fast subscriber %d got %q, want %s", j, m[:5], want)
					}
					got[j]++
				case <-time.After(5 * time.Second):
					t.Fatalf("fast subscriber %d stalled at %d of %d", j, got[j], i)
				}
			}
		}
	}
	for j, s := range fast {
		for ; got[j] < count; got[j]++ {
			s.expect(t, fmt.Sprintf("%05d%s", got[j], msg), 5*time.Second)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("fan-out took %v", d)
	}
	var r Record
	select {
	case r = <-errs:
	case <-time.After(10 * time.Second):
		t.Fatalf("the subscriber that does not read was not failed (%d bytes buffered)", h.BufferedAmount(slowID))
	}
	if r.Status != EPolicy || r.Code != 1008 {
		t.Fatalf("the slow subscriber's error: status %d code %d %q, want EPolicy 1008", r.Status, r.Code, r.Payload)
	}
	if n := h.TopicCount("t"); n != 3 {
		t.Fatalf("TopicCount = %d after the slow one failed, want 3", n)
	}
}

// Subscribers disconnecting while messages are being published: the
// others get every message in order, the count follows, nothing breaks.
func TestTopicSubscribersDisconnectMidPublish(t *testing.T) {
	eachMode(t, func(t *testing.T, o Options) {
		h, host, port := newHostHub(t, o)
		var subs []*sub
		for i := 0; i < 12; i++ {
			s := dialSub(t, host, port, nil)
			mustSubscribe(t, h, s.id, "t")
			subs = append(subs, s)
		}
		const count = 2000
		published := make(chan struct{})
		go func() {
			defer close(published)
			for i := 0; i < count; i++ {
				h.Publish("t", libws.OpBinary, []byte(fmt.Sprint(i)), 0)
				if i == count/4 {
					for _, s := range subs[:6] {
						if s.id%2 == 0 {
							s.c.CloseNow()
						} else {
							// A close frame of its own: libws.Conn's Close
							// would read concurrently with the reader.
							s.c.NetConn().Write(maskedFrame(0x88, []byte{0x03, 0xE8}))
						}
					}
				}
			}
		}()
		if o.Inline {
			for {
				select {
				case <-published:
				default:
					h.Run(time.Millisecond)
					continue
				}
				break
			}
		} else {
			<-published
		}
		for _, s := range subs[6:] {
			for i := 0; i < count; i++ {
				s.expect(t, fmt.Sprint(i), 10*time.Second)
			}
		}
		closing := map[uint64]bool{}
		for _, s := range subs[:6] {
			closing[s.id] = true
		}
		for deadline := time.Now().Add(10 * time.Second); len(closing) > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("no close event for %v", closing)
			}
			if r, ok := host.next(100 * time.Millisecond); ok && r.Kind == EventClose {
				delete(closing, r.Conn)
			}
		}
		if n := h.TopicCount("t"); n != 6 {
			t.Fatalf("TopicCount = %d, want 6", n)
		}
	})
}

// Goroutine connections subscribe too: a hub client (its frames masked
// one by one) and a TLS server connection; both leave with the connection.
func TestTopicGoroutineSubscribers(t *testing.T) {
	_, echoPort, _ := startEcho(t, &Options{})
	h, host := newClientHub(t)
	client, err := h.Connect(fmt.Sprintf("ws://127.0.0.1:%d/", echoPort), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, host, EventOpen, client, 5*time.Second)
	_, tlsPort, err := h.Listen("127.0.0.1:0", &Options{TLS: selfSigned(t)})
	if err != nil {
		t.Fatal(err)
	}
	nc, p := tlsUpgrade(t, tlsPort)
	defer nc.Close()
	server := waitEvent(t, host, EventOpen, 0, 5*time.Second).Conn
	mustSubscribe(t, h, client, "t")
	mustSubscribe(t, h, server, "t")
	if n := h.TopicCount("t"); n != 2 {
		t.Fatalf("TopicCount = %d, want 2", n)
	}
	for i := 0; i < 50; i++ {
		mustPublish(t, h, "t", fmt.Sprint("m", i), 0)
	}
	// The echo server unmasks what the client sent: it comes back whole.
	for i := 0; i < 50; i++ {
		r := waitEvent(t, host, EventMessage, client, 5*time.Second)
		if string(r.Payload) != fmt.Sprint("m", i) {
			t.Fatalf("echo %d: %q", i, r.Payload)
		}
	}
	frames := readFrames(t, nc, p, 50)
	for i, f := range frames {
		if string(f.Payload) != fmt.Sprint("m", i) {
			t.Fatalf("TLS frame %d: %q", i, f.Payload)
		}
	}
	nc.Close()
	waitEvent(t, host, EventClose, server, 5*time.Second)
	h.ExecRecord(Record{Kind: CmdClose, Code: 1000, Conn: client})
	waitEvent(t, host, EventClose, client, 5*time.Second)
	if n := h.TopicCount("t"); n != 0 {
		t.Fatalf("TopicCount = %d after both ended, want 0", n)
	}
}

// Two hubs listen on one port with ReusePort; the kernel spreads
// connections between them. Without it the second bind fails.
func TestReusePortTwoHubs(t *testing.T) {
	h1, host1 := newClientHub(t)
	h2, host2 := newClientHub(t)
	_, port, err := h1.Listen("127.0.0.1:0", &Options{ReusePort: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if _, _, err := h2.Listen(addr, nil); err == nil {
		t.Fatal("a second listener without ReusePort bound the same port")
	}
	if _, _, err := h2.Listen(addr, &Options{ReusePort: true}); err != nil {
		t.Fatal(err)
	}
	opened := map[*testHost]int{}
	for i := 0; i < 24; i++ {
		nc, _, err := rawUpgrade(port, "/")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
	}
	for _, host := range []*testHost{host1, host2} {
		for {
			if _, ok := host.next(300 * time.Millisecond); !ok {
				break
			}
			opened[host]++
		}
	}
	if opened[host1]+opened[host2] != 24 || opened[host1] == 0 || opened[host2] == 0 {
		t.Fatalf("connections per hub: %d and %d, want 24 spread over both", opened[host1], opened[host2])
	}
}

// A subscriber compressing with context takeover gets its frames encoded
// in the order they leave, even with sends to it between publishes of one
// batch: its peer inflates each with the window of the ones before.
func TestTopicTakeoverOrderInBatch(t *testing.T) {
	h, host, _ := newHostHub(t, Options{Inline: true})
	_, port, err := h.Listen("127.0.0.1:0", &Options{Compression: &libws.CompressionOptions{ContextTakeover: true}})
	if err != nil {
		t.Fatal(err)
	}
	s := dialSub(t, host, port, &libws.DialOptions{Compression: &libws.CompressionOptions{ContextTakeover: true}})
	text := func(i int) string { return fmt.Sprint(i, strings.Repeat(" the same words again", 20)) }
	var batch []byte
	batch = AppendSubscribe(batch, s.id, "t")
	for i := 0; i < 6; i += 2 {
		batch = AppendPublish(batch, "t", libws.OpText, []byte(text(i)), 0)
		batch = AppendRecord(batch, CmdSend, uint8(libws.OpText), 0, s.id, 0, []byte(text(i+1)))
	}
	h.Exec(batch)
	for i := 0; i < 6; i++ {
		s.expect(t, text(i), 5*time.Second)
	}
}

// Malformed publish records decode to nothing, never past their bounds.
func FuzzSplitPublish(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 0, 'a', 'b', 'c', 'x'})
	f.Add([]byte{0xff, 0xff, 'a'})
	f.Fuzz(func(t *testing.T, p []byte) {
		topic, data, ok := splitPublish(p)
		if !ok {
			return
		}
		if 2+len(topic)+len(data) != len(p) || string(p[2:2+len(topic)]) != topic {
			t.Fatalf("split %q into %q and %q", p, topic, data)
		}
	})
}
