package cmdexecution

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// View says which part of a Result a command is about: the states it
// found (status, goal), the changes it would make (diff), or what it did
// (ensure, clean).
type View string

const (
	ViewStates  View = "states"
	ViewDiff    View = "diff"
	ViewOutcome View = "outcome"
)

// Result is what became of one execution, item by item, worked out once.
// Every progress view and every result format renders it; it serialises
// as is (the JSON contracts of the command line are renderings of it).
type Result struct {
	Execution    string       `json:"execution"`
	Command      string       `json:"command"`
	View         View         `json:"view"`
	Outcome      string       `json:"outcome"` // complete | interrupted | failed
	Items        []ItemResult `json:"items"`   // in flow order
	BlocksNotRun []string     `json:"blocks_not_run,omitempty"`
	// Stored says the states are the recorded ones: nothing was
	// discovered (status --stored).
	Stored bool `json:"stored,omitempty"`
	// DryRun says nothing was applied: the items' targets are what an
	// apply would reach (ensure --dry-run, clean --dry-run).
	DryRun bool `json:"dry_run,omitempty"`
	// Notices are what the user should be told about the recorded state
	// (a torn journal tail, a run that did not finish).
	Notices []string `json:"notices,omitempty"`
	// Removed are the recorded items no longer in the flow, by ID: what
	// status and diff list, and what ensure and clean cleaned first.
	Removed []ItemResult `json:"removed,omitempty"`

	// Outcome and Data are the raw material, for programs that build their
	// own blocks.
	CmdOutcome CmdOutcome     `json:"-"`
	Data       *cmdblock.Data `json:"-"`
}

// ItemResult is what became of one item. What only some items have (a
// target, a diff, the output of a failed item, why a removed item cannot
// be cleaned) is in its ItemDetail, made only for those: a result of
// 100,000 items holds little more than each one's ID, status and state.
type ItemResult struct {
	ID     string
	Type   string
	Status progress.Status
	// Known says State is known: found, applied or recorded. An item whose
	// apply failed or was cancelled has no known state.
	Known bool
	State items.State
	// Summary is State on one line, for people.
	Summary string
	detail  *ItemDetail // nil when all its fields are empty
	Error   string
	// Unknown: an earlier run began applying the item and never ended.
	Unknown bool
	// InProgress: a live run is applying the item now (status --stored).
	InProgress bool
	// AfterApply: in a preview, the item's states are known only after
	// apply (what it needs comes from an item that would change first);
	// State and Target are not known, their summaries say so.
	AfterApply bool
	// MayChange: in a preview, the item may change although its known
	// states do not say so: they are known after apply, or an item it
	// depends on would or may change.
	MayChange bool
	// Removed: the item is recorded but no longer in the flow;
	// RemovedNote says so, and why it cannot be cleaned if it cannot.
	Removed bool
}

// ItemDetail is what only some items of a result have.
type ItemDetail struct {
	// Target is the state the item would be brought to (diff).
	Target        items.State
	TargetSummary string
	Diff          *items.Diff
	// Output is the last lines the item's commands printed, for an item
	// that failed or was interrupted; Log is the file that has them all.
	Output []string
	Log    string
	// RemovedNote says a removed item is no longer in the flow, and why
	// it cannot be cleaned if it cannot.
	RemovedNote string
}

var noDetail ItemDetail

// Detail is the item's detail, to set: made empty if it has none.
func (it *ItemResult) Detail() *ItemDetail {
	if it.detail == nil {
		it.detail = &ItemDetail{}
	}
	return it.detail
}

func (it *ItemResult) get() *ItemDetail {
	if it.detail == nil {
		return &noDetail
	}
	return it.detail
}

// Target is the state the item would be brought to (diff), nil if none.
func (it *ItemResult) Target() items.State { return it.get().Target }

// TargetSummary is Target on one line, for people.
func (it *ItemResult) TargetSummary() string { return it.get().TargetSummary }

