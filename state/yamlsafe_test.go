package state

import (
	"math/rand/v2"
	"testing"
)

// The word-at-a-time scan only skips what the byte-at-a-time one accepts:
// yamlSafe answers as a scan of every byte does, whatever sits where.
func TestYAMLSafeSkipsOnlyPlainBytes(t *testing.T) {
	special := []byte{'\\', 0x7f, 0x80, 0xc3, 0xa9, 0xff, 'u', '/', '"', 0, 0x1f, 0x7e, 0x5b, 0x5d}
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		s := make([]byte, r.IntN(40))
		for i := range s {
			s[i] = byte('a' + r.IntN(26))
		}
		for range r.IntN(3) {
			if len(s) > 0 {
				s[r.IntN(len(s))] = special[r.IntN(len(special))]
			}
		}
		if got, want := yamlSafe(s), yamlSafeFrom(s, 0); got != want {
			t.Fatalf("case %d: yamlSafe(%q) = %v, a scan of every byte says %v", n, s, got, want)
		}
		if k := plainASCII(s); k%8 != 0 || k > len(s) {
			t.Fatalf("plainASCII(%q) = %d", s, k)
		} else {
			for _, c := range s[:k] {
				if c >= 0x7f || c == '\\' {
					t.Fatalf("plainASCII(%q) = %d skips %q", s, k, c)
				}
			}
		}
	}
}
