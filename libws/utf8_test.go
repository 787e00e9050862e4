package libws

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

var utf8Cases = []struct {
	name string
	in   string
	ok   bool
}{
	{"empty", "", true},
	{"ascii", "Hello, World", true},
	{"nul", "\x00", true},
	{"del", "\x7f", true},
	{"two byte min", "\u0080", true},
	{"two byte max", "\u07ff", true},
	{"three byte min", "\u0800", true},
	{"before surrogates", "\ud7ff", true},
	{"after surrogates", "\ue000", true},
	{"three byte max", "\uffff", true},
	{"four byte min", "\U00010000", true},
	{"max code point", "\U0010ffff", true},
	{"mixed", "κόσμε ☃ 𝄞 a", true},
	{"ascii then multibyte after a word", "abcdefghijklmnopq\u00e9", true},

	{"lone continuation", "\x80", false},
	{"continuation after ascii", "a\xbf", false},
	{"overlong 2 C0", "\xc0\x80", false},
	{"overlong 2 C1", "\xc1\xbf", false},
	{"overlong 3", "\xe0\x80\x80", false},
	{"overlong 3 max", "\xe0\x9f\xbf", false},
	{"overlong 4", "\xf0\x80\x80\x80", false},
	{"overlong 4 max", "\xf0\x8f\xbf\xbf", false},
	{"surrogate min", "\xed\xa0\x80", false},
	{"surrogate max", "\xed\xbf\xbf", false},
	{"surrogate pair", "\xed\xa0\x80\xed\xb0\x80", false},
	{"above max F4 90", "\xf4\x90\x80\x80", false},
	{"F5 lead", "\xf5\x80\x80\x80", false},
	{"F8 five byte lead", "\xf8\x88\x80\x80\x80", false},
	{"FC six byte lead", "\xfc\x84\x80\x80\x80\x80", false},
	{"FE", "\xfe", false},
	{"FF", "\xff", false},
	{"truncated 2", "\xc2", false},
	{"truncated 3", "\xe2\x82", false},
	{"truncated 4", "\xf0\x9f\x98", false},
	{"ascii inside sequence", "\xe2a\xac", false},
	{"too many continuations", "\xc2\x80\x80", false},
	{"error after ascii words", strings.Repeat("a", 40) + "\xff", false},
	{"error after multibyte", strings.Repeat("é", 20) + "\xed\xa0\x80", false},
}

func TestValidUTF8Table(t *testing.T) {
	for _, tc := range utf8Cases {
		if std := utf8.ValidString(tc.in); std != tc.ok {
			t.Fatalf("%s: table says %v, unicode/utf8 says %v", tc.name, tc.ok, std)
		}
		if got := ValidUTF8([]byte(tc.in)); got != tc.ok {
			t.Errorf("%s: ValidUTF8(%q) = %v, want %v", tc.name, tc.in, got, tc.ok)
		}
	}
}

// Every case, padded so the bad or multi-byte part lands at every
// position relative to the 8- and 16-byte ASCII words.
func TestValidUTF8Padded(t *testing.T) {
	for _, tc := range utf8Cases {
		for pre := range 20 {
			for _, post := range []int{0, 1, 9, 17} {
				s := strings.Repeat("x", pre) + tc.in + strings.Repeat("y", post)
				if got, want := ValidUTF8([]byte(s)), utf8.ValidString(s); got != want {
					t.Errorf("%s pre=%d post=%d: got %v, want %v", tc.name, pre, post, got, want)
				}
			}
		}
	}
}

