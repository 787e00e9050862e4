//go:build linux

package main

import (
	"math/rand/v2"
	"strconv"
)

// JSON-like payloads (-json-payload): what compression is for in practice,
// an array of records whose keys repeat and whose values vary. Random bytes
// would not compress at all and a repeated pattern would compress almost
// away; this sits in between, like real API or feed traffic.

var (
	jsonUsers  = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil"}
	jsonWords  = []string{"alpha", "bravo", "delta", "echo", "gamma", "kilo", "lima", "nova", "orbit", "pixel", "quartz", "rally", "sigma", "tango", "ultra", "vector", "whisky", "zenith", "amber", "cobalt", "ember", "frost", "harbor", "meadow"}
	jsonStatus = []string{"open", "filled", "partial", "cancelled", "pending"}
)

// jsonMessage returns message index of a run seeded with seed: exactly
// size bytes of printable ASCII, valid JSON for size >= 2, the same for
// the same (size, seed, index) and different from one index to the next.
func jsonMessage(size int, seed, index uint64) []byte {
	r := rand.New(rand.NewPCG(seed, index))
	b := make([]byte, 0, size)
	if size < 2 {
		for len(b) < size {
			b = append(b, ' ')
		}
		return b
	}
	b = append(b, '[')
	var rec []byte
	for {
		rec = appendJSONRecord(rec[:0], r)
		sep := 0
		if len(b) > 1 {
			sep = 1
		}
		if len(b)+sep+len(rec)+1 > size { // +1: the closing ]
			break
		}
		if sep == 1 {
			b = append(b, ',')
		}
		b = append(b, rec...)
	}

	// Fill the rest exactly: a last record with a free-text field of the
	// right length, or, when not even that fits, JSON whitespace.
	rest := size - len(b) - 1
	pad := len(`{"note":""}`)
	if len(b) > 1 {
		pad++ // the comma
	}
	if rest >= pad {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"note":"`...)
		end := len(b) + rest - pad
		for len(b) < end {
			w := jsonWords[r.IntN(len(jsonWords))]
			b = append(b, w[:min(len(w), end-len(b))]...)
			if len(b) < end {
				b = append(b, ' ')
			}
		}
		b = append(b, `"}`...)
	} else {
		for range rest {
			b = append(b, ' ')
		}
	}
	return append(b, ']')
}

// appendJSONRecord appends one record of about 200 bytes.
func appendJSONRecord(b []byte, r *rand.Rand) []byte {
	user := jsonUsers[r.IntN(len(jsonUsers))]
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, 100000+r.Uint64N(900000), 10)
	b = append(b, `,"user":"`...)
	b = append(b, user...)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(r.IntN(1000)), 10)
	b = append(b, `","email":"`...)
	b = append(b, user...)
	b = append(b, `@example.com","ts":`...)
	b = strconv.AppendInt(b, 1764000000000+int64(r.IntN(100000000)), 10)
	b = append(b, `,"price":`...)
	b = strconv.AppendInt(b, int64(r.IntN(5000)), 10)
	b = append(b, '.')
	cents := r.IntN(100)
	b = append(b, byte('0'+cents/10), byte('0'+cents%10))
	b = append(b, `,"qty":`...)
	b = strconv.AppendInt(b, int64(1+r.IntN(500)), 10)
	b = append(b, `,"side":"`...)
	if r.IntN(2) == 0 {
		b = append(b, "buy"...)
	} else {
		b = append(b, "sell"...)
	}
	b = append(b, `","status":"`...)
	b = append(b, jsonStatus[r.IntN(len(jsonStatus))]...)
	b = append(b, `","tags":["`...)
	b = append(b, jsonWords[r.IntN(len(jsonWords))]...)
	b = append(b, `","`...)
	b = append(b, jsonWords[r.IntN(len(jsonWords))]...)
	b = append(b, `"],"active":`...)
	b = strconv.AppendBool(b, r.IntN(4) != 0)
	return append(b, '}')
}
