package tui

import (
	"io"
	"testing"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

// What an item pays to report progress through the tui view: one Advance
// (an ItemProgress event) per call.
func BenchmarkAdvanceTUI(b *testing.B) {
	v, err := New(io.Discard, Options{NoColor: true, Width: 100, Height: 40})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	progresstest.BenchAdvance(b, v)
}

// BenchmarkTUIView renders a frame of 10,000 rows in a 40-line terminal,
// as the program does on every tick.
func BenchmarkTUIView(b *testing.B) {
	m := newModel(asciiStyles(), progresstest.NewClock().Now, nil)
	m.width, m.height = 120, 40
	items := make([]string, 10000)
	for i := range items {
		items[i] = "item_" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
	}
	m.Update(eventsMsg{{Type: progress.ExecutionStart, Items: items}})
	var evs eventsMsg
	for _, id := range items[:5000] {
		evs = append(evs, progress.Event{Type: progress.ItemStart, Item: id}, progress.Event{Type: progress.ItemDone, Item: id, Status: progress.StatusApplied})
	}
	for _, id := range items[5000:5032] {
		evs = append(evs, progress.Event{Type: progress.ItemStart, Item: id})
	}
	m.Update(evs)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.frame()
	}
}
