package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// printer writes results on stdout in the format asked for.
type printer struct {
	w      *bufio.Writer // one write per result, not one per line
	format string
	style  styles
}

type styles struct {
	add, del, warn, ok, dim lipgloss.Style
}

func (g *GlobalOptions) printer() *printer {
	r := lipgloss.NewRenderer(g.IO.Out)
	r.SetColorProfile(termenv.Ascii)
	if g.color(g.IO.OutTTY) {
		r.SetColorProfile(termenv.ANSI)
	}
	return &printer{w: bufio.NewWriter(g.IO.Out), format: g.Format, style: styles{
		add:  r.NewStyle().Foreground(lipgloss.Color("2")),
		del:  r.NewStyle().Foreground(lipgloss.Color("1")),
		warn: r.NewStyle().Foreground(lipgloss.Color("3")),
		ok:   r.NewStyle().Foreground(lipgloss.Color("2")),
		dim:  r.NewStyle().Faint(true),
	}}
}

// structured prints v as JSON or YAML and reports whether it did.
func (p *printer) structured(v any) bool {
	defer p.w.Flush()
	switch p.format {
	case "json":
		writeJSON(p.w, v)
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

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeJSONEvents writes a fatal error as the json view would: a version
// record, then an error event.
func writeJSONEvents(w io.Writer, msg string, code int) {
	v := progress.NewJSON(w)
	progress.NewEmitter(v).Emit(progress.Event{Type: progress.Fatal, Message: msg, Code: code})
	_ = v.Close()
}

// stateText is a state on one line, for tables.
func stateText(s items.State) string {
	switch s := s.(type) {
	case nil:
		return "-"
	case fmt.Stringer:
		return s.String()
	case string:
		return strings.ReplaceAll(s, "\n", `\n`)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return fmt.Sprintf("%v", s)
	}
	return strings.TrimSpace(buf.String())
}

// states prints item ID → state, for status and goal.
func (p *printer) states(flow *items.Flow, states []items.State, found func(i int) bool, note func(i int) string) {
	defer p.w.Flush()
	m := map[string]any{}
	for i, it := range flow.Items() {
		if found(i) {
			m[string(it.ID())] = states[i]
		} else {
			m[string(it.ID())] = nil
		}
	}
	if p.structured(map[string]any{"states": m}) {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tTYPE\tSTATE")
	for i, it := range flow.Items() {
		text := "-"
		if found(i) {
			text = stateText(states[i])
		}
		if n := note(i); n != "" {
			text += "  " + p.style.warn.Render("("+n+")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.ID(), it.Type(), text)
	}
	_ = tw.Flush()
}

type diffJSON struct {
	Equal bool    `json:"equal"`
	Text  string  `json:"text,omitempty"`
	From  any     `json:"from"`
	To    any     `json:"to"`
	Error *string `json:"error"`
}

// diff prints what ensure would change, item by item.
func (p *printer) diff(flow *items.Flow, current, target []items.State, diffs []items.Diff, errs []error) {
	defer p.w.Flush()
	m := map[string]diffJSON{}
	for i, it := range flow.Items() {
		d := diffJSON{Equal: diffs[i].Equal, Text: diffs[i].Text, From: current[i], To: target[i]}
		if errs[i] != nil {
			msg := errs[i].Error()
			d.Error = &msg
		}
		m[string(it.ID())] = d
	}
	if p.structured(map[string]any{"items": m}) {
		return
	}
	changes := 0
	for i, it := range flow.Items() {
		switch {
		case errs[i] != nil:
			fmt.Fprintf(p.w, "%s %s\n  %s\n", it.ID(), p.style.dim.Render("("+it.Type()+")"), p.style.del.Render("error: "+errs[i].Error()))
		case diffs[i].Equal:
			fmt.Fprintf(p.w, "%s %s\n  %s\n", it.ID(), p.style.dim.Render("("+it.Type()+")"), p.style.dim.Render("= "+stateText(current[i])))
		default:
			changes++
			fmt.Fprintf(p.w, "%s %s", it.ID(), p.style.dim.Render("("+it.Type()+")"))
			if diffs[i].Text != "" {
				fmt.Fprintf(p.w, "  %s", diffs[i].Text)
			}
			fmt.Fprintf(p.w, "\n  %s\n  %s\n", p.style.del.Render("- "+stateText(current[i])), p.style.add.Render("+ "+stateText(target[i])))
		}
	}
	fmt.Fprintf(p.w, "%d of %d items would change\n", changes, flow.Len())
}

type itemJSON struct {
	Status progress.Status `json:"status"`
	State  any             `json:"state"`
	Error  *string         `json:"error"`
}

// outcome prints the result of ensure or clean.
func (p *printer) outcome(command, execution string, flow *items.Flow, o cmdexecution.CmdOutcome, current []items.State, known func(i int) bool) {
	defer p.w.Flush()
	m := map[string]itemJSON{}
	for i, it := range flow.Items() {
		r := itemJSON{Status: o.Status[i]}
		if known(i) {
			r.State = current[i]
		}
		if err := o.Errors[it.ID()]; err != nil {
			msg := err.Error()
			r.Error = &msg
		}
		m[string(it.ID())] = r
	}
	if p.structured(map[string]any{"command": command, "execution": execution, "outcome": o.Result(), "items": m}) {
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ITEM\tSTATUS\tSTATE")
	counts := map[progress.Status]int{}
	for i, it := range flow.Items() {
		st := o.Status[i]
		counts[st]++
		text := "-"
		if known(i) {
			text = stateText(current[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", it.ID(), strings.ReplaceAll(string(st), "_", " "), text)
	}
	_ = tw.Flush()

	var parts []string
	for _, st := range []progress.Status{progress.StatusApplied, progress.StatusWouldApply, progress.StatusUnchanged,
		progress.StatusFailed, progress.StatusInterrupted, progress.StatusNotStarted, progress.StatusUnknown} {
		if counts[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[st], strings.ReplaceAll(string(st), "_", " ")))
		}
	}
	head := fmt.Sprintf("%s %s", command, o.Result())
	switch o.Result() {
	case "complete":
		head = p.style.ok.Render(head)
	case "failed":
		head = p.style.del.Render(head)
	default:
		head = p.style.warn.Render(head)
	}
	fmt.Fprintf(p.w, "%s: %s\n", head, strings.Join(parts, ", "))
	for i, it := range flow.Items() {
		if err := o.Errors[it.ID()]; err != nil && o.Status[i] == progress.StatusFailed {
			fmt.Fprintf(p.w, "  %s %s: %v\n", p.style.del.Render("failed"), it.ID(), err)
		}
	}
	if ids := o.IDs(flow, progress.StatusInterrupted); len(ids) > 0 {
		fmt.Fprintf(p.w, "  interrupted while running: %s (discovered again on the next run)\n", joinIDs(ids))
	}
	if ids := o.IDs(flow, progress.StatusNotStarted); len(ids) > 0 && o.Result() != "complete" {
		fmt.Fprintf(p.w, "  not started: %s\n", joinIDs(ids))
	}
	if len(o.BlocksNotRun) > 0 {
		fmt.Fprintf(p.w, "  not run: %s\n", strings.Join(o.BlocksNotRun, ", "))
	}
}

// joinIDs lists ids for a person: the first ten, then how many more (the
// JSON result has them all).
func joinIDs(ids []items.ID) string {
	const shown = 10
	s := make([]string, 0, min(len(ids), shown))
	for _, id := range ids[:min(len(ids), shown)] {
		s = append(s, string(id))
	}
	if len(ids) > shown {
		s = append(s, fmt.Sprintf("and %d more", len(ids)-shown))
	}
	return strings.Join(s, ", ")
}
