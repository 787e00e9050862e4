package libws

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// maskRef is the definition from RFC 6455 §5.3, one byte at a time.
func maskRef(b []byte, key [4]byte, pos int) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

type maskFunc struct {
	name string
	fn   func([]byte, [4]byte, int) int
}

// maskImpls lists every implementation the machine can run, so each test
// exercises the assembly directly and not only above maskAVX2Min.
func maskImpls() []maskFunc {
	impls := []maskFunc{
		{"generic", maskGeneric},
		{"Mask", Mask},
	}
	if hasAVX2 {
		impls = append(impls, maskFunc{"avx2", maskVector})
	}
	return impls
}

var testMaskKey = [4]byte{0x12, 0x9a, 0xe5, 0x7f}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestMaskMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Backing arrays are 64-byte aligned in practice; the start offsets
	// move b across every residue the scalar heads have to handle.
	starts := []int{0, 1, 2, 3, 5, 7, 8, 13, 31, 33}
	for _, impl := range maskImpls() {
		for _, start := range starts {
			for n := 0; n <= 300; n++ {
				for pos := range 4 {
					// Guard bytes on both sides catch writes outside b.
					buf := randBytes(r, start+n+16)
					want := bytes.Clone(buf)
					wantNext := maskRef(want[start:start+n], testMaskKey, pos)
					got := impl.fn(buf[start:start+n], testMaskKey, pos)
					if got != wantNext {
						t.Fatalf("%s start=%d n=%d pos=%d: next offset %d, want %d", impl.name, start, n, pos, got, wantNext)
					}
					if !bytes.Equal(buf, want) {
						t.Fatalf("%s start=%d n=%d pos=%d: bytes differ\n got %x\nwant %x", impl.name, start, n, pos, buf, want)
					}
				}
			}
		}
	}
}

// Offsets above 3 and negative ones must behave as pos&3, because callers
// may carry a running byte count instead of a reduced offset.
func TestMaskUnreducedOffset(t *testing.T) {
	for _, impl := range maskImpls() {
		for _, pos := range []int{4, 5, 1<<30 + 3, -1, -4} {
			for _, n := range []int{3, 40, 200} {
				got := make([]byte, n)
				want := make([]byte, n)
				gotNext := impl.fn(got, testMaskKey, pos)
				wantNext := maskRef(want, testMaskKey, pos&3)
				if gotNext != wantNext || !bytes.Equal(got, want) {
					t.Fatalf("%s pos=%d n=%d: got %x next %d, want %x next %d", impl.name, pos, n, got, gotNext, want, wantNext)
				}
			}
		}
	}
}

func TestMaskSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, impl := range maskImpls() {
		for _, n := range []int{0, 1, 7, 8, 33, 64, 100, 129, 300} {
			orig := randBytes(r, n)
			for pos := range 4 {
				want := bytes.Clone(orig)
				maskRef(want, testMaskKey, pos)
				for k := 0; k <= n; k++ {
					got := bytes.Clone(orig)
					next := impl.fn(got[:k], testMaskKey, pos)
					impl.fn(got[k:], testMaskKey, next)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s n=%d pos=%d split=%d: bytes differ", impl.name, n, pos, k)
					}
				}
			}
		}
	}
}

// Masking twice with the same key and offset must restore the payload:
// that is how a client masks and a server unmasks.
func TestMaskInvolution(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	orig := randBytes(r, 1<<20+7)
	for _, impl := range maskImpls() {
		b := bytes.Clone(orig)
		impl.fn(b[3:], testMaskKey, 2)
		if bytes.Equal(b, orig) {
			t.Fatalf("%s: masking changed nothing", impl.name)
		}
		impl.fn(b[3:], testMaskKey, 2)
		if !bytes.Equal(b, orig) {
			t.Fatalf("%s: masking twice did not restore the payload", impl.name)
		}
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("hello, websocket"), uint32(0x37fa213d), uint8(0), uint16(5), uint8(0))
	f.Add(make([]byte, 300), uint32(0xffffffff), uint8(3), uint16(129), uint8(1))
	f.Add(bytes.Repeat([]byte{0xa5}, 1000), uint32(0x01020304), uint8(2), uint16(0), uint8(7))
	f.Add([]byte{}, uint32(0), uint8(1), uint16(0), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, k uint32, pos uint8, split uint16, skip uint8) {
		key := [4]byte{byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)}
		p := int(pos & 3)
		// Skipping a few leading bytes moves the start alignment.
		if s := int(skip & 31); s <= len(data) {
			data = data[s:]
		}
		want := bytes.Clone(data)
		wantNext := maskRef(want, key, p)
		cut := int(split) % (len(data) + 1)
		for _, impl := range maskImpls() {
			got := bytes.Clone(data)
			if next := impl.fn(got, key, p); next != wantNext || !bytes.Equal(got, want) {
				t.Fatalf("%s whole: next %d want %d", impl.name, next, wantNext)
			}
			got = bytes.Clone(data)
			next := impl.fn(got[:cut], key, p)
			if next = impl.fn(got[cut:], key, next); next != wantNext || !bytes.Equal(got, want) {
				t.Fatalf("%s split at %d: next %d want %d", impl.name, cut, next, wantNext)
			}
		}
	})
}

func BenchmarkMask(b *testing.B) {
	impls := []maskFunc{{"generic", maskGeneric}}
	if hasAVX2 {
		impls = append(impls, maskFunc{"avx2", maskVector})
	}
	for _, impl := range impls {
		for _, n := range []int{16, 1024, 65536, 1048576} {
			b.Run(fmt.Sprintf("%s/%d", impl.name, n), func(b *testing.B) {
				buf := make([]byte, n)
				b.SetBytes(int64(n))
				pos := 0
				for b.Loop() {
					pos = impl.fn(buf, testMaskKey, pos)
				}
			})
		}
	}
}
