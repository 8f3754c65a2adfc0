package progress

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Phase is where an item is within the current block.
type Phase int

const (
	PhasePending Phase = iota // not started in this block: queued, or waiting on others
	PhaseRunning
	PhaseEnded // Row.Status says how
)

// UnknownText is what is said of an item an earlier run began and never
// ended.
const UnknownText = "begun in an earlier run that did not end; it will be discovered again"

// Row is what the event stream has told of one item so far.
type Row struct {
	ID    string
	Index int // its position in Ledger.Rows
	Phase Phase
	// Status is how the item ended, set with PhaseEnded; StatusUnknown for
	// an item an earlier run began and never ended.
	Status  Status
	Block   string    // the block it last started in
	Limit   Limit     // how its work is measured
	Done    int64     // its progress so far, in Limit's unit
	Message string    // its latest news, on one line (UnknownText when unknown)
	Error   string    // why it failed, on one line
	Started time.Time // when it started in this block
	Ended   time.Time // when it ended
}

// Amount is the row's progress in its unit: "3/5 steps",
// "3.2 MiB / 10.0 MiB", or "" when it has none.
func (r *Row) Amount() string { return r.Limit.Amount(r.Done) }

// Finished reports whether the item ended in a way that lets the items
// that depend on it start: applied, unchanged, discovered or would apply.
func (r *Row) Finished() bool { return r.Phase == PhaseEnded && finished(r.Status) }

func finished(s Status) bool {
	switch s {
	case StatusApplied, StatusUnchanged, StatusDiscovered, StatusWouldApply:
		return true
	}
	return false
}

// Ledger folds the event stream into one Row per item, kept once for
// every view to render from: where each item is, its progress and latest
// message, what it waits on, and the counts for the summary.
//
// Rows keep a stable order: the flow's (ExecutionStart's Items), then
// items as first seen. A new block makes the items that finished in the
// last one pending again; failures and unknowns stay until the item
// starts. The zero Ledger is ready to use. It is not safe for concurrent
// use: a view applies events and reads rows under the one lock (or in the
// one goroutine) that orders its events.
type Ledger struct {
	rows      []*Row
	byID      map[string]*Row
	deps      map[string][]string // item -> the items it depends on
	dependent map[string][]string // item -> the items that depend on it
	execItems map[string][]string // execution ID -> its items
	block     string              // the block running now
}

// Apply folds ev into the rows. ev.Time is taken as when it happened: a
// view stamps an event that came without a time before applying it.
func (l *Ledger) Apply(ev Event) { Handle((*fold)(l), ev) }

// Rows are every item seen, in the stable order. The rows are the
// ledger's: read them, do not change them.
func (l *Ledger) Rows() []*Row { return l.rows }

// Row is the item's row, or nil if no event has named it.
func (l *Ledger) Row(id string) *Row { return l.byID[id] }

// WaitingOn is why a pending item has not started: the items it still
// waits for in the current block — its dependencies, or, when cleaning
// (reverse order), the items that depend on it.
func (l *Ledger) WaitingOn(r *Row) []string {
	on := l.deps[r.ID]
	if l.block == "clean" {
		on = l.dependent[r.ID]
	}
	var waiting []string
	for _, d := range on {
		if dr := l.byID[d]; dr == nil || !dr.Finished() {
			waiting = append(waiting, d)
		}
	}
	return waiting
}

// Label is the one word a row is counted and marked by: running, queued
// (pending, waiting on nothing), waiting, or its status in words.
func (l *Ledger) Label(r *Row) string {
	switch r.Phase {
	case PhaseRunning:
		return "running"
	case PhasePending:
		if len(l.WaitingOn(r)) > 0 {
			return "waiting"
		}
		return "queued"
	}
	return r.Status.Text()
}

// Count counts rows by their Label.
func (l *Ledger) Count(rows []*Row) Counts {
	c := Counts{}
	for _, r := range rows {
		c[l.Label(r)]++
	}
	return c
}

// Summary counts the items that have ended by status: "2 applied,
// 1 not started".
func (l *Ledger) Summary() string {
	c := Counts{}
	for _, r := range l.rows {
		if r.Phase == PhaseEnded {
			c[r.Status.Text()]++
		}
	}
	return c.String()
}

// Counts is how many items there are by label: a status in words, or
// running, queued or waiting (Ledger.Label).
type Counts map[string]int

// CountStatuses counts statuses (an ExecutionEnd's) by their words.
func CountStatuses(statuses map[string]Status) Counts {
	c := Counts{}
	for _, s := range statuses {
		c[s.Text()]++
	}
	return c
}

// labelOrder is the order every summary counts in: outcomes, then what
// has not ended.
var labelOrder = []string{
	StatusApplied.Text(), StatusUnchanged.Text(), StatusDiscovered.Text(), StatusWouldApply.Text(),
	StatusFailed.Text(), StatusInterrupted.Text(), StatusNotStarted.Text(), StatusUnknown.Text(),
	"running", "queued", "waiting",
}

