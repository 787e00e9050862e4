package hub

import (
	"sync"
	"time"
)

// testHost is a Host for tests: it keeps published events and queues
// commands the way the C host does, double-buffered under a mutex.
type testHost struct {
	mu      sync.Mutex
	events  []Record
	signal  chan struct{}
	cmds    []byte
	taken   []byte
	hub     *Hub
	waiting bool
	acks    []uint64 // close events handed out by the last next()
	held    int      // event bytes published and not yet taken by next()
}

func newTestHost() *testHost { return &testHost{signal: make(chan struct{}, 1)} }

func (t *testHost) Publish(b []byte) {
	t.mu.Lock()
	for {
		r, rest, ok := NextRecord(b)
		if !ok {
			break
		}
		r.Payload = append([]byte(nil), r.Payload...)
		t.events = append(t.events, r)
		t.held += len(b) - len(rest)
		b = rest
	}
	t.mu.Unlock()
	select {
	case t.signal <- struct{}{}:
	default:
	}
}

// Backlog makes testHost a BackloggedHost, as the C host is.
func (t *testHost) Backlog() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.held
}

func (t *testHost) Commands() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.taken, t.cmds = t.cmds, t.taken[:0]
	return t.taken
}

func (t *testHost) send(kind, op uint8, code uint16, conn uint64, payload []byte) {
	if t.hub.opts.Inline {
		t.hub.Exec(AppendRecord(nil, kind, op, code, conn, 0, payload))
		return
	}
	t.mu.Lock()
	t.cmds = AppendRecord(t.cmds, kind, op, code, conn, 0, payload)
	t.mu.Unlock()
	t.hub.Wake()
}

// next waits for the next event, up to d, running an inline hub while it
// waits. Like the C host, it acknowledges the close events it handed out
// once it is called again.
func (t *testHost) next(d time.Duration) (Record, bool) {
	for _, id := range t.acks {
		t.send(CmdCloseAck, 0, 0, id, nil)
	}
	t.acks = t.acks[:0]
	deadline := time.After(d)
	for {
		t.mu.Lock()
		if len(t.events) > 0 {
			r := t.events[0]
			t.events = t.events[1:]
			t.held -= recordHeader + len(r.Payload)
			t.mu.Unlock()
			if r.Kind == EventClose {
				t.acks = append(t.acks, r.Conn)
			}
			return r, true
		}
		t.mu.Unlock()
		if t.hub.opts.Inline {
			select {
			case <-deadline:
				return Record{}, false
			default:
			}
			if t.hub.Run(10 * time.Millisecond) {
				return Record{}, false
			}
			continue
		}
		select {
		case <-t.signal:
		case <-deadline:
			return Record{}, false
		}
	}
}
