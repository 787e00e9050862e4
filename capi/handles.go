package main

/*
#include "ws.h"
*/
import "C"

import (
	"sync"
	"unsafe"

	pointer "github.com/mattn/go-pointer"
)

// handle is implemented by every Go object that crosses to C as a handle.
type handle interface{ handleBase() *base }

// register makes h a handle: go-pointer gives a C pointer (a 1-byte malloc)
// that C keeps and hands back; the Go object itself never leaves Go.
func register(h handle) unsafe.Pointer {
	key := pointer.Save(h)
	h.handleBase().key = key
	return key
}

// restore returns the live handle of type T behind key, or the zero T for
// NULL, freed, made-up or other-type handles. It does not allocate.
func restore[T handle](key unsafe.Pointer) T {
	var zero T
	v, ok := pointer.Restore(key).(T)
	if !ok || v.handleBase().freed.Load() {
		return zero
	}
	return v
}

// baseOf returns the base of any live handle behind key, or nil.
func baseOf(key unsafe.Pointer) *base {
	if h, ok := pointer.Restore(key).(handle); ok {
		if b := h.handleBase(); !b.freed.Load() {
			return b
		}
	}
	return nil
}

// badHandle reports a NULL, freed or made-up handle of the named kind.
func badHandle(kind string) C.int {
	return failf(nil, C.WS_EBADHANDLE, "invalid or freed %s handle", kind)
}

// Freed handles are not given back to go-pointer at once: they stay in its
// store, marked freed, until quarantineSize later frees push them out. So a
// recently freed handle reliably gives WS_EBADHANDLE instead of aliasing a
// new handle that malloc placed at the same address. The ring is a global
// array so that leak checkers, which scan globals but not the Go heap, see
// the keys as referenced.
const quarantineSize = 1024

var (
	quarantineMu   sync.Mutex
	quarantine     [quarantineSize]unsafe.Pointer
	quarantineNext int
)

// release marks b freed. It returns false if b was freed already (by a
// concurrent destructor), in which case the caller must free nothing.
func release(b *base) bool {
	if !b.freed.CompareAndSwap(false, true) {
		return false
	}
	quarantineMu.Lock()
	old := quarantine[quarantineNext]
	quarantine[quarantineNext] = b.key
	quarantineNext = (quarantineNext + 1) % quarantineSize
	quarantineMu.Unlock()
	if old != nil {
		pointer.Unref(old)
	}
	return true
}