// Diff is the item's diff (diff), nil if none.
func (it *ItemResult) Diff() *items.Diff { return it.get().Diff }

// Output is the last lines the commands of a failed or interrupted item
// printed.
func (it *ItemResult) Output() []string { return it.get().Output }

// Log is the file that has all the output of a failed or interrupted item.
func (it *ItemResult) Log() string { return it.get().Log }

// RemovedNote says a removed item is no longer in the flow, and why it
// cannot be cleaned if it cannot.
func (it *ItemResult) RemovedNote() string { return it.get().RemovedNote }

// itemResultJSON is ItemResult as it serialises, every field in one
// object.
type itemResultJSON struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Status progress.Status `json:"status"`
	Known  bool            `json:"known"`
	State  items.State     `json:"state"`
	// Summary is State on one line, for people.
	Summary       string      `json:"summary,omitempty"`
	Target        items.State `json:"target,omitempty"`
	TargetSummary string      `json:"target_summary,omitempty"`
	Diff          *items.Diff `json:"diff,omitempty"`
	Error         string      `json:"error,omitempty"`
	Unknown       bool        `json:"unknown,omitempty"`
	InProgress    bool        `json:"in_progress,omitempty"`
	AfterApply    bool        `json:"known_after_apply,omitempty"`
	MayChange     bool        `json:"may_change,omitempty"`
	Output        []string    `json:"output,omitempty"`
	Log           string      `json:"log,omitempty"`
	Removed       bool        `json:"removed,omitempty"`
	RemovedNote   string      `json:"removed_note,omitempty"`
}

