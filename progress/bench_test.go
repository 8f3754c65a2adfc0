package progress_test

import (
	"io"
	"testing"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

// What an item pays to report progress with no view and through the json
// view: one Advance (an ItemProgress event) per call. The views' packages
// measure theirs.

func BenchmarkAdvanceDiscard(b *testing.B) {
	progresstest.BenchAdvance(b, progress.Discard)
}

func BenchmarkAdvanceJSON(b *testing.B) {
	v := progress.NewJSON(io.Discard)
	defer v.Close()
	progresstest.BenchAdvance(b, v)
}
