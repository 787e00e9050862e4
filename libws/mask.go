package libws

import (
	"encoding/binary"
	"math/bits"
)

// Mask XORs b in place with the WebSocket masking key (RFC 6455 §5.3),
// starting at key offset pos&3, and returns the key offset for the byte
// after b. The return value lets a payload that arrives in pieces be
// unmasked piece by piece:
//
//	pos := Mask(b[:k], key, 0)
//	Mask(b[k:], key, pos)
//
// leaves b exactly as Mask(b, key, 0) would.
func Mask(b []byte, key [4]byte, pos int) int {
	if hasAVX2 && len(b) >= maskVectorMin {
		return maskVector(b, key, pos)
	}
	return maskGeneric(b, key, pos)
}

// maskKey returns the key as a little-endian word rotated so that its low
// byte is key[pos&3]. Every fast path then works at offset 0, and because
// 8 and 32 are multiples of 4 the rotated word stays in phase for any
// whole number of words.
func maskKey(key [4]byte, pos int) uint32 {
	return bits.RotateLeft32(binary.LittleEndian.Uint32(key[:]), -8*(pos&3))
}

// maskGeneric is the portable path: 64-bit words, unrolled to 32 bytes so
// the loop overhead is paid once per four words. encoding/binary calls
// compile to single unaligned MOVs where the architecture allows them and
// stay correct where it does not.
func maskGeneric(b []byte, key [4]byte, pos int) int {
	next := (pos + len(b)) & 3
	k32 := maskKey(key, pos)
	k := uint64(k32)<<32 | uint64(k32)

	// With cap == len and strict ">" loop conditions, b[32:] and b[8:]
	// are never empty, so the compiler omits the past-the-end pointer
	// fixup from the loops: about 50 GB/s instead of 33 at 64 KiB.
	b = b[:len(b):len(b)]
	for len(b) > 32 {
		binary.LittleEndian.PutUint64(b[0:], binary.LittleEndian.Uint64(b[0:])^k)
		binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k)
		binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k)
		binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k)
		b = b[32:]
	}
	for len(b) > 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	if len(b) == 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		return next
	}
	// Every step so far was a multiple of 4 bytes, so k32 is still in
	// phase with b.
	if len(b) >= 4 {
		binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^k32)
		b = b[4:]
	}
	for i := range b {
		b[i] ^= byte(k32 >> (8 * i))
	}
	return next
}
