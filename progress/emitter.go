package progress

import (
	"sync"
	"time"
)

// Emitter stamps events with Seq and Time and hands them to a Sink. The core
// emits through one Emitter per command, so every sink behind it sees the
// events of all executions in one order, with Seq increasing by one.
//
// Stamping and fanning out happen under one lock: that is what makes Seq
// order and arrival order the same for every sink. Sinks must therefore be
// quick (the views only queue or write a line) and must not emit back into
// the same Emitter.
type Emitter struct {
	mu   sync.Mutex
	sink Sink
	seq  uint64
	now  func() time.Time
}

var _ Sink = (*Emitter)(nil)

// NewEmitter returns an Emitter that sends to sink (Discard when nil).
func NewEmitter(sink Sink) *Emitter {
	if sink == nil {
		sink = Discard
	}
	return &Emitter{sink: sink, now: time.Now}
}

// SetClock replaces the clock that stamps Time; tests pin it.
func (e *Emitter) SetClock(now func() time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = now
}

// Emit stamps ev with the next Seq and the current Time and passes it on.
// It is safe for concurrent use.
func (e *Emitter) Emit(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	ev.Seq = e.seq
	ev.Time = e.now()
	e.sink.Emit(ev)
}

// ItemTracker returns the Tracker an item function gets while it runs in
// block of execution. Its calls become ItemLimit, ItemProgress (Done is
// the running total) and ItemMessage events. Every call emits at once, so
// nothing is held back when the item ends; views coalesce what they do not
// need to show.
func (e *Emitter) ItemTracker(execution, block, item string) Tracker {
	return &itemTracker{e: e, execution: execution, block: block, item: item}
}

type itemTracker struct {
	e                      *Emitter
	execution, block, item string

	// mu keeps Done in step with Seq when one item advances from several
	// goroutines: totals reach the sink in increasing order.
	mu   sync.Mutex
	done int64
}

func (t *itemTracker) event(typ Type) Event {
	return Event{Type: typ, Execution: t.execution, Block: t.block, Item: t.item}
}

func (t *itemTracker) SetLimit(l Limit) {
	ev := t.event(ItemLimit)
	ev.Limit = &l
	t.e.Emit(ev)
}

func (t *itemTracker) Advance(n int64) {
	if n == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done += n
	ev := t.event(ItemProgress)
	ev.Delta = n
	ev.Done = t.done
	t.e.Emit(ev)
}

func (t *itemTracker) Message(msg string) {
	ev := t.event(ItemMessage)
	ev.Message = msg
	t.e.Emit(ev)
}

func (t *itemTracker) Output(line string) {
	ev := t.event(ItemOutput)
	ev.Line = line
	t.e.Emit(ev)
}

// Tee returns a Sink that passes every event to each of sinks in turn (a
// view and a recorder, say). Nil sinks are skipped.
func Tee(sinks ...Sink) Sink {
	var t tee
	for _, s := range sinks {
		if s != nil {
			t = append(t, s)
		}
	}
	return t
}

type tee []Sink

func (t tee) Emit(ev Event) {
	for _, s := range t {
		s.Emit(ev)
	}
}
