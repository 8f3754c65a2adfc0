package progress

import (
	"io"
	"testing"
)

// What an item pays to report progress through each view: one Advance
// (an ItemProgress event) per call.

func BenchmarkAdvanceDiscard(b *testing.B) {
	benchAdvance(b, Discard)
}

func BenchmarkAdvancePlain(b *testing.B) {
	v := NewPlain(io.Discard)
	defer v.Close()
	benchAdvance(b, v)
}

func BenchmarkAdvanceJSON(b *testing.B) {
	v := NewJSON(io.Discard)
	defer v.Close()
	benchAdvance(b, v)
}

func BenchmarkAdvanceTUI(b *testing.B) {
	v, err := NewTUI(io.Discard, TUIOptions{NoColor: true, Width: 100, Height: 40})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	benchAdvance(b, v)
}

func benchAdvance(b *testing.B, sink Sink) {
	e := NewEmitter(sink)
	e.Emit(Event{Type: ExecutionStart, Items: []string{"a"}})
	e.Emit(Event{Type: ItemStart, Item: "a"})
	tr := e.ItemTracker("x", "ensure", "a")
	tr.SetLimit(Bytes(1 << 40))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tr.Advance(32 << 10)
	}
}

// BenchmarkTUIView renders a frame of 10,000 rows in a 40-line terminal,
// as the program does on every tick.
func BenchmarkTUIView(b *testing.B) {
	m := newTUIModel(asciiStyles(), newFakeClock().Now, nil)
	m.width, m.height = 120, 40
	items := make([]string, 10000)
	for i := range items {
		items[i] = "item_" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
	}
	m.Update(eventsMsg{{Type: ExecutionStart, Items: items}})
	var evs eventsMsg
	for _, id := range items[:5000] {
		evs = append(evs, Event{Type: ItemStart, Item: id}, Event{Type: ItemDone, Item: id, Status: StatusApplied})
	}
	for _, id := range items[5000:5032] {
		evs = append(evs, Event{Type: ItemStart, Item: id})
	}
	m.Update(evs)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.frame()
	}
}