func TestValidUTF8Random(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	// Plain random bytes are almost never valid, so also draw from a
	// skewed alphabet of leads and continuations, which makes long valid
	// and nearly valid strings common.
	alphabet := []byte{'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xf0, 0xf1, 0xf4, 0xf5, 0xff}
	var valid int
	for i := range 200000 {
		n := r.IntN(40)
		b := make([]byte, n)
		for j := range b {
			if i%2 == 0 {
				b[j] = byte(r.Uint32())
			} else {
				b[j] = alphabet[r.IntN(len(alphabet))]
			}
		}
		want := utf8.Valid(b)
		if want {
			valid++
		}
		if got := ValidUTF8(b); got != want {
			t.Fatalf("ValidUTF8(%x) = %v, want %v", b, got, want)
		}
	}
	// Also valid strings built from random runes, which random bytes
	// rarely produce, with a random byte corrupted in half of them.
	for i := range 20000 {
		var sb strings.Builder
		for range r.IntN(30) {
			rn := rune(r.IntN(utf8.MaxRune + 1))
			if i%3 == 0 {
				rn = rune(r.IntN(0x80))
			}
			sb.WriteRune(rn) // surrogates become U+FFFD, still valid
		}
		b := []byte(sb.String())
		if i%2 == 1 && len(b) > 0 {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		want := utf8.Valid(b)
		if want {
			valid++
		}
		if got := ValidUTF8(b); got != want {
			t.Fatalf("ValidUTF8(%x) = %v, want %v", b, got, want)
		}
	}
	if valid < 1000 {
		t.Fatalf("only %d valid inputs: generator is not exercising the accept path", valid)
	}
}

// Frames may split a text message anywhere, including inside a code point.
func TestUTF8ValidatorSplitEverywhere(t *testing.T) {
	inputs := []string{
		"\u00e9", "\u20ac", "\U0001f600", "\U0010ffff", "\ud7ff", "\ue000",
		"κόσμε ☃ 𝄞 a",
		strings.Repeat("ab€", 11) + "𝄞" + strings.Repeat("z", 17) + "é",
	}
	for _, s := range inputs {
		b := []byte(s)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				var v utf8Validator
				for _, part := range [][]byte{b[:i], b[i:j], b[j:]} {
					if !v.Write(part) {
						t.Fatalf("%q split at %d,%d: Write returned false", s, i, j)
					}
				}
				if !v.Complete() {
					t.Fatalf("%q split at %d,%d: Complete returned false", s, i, j)
				}
			}
		}
		// One byte per Write is the extreme case of fragmentation.
		var v utf8Validator
		for k := range b {
			if !v.Write(b[k : k+1]) {
				t.Fatalf("%q byte by byte: Write false at %d", s, k)
			}
			if v.Complete() != utf8.Valid(b[:k+1]) {
				t.Fatalf("%q byte by byte: Complete %v after %d bytes", s, v.Complete(), k+1)
			}
		}
	}
}

// A prefix that can no longer become valid must be rejected in the Write
// that delivers the byte ruling it out, not at the end of the message:
// RFC 6455 §8.1 wants the connection failed as soon as invalid text is seen.
func TestUTF8ValidatorFailFast(t *testing.T) {
	cases := []struct {
		name string
		good string // accepted, possibly mid-sequence
		bad  string // its first byte makes the stream impossible
	}{
		{"C0 lead", "abc", "\xc0"},
		{"C1 lead", "", "\xc1"},
		{"F5 lead", "ok", "\xf5"},
		{"FF", "", "\xff"},
		{"lone continuation", "a", "\x80"},
		{"overlong E0", "\xe0", "\x80"},
		{"overlong F0", "\xf0", "\x8f"},
		{"surrogate ED", "\xed", "\xa0"},
		{"above max F4", "\xf4", "\x90"},
		{"ascii mid sequence", "\xe2\x82", "a"},
		{"lead mid sequence", "\xf0\x9f", "\xc3"},
		{"extra continuation", "\xc3\xa9", "\x80"},
	}
	for _, tc := range cases {
		var v utf8Validator
		if !v.Write([]byte(tc.good)) {
			t.Fatalf("%s: Write(%q) = false before the bad byte", tc.name, tc.good)
		}
		if v.Write([]byte(tc.bad)) {
			t.Fatalf("%s: Write(%q) after %q = true, want false", tc.name, tc.bad, tc.good)
		}
		// Once rejected, always rejected, whatever follows.
		if v.Write(nil) || v.Write([]byte("fine")) || v.Complete() {
			t.Fatalf("%s: validator recovered after rejecting", tc.name)
		}
		v.Reset()
		if !v.Write([]byte("fine")) || !v.Complete() {
			t.Fatalf("%s: Reset did not restore the validator", tc.name)
		}
	}
}

