package plain

import (
	"io"
	"testing"

	"github.com/peace-go/peace/progress/progresstest"
)

// What an item pays to report progress through the plain view: one
// Advance (an ItemProgress event) per call.
func BenchmarkAdvancePlain(b *testing.B) {
	v := New(io.Discard)
	defer v.Close()
	progresstest.BenchAdvance(b, v)
}
