//go:build !linux

package main

import "math"

// memoryBound: without sysinfo(2) no copy is refused up front; a copy
// larger than memory ends the process as it would in Go.
func memoryBound() uint64 { return math.MaxInt }
