package main

import (
	"math"
	"sync"

	"golang.org/x/sys/unix"
)

// memoryBound is the machine's RAM and swap in bytes: Go cannot hold a
// copy larger than that, and trying ends the process with a fatal "out of
// memory" that no recover catches.
var memoryBound = sync.OnceValue(func() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return math.MaxInt
	}
	return min((uint64(si.Totalram)+uint64(si.Totalswap))*uint64(max(si.Unit, 1)), math.MaxInt)
})
