package hub

import (
	"cmp"
	"slices"
)

// A bufferHolder is a connection holding unsent bytes, as the hub-wide cap
// (Options.MaxTotalBuffered) sees it: how many, and how to fail it.
type bufferHolder struct {
	n    int64
	fail func()
}

// whyTotalCap is the reason of the 1008 of a connection failed by the cap.
const whyTotalCap = "hub-wide send buffer limit reached"

// appendGoConnHolders adds the goroutine connections that hold unsent
// bytes.
func (h *Hub) appendGoConnHolders(hs []bufferHolder) []bufferHolder {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, g := range h.goConns {
		if n := g.buffered.Load(); n > 0 {
			hs = append(hs, bufferHolder{n: n, fail: func() { g.failBuffered(whyTotalCap) }})
		}
	}
	return hs
}

// failLargest fails the holders with the largest buffers until the hub's
// unsent bytes are under MaxTotalBuffered: the fewest connections give the
// most memory back.
func (h *Hub) failLargest(hs []bufferHolder) {
	hs = h.appendGoConnHolders(hs)
	total, limit := h.total.Load(), int64(h.opts.MaxTotalBuffered)
	slices.SortFunc(hs, func(a, b bufferHolder) int { return cmp.Compare(b.n, a.n) })
	for _, x := range hs {
		if total <= limit {
			return
		}
		total -= x.n
		x.fail()
	}
}