func TestUTF8ValidatorTruncated(t *testing.T) {
	for _, s := range []string{"\xc2", "\xe2\x82", "\xf0\x9f\x98", "abc\xe0\xa0", "\xf4\x8f\xbf"} {
		var v utf8Validator
		if !v.Write([]byte(s)) {
			t.Errorf("Write(%q) = false, want true: the sequence can still complete", s)
		}
		if v.Complete() {
			t.Errorf("Complete after %q = true, want false", s)
		}
	}
}

func TestUTF8ValidatorZeroValue(t *testing.T) {
	var v utf8Validator
	if !v.Complete() {
		t.Fatal("zero validator is not complete")
	}
	if !v.Write(nil) || !v.Complete() {
		t.Fatal("empty write changed the zero validator")
	}
}

func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.in), uint16(len(tc.in)/2))
	}
	f.Add([]byte(strings.Repeat("a", 33)+"\xe2\x82\xac"), uint16(34))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		want := utf8.Valid(b)
		if got := ValidUTF8(b); got != want {
			t.Fatalf("ValidUTF8(%x) = %v, want %v", b, got, want)
		}
		cut := int(split) % (len(b) + 1)
		var v utf8Validator
		ok1 := v.Write(b[:cut])
		ok2 := ok1 && v.Write(b[cut:])
		if got := ok2 && v.Complete(); got != want {
			t.Fatalf("split at %d of %x: %v, want %v", cut, b, got, want)
		}
		// Fail-fast: the first Write must fail exactly when its bytes
		// cannot begin any valid string.
		if want := validPrefix(b[:cut]); ok1 != want {
			t.Fatalf("Write(%x) = %v, want %v", b[:cut], ok1, want)
		}
	})
}

// validPrefix reports, by brute force against unicode/utf8, whether some
// suffix makes p valid: p must be valid up to an incomplete final sequence
// (at most 3 bytes), and that sequence must be completable.
func validPrefix(p []byte) bool {
	for tail := 0; tail <= 3 && tail <= len(p); tail++ {
		head, rest := p[:len(p)-tail], p[len(p)-tail:]
		if utf8.Valid(head) && (tail == 0 || completable(rest)) {
			return true
		}
	}
	return false
}

// completable reports whether appending continuation bytes turns rest into
// valid UTF-8. Only the first continuation byte of a sequence is ever
// restricted to less than 80..BF, so trying every value for it and 0x80
// for the rest covers all cases.
func completable(rest []byte) bool {
	for extra := 1; len(rest)+extra <= 4; extra++ {
		buf := append(bytes.Clone(rest), bytes.Repeat([]byte{0x80}, extra)...)
		for c := 0x80; c <= 0xbf; c++ {
			buf[len(rest)] = byte(c)
			if utf8.Valid(buf) {
				return true
			}
		}
	}
	return false
}

func BenchmarkUTF8(b *testing.B) {
	inputs := []struct {
		name string
		unit string
	}{
		{"ascii", "The quick brown fox jumps over the lazy dog. "},
		{"multibyte", "Съешь же ещё этих мягких французских булок 日本語のテキスト 😀 "},
	}
	for _, in := range inputs {
		for _, n := range []int{1024, 65536} {
			buf := []byte(strings.Repeat(in.unit, n/len(in.unit)+1))
			// Cut back to a code point boundary at or below n bytes.
			buf = buf[:n]
			for !utf8.Valid(buf) {
				buf = buf[:len(buf)-1]
			}
			b.Run(fmt.Sprintf("%s/%d", in.name, n), func(b *testing.B) {
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					if !ValidUTF8(buf) {
						b.Fatal("benchmark input is invalid")
					}
				}
			})
		}
	}
}
