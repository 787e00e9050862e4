//go:build linux

package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies go into a log-linear histogram (the HDR layout): values below
// 2*subCount nanoseconds get one bucket each, and every further power of two
// is split into subCount buckets, so any recorded value is known to within
// 1/subCount (≈1.6%) whatever its magnitude. Memory is fixed, unlike keeping
// every sample, which matters at 10,000 connections × millions of messages.
const (
	subBits  = 6
	subCount = 1 << subBits
	// maxBits bounds the largest recordable value (2^40 ns ≈ 18 min);
	// anything longer is clamped into the last bucket.
	maxBits  = 40
	nBuckets = (maxBits - subBits + 1) * subCount
	maxValue = int64(1)<<maxBits - 1
)

// bucketOf maps a non-negative value to its bucket index.
func bucketOf(v int64) int {
	if v < 0 {
		v = 0
	} else if v > maxValue {
		v = maxValue
	}
	u := uint64(v)
	// shift is how far v must be shifted right to leave subBits+1
	// significant bits; the index is then contiguous with the linear range.
	shift := bits.Len64(u) - (subBits + 1)
	if shift <= 0 {
		return int(u)
	}
	return shift*subCount + int(u>>uint(shift))
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < 2*subCount {
		return int64(i), 1
	}
	shift := i/subCount - 1
	return int64(i-shift*subCount) << uint(shift), int64(1) << uint(shift)
}

// nShards spreads concurrent recorders over separate histograms so that two
// cores completing messages at once rarely bounce the same cache line.
const nShards = 16

type hist struct {
	counts [nBuckets]atomic.Uint64
	_      [64]byte // keep neighbouring shards off this shard's last line
}

// window collects the latencies of the messages completed during one
// measurement window.
type window struct {
	shards     [nShards]hist
	start, end time.Time
	// CPU time the load generator itself used during the window, to tell
	// whether it, rather than the server, was the bottleneck.
	cpuStart, cpuEnd time.Duration
	// The server's CPU time (-server-pid) at the window's ends; -1 when
	// not known.
	srvStart, srvEnd time.Duration
}

func (w *window) record(conn int, ns int64) {
	w.shards[conn%nShards].counts[bucketOf(ns)].Add(1)
}

// merged sums the shards once the window is closed.
func (w *window) merged() *[nBuckets]uint64 {
	var m [nBuckets]uint64
	for s := range w.shards {
		for i := range m {
			m[i] += w.shards[s].counts[i].Load()
		}
	}
	return &m
}

// summary is what one window reports.
type summary struct {
	Messages   uint64  `json:"messages"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MaxUs      float64 `json:"max_us"`
	// LoadgenCPU is the load generator's CPU use in cores (1 = one core
	// busy all window long).
	LoadgenCPU float64 `json:"loadgen_cpu"`
	// With -server-pid: the server's CPU use in cores, and its CPU time
	// per echoed message in µs (10 ms resolution over the window).
	ServerCPU       float64 `json:"server_cpu,omitempty"`
	ServerCPUPerMsg float64 `json:"server_cpu_us_per_msg,omitempty"`
}

func (w *window) summarize() summary {
	m := w.merged()
	var total uint64
	for _, c := range m {
		total += c
	}
	s := summary{Messages: total, Seconds: w.end.Sub(w.start).Seconds()}
	if s.Seconds > 0 {
		s.MsgsPerSec = float64(total) / s.Seconds
		s.LoadgenCPU = (w.cpuEnd - w.cpuStart).Seconds() / s.Seconds
		if w.srvStart >= 0 && w.srvEnd >= w.srvStart {
			srv := (w.srvEnd - w.srvStart).Seconds()
			s.ServerCPU = srv / s.Seconds
			if total > 0 {
				s.ServerCPUPerMsg = srv / float64(total) * 1e6
			}
		}
	}
	s.P50us = quantile(m, total, 0.50) / 1e3
	s.P99us = quantile(m, total, 0.99) / 1e3
	s.MaxUs = quantile(m, total, 1) / 1e3
	return s
}

// quantile returns the midpoint of the bucket holding the q-th sample (in ns).
func quantile(m *[nBuckets]uint64, total uint64, q float64) float64 {
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > total {
		rank = total
	}
	var cum uint64
	for i, c := range m {
		cum += c
		if cum >= rank {
			low, width := bucketRange(i)
			return float64(low) + float64(width-1)/2
		}
	}
	return 0 // unreachable: cum reaches total
}