// MarshalJSON writes it as one object, its detail's fields among its own.
func (it ItemResult) MarshalJSON() ([]byte, error) {
	d := it.get()
	return json.Marshal(itemResultJSON{ID: it.ID, Type: it.Type, Status: it.Status, Known: it.Known, State: it.State,
		Summary: it.Summary, Target: d.Target, TargetSummary: d.TargetSummary, Diff: d.Diff, Error: it.Error,
		Unknown: it.Unknown, InProgress: it.InProgress, AfterApply: it.AfterApply, MayChange: it.MayChange,
		Output: d.Output, Log: d.Log, Removed: it.Removed, RemovedNote: d.RemovedNote})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (it *ItemResult) UnmarshalJSON(b []byte) error {
	var j itemResultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*it = ItemResult{ID: j.ID, Type: j.Type, Status: j.Status, Known: j.Known, State: j.State, Summary: j.Summary,
		Error: j.Error, Unknown: j.Unknown, InProgress: j.InProgress, AfterApply: j.AfterApply, MayChange: j.MayChange,
		Removed: j.Removed}
	if d := (ItemDetail{Target: j.Target, TargetSummary: j.TargetSummary, Diff: j.Diff, Output: j.Output, Log: j.Log,
		RemovedNote: j.RemovedNote}); d.Target != nil || d.TargetSummary != "" || d.Diff != nil || d.Output != nil ||
		d.Log != "" || d.RemovedNote != "" {
		it.detail = &d
	}
	return nil
}

// KnownAfterApply is the summary of a state that is known only after
// apply.
const KnownAfterApply = "(known after apply)"

// Changes counts, in a preview, the items that would change (their states
// differ from their targets) and those that may change (see MayChange).
func (r *Result) Changes() (would, may int) {
	for _, it := range r.Items {
		switch {
		case it.AfterApply:
			may++
		case it.Diff() != nil && !it.Diff().Equal, it.Diff() == nil && it.Status == progress.StatusWouldApply:
			would++
		case it.MayChange:
			may++
		}
	}
	for _, it := range r.Removed {
		if it.Status == "" || it.Status == progress.StatusWouldApply {
			would++ // ensure would clean it
		}
	}
	return would, may
}

// Counts is how many items ended in each status.
func (r *Result) Counts() map[progress.Status]int {
	c := map[progress.Status]int{}
	for _, it := range r.Items {
		c[it.Status]++
	}
	for _, it := range r.Removed {
		if it.Status != "" {
			c[it.Status]++
		}
	}
	return c
}

// With returns the IDs of the items whose status is one of sts, in flow
// order.
func (r *Result) With(sts ...progress.Status) []string {
	var ids []string
	for _, it := range r.Items {
		for _, s := range sts {
			if it.Status == s {
				ids = append(ids, it.ID)
				break
			}
		}
	}
	return ids
}

// Result works out what became of each item from what the blocks left in
// data and the combined outcome.
func (e *CmdExecution) Result(id string, flow *items.Flow, data *cmdblock.Data, o CmdOutcome) *Result {
	r := &Result{Execution: id, Command: e.Command, View: e.View, Outcome: o.Verdict(),
		BlocksNotRun: o.BlocksNotRun, CmdOutcome: o, Data: data}
	if r.View == "" {
		r.View = ViewOutcome
	}
	goal := len(e.Blocks) == 1 && isGoalOnly(e.Blocks[0])
	var targets []items.State // what a dry run would bring the items to
	for _, b := range e.Blocks {
		if a, ok := b.(cmdblock.Apply); ok && a.DryRun {
			r.DryRun, targets = true, data.Goal
			if a.Op == items.OpClean {
				targets = data.Clean
			}
		}
	}
	r.Items = make([]ItemResult, flow.Len())
	for i, it := range flow.Items() {
		ir := ItemResult{ID: string(it.ID()), Type: it.Type(), Status: o.Status[i], Unknown: data.Unknown[i]}
		err := data.Err[i]
		if r.View == ViewOutcome {
			err = o.Errors[it.ID()] // only the items that failed or were cut short
		}
		if err != nil {
			ir.Error = err.Error()
		}
		switch {
		case goal:
			ir.State, ir.Known = data.Goal[i], data.Goal[i] != nil
		case r.View != ViewOutcome:
			ir.State, ir.Known = data.Current[i], data.Found[i]
		case data.Lost[i]:
			// Its apply did not return: what it is now is not known.
		case data.Found[i] || data.Applied[i]:
			ir.State, ir.Known = data.Current[i], data.Current[i] != nil
		default:
			// Never reached: what was recorded before.
			ir.State, ir.Known = data.Stored[i], data.Stored[i] != nil
		}
		if ir.Known {
			ir.Summary = items.Summary(ir.State)
		}
		if r.View == ViewDiff {
			d := ir.Detail()
			d.Target = data.Goal[i]
			d.TargetSummary = items.Summary(d.Target)
			var diff items.Diff // none when no diff block ran
			if data.Diff != nil {
				diff = data.Diff[i]
			}
			d.Diff = &diff
		}
		if targets != nil && ir.Status == progress.StatusWouldApply {
			d := ir.Detail()
			d.Target = targets[i]
			d.TargetSummary = items.Summary(d.Target)
		}
		ir.MayChange = data.MayChange[i] || data.AfterApply[i]
		if data.AfterApply[i] {
			ir.AfterApply = true
			ir.State, ir.Known = nil, false
			d := ir.Detail()
			d.Target = nil
			ir.Summary, d.TargetSummary = KnownAfterApply, KnownAfterApply
		}
		r.Items[i] = ir
	}
	return r
}

func isGoalOnly(b cmdblock.Block) bool {
	d, ok := b.(cmdblock.Discover)
	return ok && d.States == cmdblock.DiscoverGoal
}

// OutcomeItem is one item of the outcome document.
type OutcomeItem struct {
	Status progress.Status `json:"status"`
	State  any             `json:"state"`
	Error  *string         `json:"error"`
	// Target is, in a dry run, the state an apply would reach.
	Target any `json:"target,omitempty"`
	// KnownAfterApply and MayChange are ItemResult's, in a dry run.
	KnownAfterApply bool `json:"known_after_apply,omitempty"`
	MayChange       bool `json:"may_change,omitempty"`
	// Output and Log: for an item that failed or was interrupted, the last
	// lines its commands printed and the log that has them all.
	Output []string `json:"output,omitempty"`
	Log    string   `json:"log,omitempty"`
	// Removed: the item was no longer in the flow; this execution cleaned
	// it (status removed), or tried to.
	Removed bool `json:"removed,omitempty"`
}

// OutcomeDoc is the result of ensure and clean as the command line's
// --format json prints it, an execution record keeps it and the server
// returns it: {command, execution, outcome, items: {ID: {status, state,
// error}}}.
type OutcomeDoc struct {
	Command   string                 `json:"command"`
	Execution string                 `json:"execution"`
	Outcome   string                 `json:"outcome"`
	Items     map[string]OutcomeItem `json:"items"`
}

// Doc is r as the outcome document.
func (r *Result) Doc() OutcomeDoc {
	d := OutcomeDoc{Command: r.Command, Execution: r.Execution, Outcome: r.Outcome,
		Items: make(map[string]OutcomeItem, len(r.Items))}
	for _, it := range slices.Concat(r.Items, r.Removed) {
		d.Items[it.ID] = it.outcomeItem()
	}
	return d
}

// outcomeItem is it as an item of the outcome document.
func (it *ItemResult) outcomeItem() OutcomeItem {
	d := it.get()
	oi := OutcomeItem{Status: it.Status, Target: d.Target, KnownAfterApply: it.AfterApply, MayChange: it.MayChange,
		Output: d.Output, Log: d.Log, Removed: it.Removed}
	if it.Known {
		oi.State = it.State
	}
	if it.Error != "" {
		msg := it.Error
		oi.Error = &msg
	}
	return oi
}

// ExitCode is the exit code the command line gives an execution with
// this outcome: 0 complete, 1 failed, 130 interrupted.
func (r *Result) ExitCode() int {
	switch r.Outcome {
	case "failed":
		return 1
	case "interrupted":
		return 130
	}
	return 0
}

// MarshalOutcome is r's outcome document as JSON, on one line: it is
// written at the end of every execution, however little it did, and
// whoever shows it to a person decodes it first.
func (r *Result) MarshalOutcome() ([]byte, error) {
	var b bytes.Buffer
	if err := r.WriteOutcome(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteOutcome writes r's outcome document to w as MarshalOutcome has it,
// byte for byte, one item at a time: for a big flow neither the document
// nor its encoding is ever whole in memory.
func (r *Result) WriteOutcome(w io.Writer) error {
	// The document's items are a JSON object, so in ID order, each ID once
	// (a removed item's entry is the last said of it).
	order := make([]int32, 0, len(r.Items)+len(r.Removed))
	for i := range len(r.Items) + len(r.Removed) {
		order = append(order, int32(i))
	}
	item := func(i int32) *ItemResult {
		if int(i) < len(r.Items) {
			return &r.Items[i]
		}
		return &r.Removed[int(i)-len(r.Items)]
	}
	slices.SortStableFunc(order, func(a, b int32) int { return strings.Compare(item(a).ID, item(b).ID) })

	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriterSize(w, 32<<10)
	}
	enc := json.NewEncoder(lineWriter{bw})
	for _, f := range []struct{ key, value string }{
		{`{"command":`, r.Command}, {`,"execution":`, r.Execution}, {`,"outcome":`, r.Outcome},
	} {
		_, _ = bw.WriteString(f.key)
		if err := enc.Encode(f.value); err != nil {
			return err
		}
	}
	_, _ = bw.WriteString(`,"items":{`)
	var oi OutcomeItem
	first := true
	for k, i := range order {
		it := item(i)
		if k+1 < len(order) && item(order[k+1]).ID == it.ID {
			continue // said again later
		}
		if !first {
			_ = bw.WriteByte(',')
		}
		first = false
		if err := enc.Encode(it.ID); err != nil {
			return err
		}
		_ = bw.WriteByte(':')
		oi = it.outcomeItem()
		if err := enc.Encode(&oi); err != nil {
			return err
		}
	}
	_, _ = bw.WriteString("}}")
	return bw.Flush()
}

// ResultFromDoc is the Result an outcome document describes, for showing
// an execution that ran elsewhere: items in flow's order (then those no
// longer in it), states decoded by their items where they still decode.
func ResultFromDoc(d OutcomeDoc, flow *items.Flow) *Result {
	r := &Result{Execution: d.Execution, Command: d.Command, View: ViewOutcome, Outcome: d.Outcome}
	seen := map[string]bool{}
	add := func(id, typ string, it items.Item) {
		oi := d.Items[id]
		ir := ItemResult{ID: id, Type: typ, Status: oi.Status, State: oi.State, Known: oi.State != nil,
			AfterApply: oi.KnownAfterApply, MayChange: oi.MayChange}
		if oi.Output != nil || oi.Log != "" || oi.Target != nil || oi.KnownAfterApply {
			d := ir.Detail()
			d.Output, d.Log, d.Target = oi.Output, oi.Log, oi.Target
		}
		if oi.Error != nil {
			ir.Error = *oi.Error
		}
		if ir.Known && it != nil {
			if raw, err := json.Marshal(oi.State); err == nil {
				if st, err := it.DecodeState(raw); err == nil {
					ir.State = st
				}
			}
		}
		if ir.Known {
			ir.Summary = items.Summary(ir.State)
		}
		if ir.Target() != nil {
			ir.Detail().TargetSummary = items.Summary(ir.Target())
		}
		if ir.AfterApply {
			ir.Summary, ir.Detail().TargetSummary = KnownAfterApply, KnownAfterApply
		}
		r.Items = append(r.Items, ir)
		seen[id] = true
	}
	if flow != nil {
		for _, it := range flow.Items() {
			if _, ok := d.Items[string(it.ID())]; ok {
				add(string(it.ID()), it.Type(), it)
			}
		}
	}
	rest := make([]string, 0, len(d.Items))
	for id := range d.Items {
		if !seen[id] {
			rest = append(rest, id)
		}
	}
	slices.Sort(rest)
	for _, id := range rest {
		add(id, "-", nil)
	}
	return r
}

// CompareStored is a diff of two recorded results of the same flow (two
// profiles, say): each item's state in a against its state in b.
func CompareStored(flow *items.Flow, a, b *Result) *Result {
	r := &Result{Command: "diff", View: ViewDiff, Outcome: "complete", Stored: true}
	byID := func(res *Result) map[string]ItemResult {
		m := make(map[string]ItemResult, len(res.Items))
		for _, it := range res.Items {
			m[it.ID] = it
		}
		return m
	}
	as, bs := byID(a), byID(b)
	for _, it := range flow.Items() {
		id := string(it.ID())
		x, y := as[id], bs[id]
		ir := ItemResult{ID: id, Type: it.Type(), Status: progress.StatusDiscovered, Known: x.Known,
			State: x.State, Summary: x.Summary}
		dt := ir.Detail()
		dt.Target, dt.TargetSummary = y.State, y.Summary
		if !x.Known {
			ir.Summary = "-"
		}
		if !y.Known {
			dt.TargetSummary = "-"
		}
		var d items.Diff
		switch {
		case x.Known && y.Known:
			var err error
			if d, err = it.Diff(x.State, y.State); err != nil {
				ir.Error = err.Error()
			}
		default:
			d = items.Diff{Equal: x.Known == y.Known}
			if !d.Equal {
				d.Text = ir.Summary + " → " + dt.TargetSummary
			}
		}
		dt.Diff = &d
		r.Items = append(r.Items, ir)
	}
	return r
}

// lineWriter drops the newline json.Encoder ends each value with, so that
// the values it writes make one compact document.
type lineWriter struct{ w *bufio.Writer }

func (l lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	_, err := l.w.Write(bytes.TrimSuffix(p, []byte{'\n'}))
	return n, err
}
