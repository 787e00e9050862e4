package libws

import "encoding/binary"

// RFC 6455 §8.1 requires text messages to be valid UTF-8, and a message may
// be split into frames at any byte, even inside a code point. The validator
// below is a DFA over the grammar of RFC 3629 §4 (the same set of strings
// that unicode/utf8.Valid accepts), so state carries across Write calls for
// free and a prefix that can no longer become valid is rejected at the byte
// that rules it out, not when the sequence would have ended.
//
// The DFA is "shift-based": every state is a bit offset (a multiple of 6)
// and utf8Trans[b] holds the next state of every state, 6 bits each, at
// that state's offset. A step is one table load and one shift with no
// state-dependent index arithmetic, which keeps the per-byte dependency
// chain short.

// DFA states, each the bit offset of its 6-bit slot in a utf8Trans row.
// accept is 0 so that the zero utf8Validator is ready to use.
const (
	utf8Accept  = 6 * iota // between code points
	utf8Reject             // absorbing: the stream can never become valid
	utf8Need1              // one 80..BF continuation byte to go
	utf8Need2              // two continuation bytes to go
	utf8Need3              // three continuation bytes to go
	utf8AfterE0            // needs A0..BF: 80..9F would be overlong
	utf8AfterED            // needs 80..9F: A0..BF would be a surrogate
	utf8AfterF0            // needs 90..BF: 80..8F would be overlong
	utf8AfterF4            // needs 80..8F: 90..BF would exceed U+10FFFF
)

var utf8Trans = buildUTF8Trans()

func buildUTF8Trans() (t [256]uint64) {
	set := func(lo, hi int, from, to uint64) {
		for c := lo; c <= hi; c++ {
			t[c] &^= 63 << from
			t[c] |= to << from
		}
	}
	// Anything not listed below rejects, including every byte in the
	// reject state.
	for from := uint64(utf8Accept); from <= utf8AfterF4; from += 6 {
		set(0x00, 0xFF, from, utf8Reject)
	}

	set(0x00, 0x7F, utf8Accept, utf8Accept)
	set(0xC2, 0xDF, utf8Accept, utf8Need1) // C0, C1 only encode overlongs
	set(0xE0, 0xE0, utf8Accept, utf8AfterE0)
	set(0xE1, 0xEC, utf8Accept, utf8Need2)
	set(0xED, 0xED, utf8Accept, utf8AfterED)
	set(0xEE, 0xEF, utf8Accept, utf8Need2)
	set(0xF0, 0xF0, utf8Accept, utf8AfterF0)
	set(0xF1, 0xF3, utf8Accept, utf8Need3)
	set(0xF4, 0xF4, utf8Accept, utf8AfterF4) // F5..FF would exceed U+10FFFF

	set(0x80, 0xBF, utf8Need1, utf8Accept)
	set(0x80, 0xBF, utf8Need2, utf8Need1)
	set(0x80, 0xBF, utf8Need3, utf8Need2)
	set(0xA0, 0xBF, utf8AfterE0, utf8Need1)
	set(0x80, 0x9F, utf8AfterED, utf8Need1)
	set(0x90, 0xBF, utf8AfterF0, utf8Need2)
	set(0x80, 0x8F, utf8AfterF4, utf8Need2)
	return t
}

// utf8Validator checks a UTF-8 stream fed to it in arbitrary pieces.
// The zero value is ready to use.
type utf8Validator struct {
	state uint32
}

// utf8Block bounds how many bytes the DFA runs between checks for the
// reject state and for a chance to go back to the ASCII fast path. Small
// enough that errors are found soon and mixed text returns to the fast
// path quickly, large enough that the checks cost little per byte
// (32 measured faster than 16 on both CJK and accented Latin text).
const utf8Block = 32

const asciiMask = 0x8080808080808080

// Write feeds b to the validator. It returns false once the stream so far
// cannot be a prefix of valid UTF-8, and keeps returning false until Reset.
func (v *utf8Validator) Write(b []byte) bool {
	// With cap == len and the strict ">" loop conditions below, reslicing
	// never produces an empty slice, so the compiler can drop the
	// past-the-end pointer fixup; that alone doubled ASCII throughput.
	b = b[:len(b):len(b)]
	s := uint64(v.state)
	for len(b) > 0 {
		if s&63 == utf8Accept {
			// Only in the accept state is "no high bit set" enough to
			// know a word is valid; mid-sequence an ASCII byte is an error
			// the DFA has to see.
			for len(b) > 32 && (binary.LittleEndian.Uint64(b)|binary.LittleEndian.Uint64(b[8:])|
				binary.LittleEndian.Uint64(b[16:])|binary.LittleEndian.Uint64(b[24:]))&asciiMask == 0 {
				b = b[32:]
			}
			for len(b) > 8 && binary.LittleEndian.Uint64(b)&asciiMask == 0 {
				b = b[8:]
			}
		}
		n := min(len(b), utf8Block)
		blk := b[:n:n]
		// The table loads depend only on the input, so they all issue
		// ahead; the loop-carried chain is just the shift. The state is
		// kept unmasked because only its low 6 bits are ever used.
		for len(blk) >= 4 {
			s = utf8Trans[blk[0]] >> (s & 63)
			s = utf8Trans[blk[1]] >> (s & 63)
			s = utf8Trans[blk[2]] >> (s & 63)
			s = utf8Trans[blk[3]] >> (s & 63)
			blk = blk[4:]
		}
		for _, c := range blk {
			s = utf8Trans[c] >> (s & 63)
		}
		b = b[n:]
		if s&63 == utf8Reject {
			v.state = utf8Reject
			return false
		}
	}
	v.state = uint32(s & 63)
	// Reached with b empty too, so a rejected stream stays rejected even
	// when fed nothing.
	return v.state != utf8Reject
}

// Complete reports whether the stream so far is valid and ends on a code
// point boundary, which is what a finished text message must satisfy.
func (v *utf8Validator) Complete() bool {
	return v.state == utf8Accept
}

// Reset makes v ready for a new message.
func (v *utf8Validator) Reset() {
	v.state = utf8Accept
}

// ValidUTF8 reports whether b is entirely valid UTF-8. It accepts exactly
// what unicode/utf8.Valid accepts.
func ValidUTF8(b []byte) bool {
	var v utf8Validator
	return v.Write(b) && v.Complete()
}
