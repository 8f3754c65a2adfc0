package result

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/progress"
)

// Options say how results are written.
type Options struct {
	Format string // text, yaml or json
	Color  bool   // ANSI colours in text
}

// Printer writes results to one stream, one write per result.
type Printer struct {
	w     *bufio.Writer
	opts  Options
	style styles
}

// New returns a Printer writing to w.
func New(w io.Writer, opts Options) *Printer {
	if opts.Format == "" {
		opts.Format = "text"
	}
	return &Printer{w: bufio.NewWriter(w), opts: opts, style: newStyles(opts.Color)}
}

// Format is the format the printer writes.
func (p *Printer) Format() string { return p.opts.Format }

// Write renders r as its command's result: states, a diff or an outcome.
func (p *Printer) Write(r *cmdexecution.Result) error {
	defer p.w.Flush()
	switch r.View {
	case cmdexecution.ViewStates:
		p.states(r)
	case cmdexecution.ViewDiff:
		p.diff(r)
	default:
		p.outcome(r)
	}
	return p.w.Flush()
}

// Structured writes v as JSON or YAML, as asked, and reports whether it
// did (false for text, which the caller writes).
func (p *Printer) Structured(v any) bool {
	defer p.w.Flush()
	switch p.opts.Format {
	case "json":
		WriteJSON(p.w, v)
		return true
	case "yaml":
		// States are JSON-shaped values; going through JSON gives YAML the
		// same field names the JSON result has.
		var generic any
		b, _ := json.Marshal(v)
		_ = json.Unmarshal(b, &generic)
		out, _ := yaml.Marshal(generic)
		_, _ = p.w.Write(out)
		return true
	}
	return false
}