// String is the summary text: "3 applied, 1 unchanged, 2 not started",
// in the order outcomes, running, queued, waiting, then any label this
// package does not know, sorted; "no items" when there are none.
func (c Counts) String() string {
	var parts []string
	for _, l := range labelOrder {
		if n := c[l]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, l))
		}
	}
	var rest []string
	for l, n := range c {
		if n > 0 && !slices.Contains(labelOrder, l) {
			rest = append(rest, l)
		}
	}
	sort.Strings(rest)
	for _, l := range rest {
		parts = append(parts, fmt.Sprintf("%d %s", c[l], l))
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// fold is the Ledger as a Handler: one method per event type.
type fold Ledger

var _ Handler = (*fold)(nil)

func (f *fold) row(id string) *Row {
	r := f.byID[id]
	if r == nil {
		if f.byID == nil {
			f.byID = map[string]*Row{}
		}
		r = &Row{ID: id, Index: len(f.rows)}
		f.rows = append(f.rows, r)
		f.byID[id] = r
	}
	return r
}

func (f *fold) ExecutionStart(ev Event) {
	if f.execItems == nil {
		f.execItems = map[string][]string{}
		f.deps = map[string][]string{}
		f.dependent = map[string][]string{}
	}
	for _, id := range ev.Items {
		f.row(id)
	}
	f.execItems[ev.Execution] = ev.Items
	// Dependents are listed in the stable order of the items.
	var extra []string
	for id := range ev.Deps {
		if _, listed := f.byID[id]; !listed {
			extra = append(extra, id)
		}
	}
	sort.Strings(extra)
	ids := append(append([]string(nil), ev.Items...), extra...)
	for _, id := range ids {
		deps, ok := ev.Deps[id]
		if !ok {
			continue
		}
		f.deps[id] = deps
		for _, d := range deps {
			if !slices.Contains(f.dependent[d], id) {
				f.dependent[d] = append(f.dependent[d], id)
			}
		}
	}
}

func (f *fold) ExecutionEnd(ev Event) {
	// The outcome is the last word on every row, including the ones that
	// never started.
	ids := make([]string, 0, len(ev.Statuses))
	for id := range ev.Statuses {
		ids = append(ids, id)
	}
	sort.Strings(ids) // rows the flow did not list are added in one order
	for _, id := range ids {
		r := f.row(id)
		if r.Phase != PhaseEnded {
			r.Ended = ev.Time
		}
		r.Phase, r.Status = PhaseEnded, ev.Statuses[id]
	}
}

func (f *fold) BlockStart(ev Event) {
	f.block = ev.Block
	// A new pass over the items: what a previous block finished is pending
	// again here, with nothing left of that block (its times and last
	// message would read as this block's) but the block's name.
	ids := f.execItems[ev.Execution]
	if ids == nil {
		ids = make([]string, 0, len(f.rows))
		for _, r := range f.rows {
			ids = append(ids, r.ID)
		}
	}
	for _, id := range ids {
		if r := f.row(id); r.Finished() {
			*r = Row{ID: r.ID, Index: r.Index, Phase: PhasePending, Block: r.Block}
		}
	}
}

func (f *fold) BlockEnd(Event) {}

func (f *fold) ItemStart(ev Event) {
	r := f.row(ev.Item)
	*r = Row{ID: r.ID, Index: r.Index, Phase: PhaseRunning, Block: ev.Block, Started: ev.Time}
}

func (f *fold) ItemLimit(ev Event) {
	r := f.row(ev.Item)
	if ev.Limit != nil {
		r.Limit = *ev.Limit
	}
}

func (f *fold) ItemProgress(ev Event) { f.row(ev.Item).Done = ev.Done }

func (f *fold) ItemMessage(ev Event) { f.row(ev.Item).Message = OneLine(ev.Message) }

// ItemOutput: a line the command printed is the item's latest news too,
// unless it is blank.
func (f *fold) ItemOutput(ev Event) {
	if strings.TrimSpace(ev.Line) != "" {
		f.row(ev.Item).Message = OneLine(ev.Line)
	}
}

func (f *fold) ItemDone(ev Event) {
	s := ev.Status
	if s == "" {
		s = StatusApplied
	}
	f.end(ev.Item, s, ev.Time)
}

func (f *fold) ItemFailed(ev Event) {
	f.end(ev.Item, StatusFailed, ev.Time)
	f.row(ev.Item).Error = OneLine(ev.Error)
}

func (f *fold) ItemInterrupted(ev Event) { f.end(ev.Item, StatusInterrupted, ev.Time) }

func (f *fold) ItemUnknown(ev Event) {
	r := f.row(ev.Item)
	r.Phase, r.Status, r.Message = PhaseEnded, StatusUnknown, UnknownText
}

func (f *fold) end(id string, s Status, t time.Time) {
	r := f.row(id)
	r.Phase, r.Status, r.Ended = PhaseEnded, s, t
}

// The rest concern the run, not its items.
func (f *fold) InterruptReceived(Event) {}
func (f *fold) CancelRequested(Event)   {}
func (f *fold) LockWait(Event)          {}
func (f *fold) Notice(Event)            {}
func (f *fold) Fatal(Event)             {}
