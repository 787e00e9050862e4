//go:build !amd64

package libws

// hasAVX2 is a constant here so the compiler drops the vector branch in
// Mask entirely.
const hasAVX2 = false

const maskVectorMin = 0

// maskVector exists only so Mask compiles on every architecture; with
// hasAVX2 false it is never reached.
func maskVector(b []byte, key [4]byte, pos int) int {
	return maskGeneric(b, key, pos)
}