// WriteJSON writes v indented, as every JSON result is.
func WriteJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// states prints item ID → state, for status and goal.
func (p *Printer) states(r *cmdexecution.Result) {
	m := map[string]any{}
	var unknown, afterApply []string
	for _, it := range r.Items {
		m[it.ID] = nil
		if it.Known {
			m[it.ID] = it.State
		}
		if it.Unknown {
			unknown = append(unknown, it.ID)
		}
		if it.AfterApply {
			afterApply = append(afterApply, it.ID)
		}
	}
	v := map[string]any{"states": m}
	if r.Stored {
		v["unknown"] = unknown
	}
	if len(afterApply) > 0 {
		v["known_after_apply"] = afterApply
	}
	if len(r.Removed) > 0 {
		v["removed"] = removedJSON(r.Removed)
	}
	if p.Structured(v) {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tTYPE\tSTATE")
	for _, it := range r.Items {
		text := "-"
		if it.Known || it.AfterApply {
			text = it.Summary
		}
		note := it.Error
		switch {
		case r.Stored && it.InProgress:
			note = "in progress: a live run is applying it"
		case r.Stored && it.Unknown:
			note = "unknown: a run stopped while applying it"
		}
		if note != "" {
			text += "  " + p.style.warn("("+note+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.ID, it.Type, text)
	}
	for _, it := range r.Removed {
		text := "-"
		if it.Known {
			text = it.Summary
		}
		fmt.Fprintf(tw, "%s\t%s\t%s  %s\n", it.ID, it.Type, text, p.style.warn("("+it.RemovedNote()+")"))
	}
	_ = tw.Flush()
}

// removedItemJSON is a recorded item no longer in the flow, in the JSON
// of status and diff: its type, recorded state, and why it cannot be
// cleaned if it cannot.
type removedItemJSON struct {
	Type  string `json:"type"`
	State any    `json:"state"`
	Note  string `json:"note"`
}

func removedJSON(rs []cmdexecution.ItemResult) map[string]removedItemJSON {
	m := make(map[string]removedItemJSON, len(rs))
	for _, it := range rs {
		ri := removedItemJSON{Type: it.Type, Note: it.RemovedNote()}
		if it.Known {
			ri.State = it.State
		}
		m[it.ID] = ri
	}
	return m
}

type diffJSON struct {
	Equal bool    `json:"equal"`
	Text  string  `json:"text,omitempty"`
	From  any     `json:"from"`
	To    any     `json:"to"`
	Error *string `json:"error"`
	// MayChange: the item may change although From and To do not say so
	// (an item it depends on would change), or they are known only after
	// apply (KnownAfterApply, From and To null).
	MayChange       bool `json:"may_change,omitempty"`
	KnownAfterApply bool `json:"known_after_apply,omitempty"`
}

// diff prints what ensure would change, item by item.
func (p *Printer) diff(r *cmdexecution.Result) {
	m := map[string]diffJSON{}
	for _, it := range r.Items {
		d := diffJSON{From: it.State, To: it.Target(), MayChange: it.MayChange, KnownAfterApply: it.AfterApply}
		if it.Diff() != nil {
			d.Equal, d.Text = it.Diff().Equal, it.Diff().Text
		}
		if it.Error != "" {
			msg := it.Error
			d.Error = &msg
		}
		m[it.ID] = d
	}
	doc := map[string]any{"items": m}
	if len(r.Removed) > 0 {
		doc["removed"] = removedJSON(r.Removed)
	}
	if p.Structured(doc) {
		return
	}
	for _, it := range r.Items {
		kind := p.style.dim("(" + it.Type + ")")
		switch {
		case it.Error != "":
			fmt.Fprintf(p.w, "%s %s\n  %s\n", it.ID, kind, p.style.del("error: "+it.Error))
		case it.AfterApply:
			fmt.Fprintf(p.w, "%s %s  %s\n  %s\n  %s\n", it.ID, kind, p.style.warn("may change: known after apply"),
				p.style.del("- "+it.Summary), p.style.add("+ "+it.TargetSummary()))
		case it.Diff() != nil && it.Diff().Equal && it.MayChange:
			fmt.Fprintf(p.w, "%s %s  %s\n  %s\n", it.ID, kind, p.style.warn("may change: an item it depends on would change"),
				p.style.dim("= "+it.Summary))
		case it.Diff() != nil && it.Diff().Equal:
			fmt.Fprintf(p.w, "%s %s\n  %s\n", it.ID, kind, p.style.dim("= "+it.Summary))
		default:
			fmt.Fprintf(p.w, "%s %s", it.ID, kind)
			if it.Diff() != nil && it.Diff().Text != "" {
				fmt.Fprintf(p.w, "  %s", it.Diff().Text)
			}
			fmt.Fprintf(p.w, "\n  %s\n  %s\n", p.style.del("- "+it.Summary), p.style.add("+ "+it.TargetSummary()))
		}
	}
	for _, it := range r.Removed {
		fmt.Fprintf(p.w, "%s %s  %s\n  %s\n", it.ID, p.style.dim("("+it.Type+")"), p.style.warn(it.RemovedNote()+": ensure cleans it"),
			p.style.del("- "+it.Summary))
	}
	would, may := r.Changes()
	fmt.Fprintf(p.w, "%d of %d items would change", would, len(r.Items)+len(r.Removed))
	if may > 0 {
		fmt.Fprintf(p.w, ", %d may change", may)
	}
	fmt.Fprintln(p.w)
}

// outcome prints the result of ensure or clean.
func (p *Printer) outcome(r *cmdexecution.Result) {
	if p.Structured(r.Doc()) {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tSTATUS\tSTATE")
	for _, it := range r.Items {
		text := "-"
		if it.Known || it.AfterApply {
			text = it.Summary
		}
		if r.DryRun && it.TargetSummary() != "" && it.Status == progress.StatusWouldApply && !it.AfterApply {
			// What it is, and what the apply would bring it to, as diff shows.
			text += " → " + it.TargetSummary()
		}
		status := it.Status.Text()
		if it.MayChange && r.DryRun {
			status += ", may change"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.ID, status, text)
	}
	for _, it := range r.Removed {
		text := "-"
		if it.Known {
			text = it.Summary
		}
		status := it.Status.Text()
		switch it.Status {
		case progress.StatusWouldApply:
			status = "would remove"
			if it.TargetSummary() != "" {
				text += " → " + it.TargetSummary()
			}
		case progress.StatusRemoved:
			text = "(removed from the flow; cleaned and forgotten)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.ID, status, text)
	}
	_ = tw.Flush()

	counts := r.Counts()
	if r.DryRun {
		// An item that may change is counted as that, not by its status.
		for _, it := range r.Items {
			if it.MayChange && (it.AfterApply || it.Status == progress.StatusUnchanged) {
				counts[it.Status]--
			}
		}
	}
	var parts []string
	for _, st := range []progress.Status{progress.StatusApplied, progress.StatusRemoved, progress.StatusWouldApply, progress.StatusUnchanged,
		progress.StatusFailed, progress.StatusInterrupted, progress.StatusNotStarted, progress.StatusUnknown} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], st.Text()))
		}
	}
	head := fmt.Sprintf("%s %s", r.Command, r.Outcome)
	switch r.Outcome {
	case "complete":
		head = p.style.ok(head)
	case "failed":
		head = p.style.del(head)
	default:
		head = p.style.warn(head)
	}
	if _, may := r.Changes(); r.DryRun && may > 0 {
		parts = append(parts, fmt.Sprintf("%d may change", may))
	}
	fmt.Fprintf(p.w, "%s: %s\n", head, strings.Join(parts, ", "))
	for _, it := range slices.Concat(r.Items, r.Removed) {
		if it.Error != "" && it.Status == progress.StatusFailed {
			fmt.Fprintf(p.w, "  %s %s: %s\n", p.style.del("failed"), it.ID, it.Error)
			if len(it.Output()) > 0 {
				fmt.Fprintf(p.w, "    last %d lines of its output:\n", len(it.Output()))
				for _, l := range it.Output() {
					fmt.Fprintf(p.w, "    %s %s\n", p.style.dim("|"), l)
				}
				fmt.Fprintf(p.w, "    full log: %s (peace logs %s %s)\n", it.Log(), r.Execution, it.ID)
			}
		}
	}
	if ids := r.With(progress.StatusInterrupted); len(ids) > 0 {
		fmt.Fprintf(p.w, "  interrupted while running: %s (discovered again on the next run)\n", JoinIDs(ids))
	}
	if ids := r.With(progress.StatusNotStarted); len(ids) > 0 && r.Outcome != "complete" {
		// With the failure that kept each from starting, where one did.
		why := map[string]string{}
		for _, it := range r.Items {
			if it.Status == progress.StatusNotStarted && strings.HasPrefix(it.Error, "not started: ") {
				why[it.ID] = strings.TrimPrefix(it.Error, "not started: ")
			}
		}
		for i, id := range ids {
			if w := why[id]; w != "" {
				ids[i] = id + " (" + w + ")"
			}
		}
		fmt.Fprintf(p.w, "  not started: %s\n", JoinIDs(ids))
	}
	if len(r.BlocksNotRun) > 0 {
		fmt.Fprintf(p.w, "  not run: %s\n", strings.Join(r.BlocksNotRun, ", "))
	}
}

// JoinIDs lists ids for a person: the first ten, then how many more (the
// JSON result has them all).
func JoinIDs(ids []string) string {
	const shown = 10
	s := append([]string(nil), ids[:min(len(ids), shown)]...)
	if len(ids) > shown {
		s = append(s, fmt.Sprintf("and %d more", len(ids)-shown))
	}
	return strings.Join(s, ", ")
}

// styles colour text for a terminal, or leave it as it is.
type styles struct {
	add, del, warn, ok, dim func(string) string
}

func newStyles(color bool) styles {
	sgr := func(code string) func(string) string {
		if !color {
			return func(s string) string { return s }
		}
		return func(s string) string { return "\x1b[" + code + "m" + s + "\x1b[0m" }
	}
	return styles{add: sgr("32"), del: sgr("31"), warn: sgr("33"), ok: sgr("32"), dim: sgr("2")}
}
