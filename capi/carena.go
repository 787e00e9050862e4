package main

/*
#include "internal.h"
*/
import "C"

import "unsafe"

// carena hands out C heap memory for data lent to C across several frames
// of one call (ws_parser_next). Chunks are never moved or grown, so every
// pointer handed out stays valid until reset or free.
type carena struct {
	chunks []cchunk
}

type cchunk struct {
	p          unsafe.Pointer
	size, used int
}

const (
	arenaChunk = 64 << 10 // the usual chunk
	arenaKeep  = 1 << 20  // a first chunk up to this size survives reset
)

// copy copies b into the arena and returns where, or nil when out of
// memory. Empty payloads point at a static byte: never NULL.
func (a *carena) copy(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&C.ws__empty[0])
	}
	p := a.alloc(len(b))
	if p != nil {
		copy(unsafe.Slice((*byte)(p), len(b)), b)
	}
	return p
}

func (a *carena) alloc(n int) unsafe.Pointer {
	if k := len(a.chunks); k > 0 {
		c := &a.chunks[k-1]
		if c.size-c.used >= n {
			p := unsafe.Add(c.p, c.used)
			c.used += n
			return p
		}
	}
	size := max(arenaChunk, n)
	p := C.ws__malloc(C.size_t(size))
	if p == nil {
		return nil
	}
	a.chunks = append(a.chunks, cchunk{p: p, size: size, used: n})
	return p
}

// reset makes all memory reusable, keeping one modest chunk.
func (a *carena) reset() {
	if len(a.chunks) == 0 {
		return
	}
	keep := 0
	if a.chunks[0].size <= arenaKeep {
		keep = 1
		a.chunks[0].used = 0
	}
	for _, c := range a.chunks[keep:] {
		C.free(c.p)
	}
	clear(a.chunks[keep:])
	a.chunks = a.chunks[:keep]
}

func (a *carena) free() {
	for _, c := range a.chunks {
		C.free(c.p)
	}
	a.chunks = nil
}
