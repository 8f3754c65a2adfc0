package progress

import (
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Messages the tui view sends its model.
type (
	// eventsMsg is a batch of events, in the order they were emitted
	// (progress and messages of one item coalesced).
	eventsMsg []Event
	// closeMsg asks for the final frame and the end of the program.
	closeMsg struct{}
)

// rowPhase is where a row is within the current block.
type rowPhase int

const (
	phasePending rowPhase = iota // not started in this block: queued or waiting
	phaseRunning
	phaseEnded // status says how
)

// tuiRow is one item's line.
type tuiRow struct {
	id      string
	index   int // position in the stable order
	phase   rowPhase
	status  Status // set when ended; StatusUnknown after recovery
	limit   Limit
	done    int64
	message string
	err     string
	started time.Time
	ended   time.Time
}

// tuiStage is how far the interrupt stages have gone, as the events tell.
type tuiStage int

const (
	stageNone   tuiStage = iota
	stageStop            // InterruptReceived: nothing new starts
	stageCancel          // CancelRequested: the items in flight are cancelled
)

// tuiModel is the bubbletea model behind the tui view. All of its state
// comes from events; it never looks at the world itself.
type tuiModel struct {
	now         func() time.Time
	onInterrupt func()
	onInit      func() // called once when the program has set up the terminal
	styles      tuiStyles
	spinner     spinner.Model

	width, height int

	command, flow, profile, workspace string

	rows      []*tuiRow
	byID      map[string]*tuiRow
	deps      map[string][]string // item -> the items it depends on
	dependent map[string][]string // item -> the items that depend on it
	execItems map[string][]string // execution ID -> its items
	block     string              // the block running now

	notices  []string // latest last; a few are kept
	lockWait string   // shown until the execution starts
	fatal    string

	stage tuiStage
	// stopped and cancelled are the items in flight when each stage began;
	// the final frame names them, since a stage that ends within one frame
	// is otherwise never seen.
	stopped, cancelled []string
	began              time.Time
	endedAt            time.Time
	outcome            string
	ended              bool // an ExecutionEnd came and no execution started since

	closing bool // the final frame is being drawn
	// quitOnInterrupt is set when Ctrl-C is pressed while cancelling: the
	// program quits (restoring the terminal) and the view calls
	// onInterrupt after, since the process is about to exit at once.
	quitOnInterrupt bool
	// panicked holds a panic recovered in Update or View; the view
	// restores the terminal and panics again with it.
	panicked any
	stack    []byte
}

const maxNotices = 3

func newTUIModel(styles tuiStyles, now func() time.Time, onInterrupt func()) *tuiModel {
	return &tuiModel{
		now:         now,
		onInterrupt: onInterrupt,
		styles:      styles,
		spinner:     spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(styles.running)),
		byID:        map[string]*tuiRow{},
		deps:        map[string][]string{},
		dependent:   map[string][]string{},
		execItems:   map[string][]string{},
	}
}

func (m *tuiModel) Init() tea.Cmd {
	if m.onInit != nil {
		m.onInit()
		m.onInit = nil
	}
	return m.spinner.Tick
}

// Update applies one message. A panic here must not leave the terminal
// raw: it is kept for the view, and the program quits cleanly.
func (m *tuiModel) Update(msg tea.Msg) (next tea.Model, cmd tea.Cmd) {
	defer func() {
		if r := recover(); r != nil {
			m.recordPanic(r)
			next, cmd = m, tea.Quit
		}
	}()
	if m.panicked != nil {
		// View panicked since the last Update.
		return m, tea.Quit
	}
	switch msg := msg.(type) {
	case eventsMsg:
		repaint := false
		for _, ev := range msg {
			m.apply(ev)
			// A Ctrl-C that came as a signal was echoed by the terminal
			// ("^C") where the cursor was, and moved it: the renderer only
			// redraws cells it knows changed, so the whole frame is drawn
			// again from its first line.
			repaint = repaint || ev.Type == InterruptReceived || ev.Type == CancelRequested
		}
		if repaint {
			return m, tea.ClearScreen
		}
	case closeMsg:
		m.closing = true
		// The same for a press echoed just before the end: the final
		// frame stays on screen.
		return m, tea.Sequence(tea.ClearScreen, tea.Quit)
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyPressMsg:
		// Keystroke leaves out Caps Lock and Num Lock, which terminals
		// speaking the kitty keyboard protocol report too.
		if msg.Keystroke() == "ctrl+c" {
			return m, m.interrupt()
		}
	case spinner.TickMsg:
		if m.closing {
			return m, nil
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	}
	return m, nil
}

// interrupt handles a Ctrl-C key. The terminal is raw, so this is the only
// way the press reaches the core. Once cancelling, another press makes the
// core exit at once: restore the terminal first.
func (m *tuiModel) interrupt() tea.Cmd {
	if m.onInterrupt == nil {
		return nil
	}
	if m.stage == stageCancel {
		m.quitOnInterrupt = true
		return tea.Quit
	}
	m.onInterrupt()
	return nil
}

func (m *tuiModel) recordPanic(r any) {
	if m.panicked == nil {
		m.panicked, m.stack = r, debug.Stack()
	}
}

// at is when ev happened: its own time, or now for events that came
// without one.
func (m *tuiModel) at(ev Event) time.Time {
	if ev.Time.IsZero() {
		return m.now()
	}
	return ev.Time
}

func (m *tuiModel) row(id string) *tuiRow {
	r := m.byID[id]
	if r == nil {
		r = &tuiRow{id: id, index: len(m.rows)}
		m.rows = append(m.rows, r)
		m.byID[id] = r
	}
	return r
}

func (m *tuiModel) apply(ev Event) {
	t := m.at(ev)
	switch ev.Type {
	case ExecutionStart:
		m.command, m.flow, m.profile, m.workspace = ev.Command, ev.Flow, ev.Profile, ev.Workspace
		m.lockWait = ""
		m.ended = false
		if m.began.IsZero() {
			m.began = t
		}
		for _, id := range ev.Items {
			m.row(id)
		}
		m.execItems[ev.Execution] = ev.Items
		// Dependents are listed in the stable order of the items.
		var extra []string
		for id := range ev.Deps {
			if _, listed := m.byID[id]; !listed {
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
			m.deps[id] = deps
			for _, d := range deps {
				m.dependent[d] = appendNew(m.dependent[d], id)
			}
		}
	case BlockStart:
		m.block = ev.Block
		// A new pass over the items: what a previous block finished is
		// pending again here, with nothing left of that block (its time
		// and last message would read as this block's). Failures and
		// unknowns stay visible until the item starts.
		ids := m.execItems[ev.Execution]
		if ids == nil {
			ids = make([]string, 0, len(m.rows))
			for _, r := range m.rows {
				ids = append(ids, r.id)
			}
		}
		for _, id := range ids {
			if r := m.row(id); r.phase == phaseEnded && isDone(r.status) {
				*r = tuiRow{id: r.id, index: r.index, phase: phasePending}
			}
		}
	case ItemStart:
		r := m.row(ev.Item)
		*r = tuiRow{id: r.id, index: r.index, phase: phaseRunning, started: t}
	case ItemLimit:
		if ev.Limit != nil {
			m.row(ev.Item).limit = *ev.Limit
		}
	case ItemProgress:
		m.row(ev.Item).done = ev.Done
	case ItemMessage:
		m.row(ev.Item).message = oneLine(ev.Message)
	case ItemDone:
		m.end(ev.Item, ev.Status, t)
	case ItemFailed:
		m.end(ev.Item, StatusFailed, t)
		m.row(ev.Item).err = oneLine(ev.Error)
	case ItemInterrupted:
		m.end(ev.Item, StatusInterrupted, t)
	case ItemUnknown:
		r := m.row(ev.Item)
		r.phase, r.status = phaseEnded, StatusUnknown
		r.message = "begun in an earlier run that did not end; it will be discovered again"
	case InterruptReceived:
		m.stage, m.stopped = stageStop, ev.InFlight
	case CancelRequested:
		m.stage, m.cancelled = stageCancel, ev.InFlight
	case LockWait:
		m.lockWait = oneLine(ev.Message)
	case Notice:
		m.notices = append(m.notices, oneLine(ev.Message))
		if len(m.notices) > maxNotices {
			m.notices = m.notices[len(m.notices)-maxNotices:]
		}
	case Fatal:
		m.fatal = oneLine(ev.Message)
	case ExecutionEnd:
		m.ended = true
		m.endedAt = t
		m.outcome = ev.Outcome
		if m.began.IsZero() {
			m.began = t
		}
		// The outcome is the last word on every row, including the ones
		// that never started.
		for id, s := range ev.Statuses {
			r := m.row(id)
			if r.phase != phaseEnded {
				r.ended = t
			}
			r.phase, r.status = phaseEnded, s
		}
	}
}

func (m *tuiModel) end(id string, s Status, t time.Time) {
	r := m.row(id)
	if s == "" {
		s = StatusApplied
	}
	r.phase, r.status, r.ended = phaseEnded, s, t
}

// isDone reports whether an item in this status lets its dependents start.
func isDone(s Status) bool {
	switch s {
	case StatusApplied, StatusUnchanged, StatusDiscovered, StatusWouldApply:
		return true
	}
	return false
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// waitingOn lists the items r still waits for in the current block: its
// dependencies, or, when cleaning (reverse order), the items that depend
// on it.
func (m *tuiModel) waitingOn(r *tuiRow) []string {
	on := m.deps[r.id]
	if m.block == "clean" {
		on = m.dependent[r.id]
	}
	var waiting []string
	for _, d := range on {
		if dr := m.byID[d]; dr == nil || !(dr.phase == phaseEnded && isDone(dr.status)) {
			waiting = append(waiting, d)
		}
	}
	return waiting
}

// rowLabel is the status word of a row: what the status mark means.
func (m *tuiModel) rowLabel(r *tuiRow) string {
	switch r.phase {
	case phaseRunning:
		return "running"
	case phasePending:
		if len(m.waitingOn(r)) > 0 {
			return "waiting"
		}
		return "queued"
	}
	return statusText(r.status)
}

// footer says what Ctrl-C does now, or, at the end, sums up the run.
func (m *tuiModel) footer() string {
	st := m.styles
	if m.quitOnInterrupt {
		return st.cancel.Render("quitting at once: what was in flight is discovered again on the next run")
	}
	if m.ended || m.closing {
		if m.fatal != "" {
			return st.failed.Render("error: " + m.fatal)
		}
		if m.began.IsZero() {
			return ""
		}
		if !m.ended {
			// Closed with no outcome (the run ended some other way): say
			// where every row was left.
			return st.summary.Render("after " + seconds(m.now().Sub(m.began)) + ": " + m.countLabels(m.rows))
		}
		statuses := map[string]Status{}
		for _, r := range m.rows {
			if r.phase == phaseEnded {
				statuses[r.id] = r.status
			}
		}
		summary := st.summary.Render(outcomeText(m.outcome, m.endedAt.Sub(m.began)) + ": " + countStatuses(statuses))
		switch m.stage {
		case stageStop:
			summary += "\n" + st.stop.Render("stopped: nothing new started; "+finishedText(m.stopped))
		case stageCancel:
			summary += "\n" + st.cancel.Render("stopped, then cancelled: "+orNone(joinIDs(m.cancelled, 5)))
		}
		return summary
	}
	if m.fatal != "" {
		return st.failed.Render("error: " + m.fatal)
	}
	var inFlight []string
	for _, r := range m.rows {
		if r.phase == phaseRunning {
			inFlight = append(inFlight, r.id)
		}
	}
	switch m.stage {
	case stageStop:
		if len(inFlight) == 0 {
			// The last item in flight has finished; the outcome follows.
			return st.stop.Render("stopping: nothing left in flight")
		}
		return st.stop.Render(fmt.Sprintf("stopping: %d in flight (%s) — Ctrl-C again to cancel them",
			len(inFlight), joinIDs(inFlight, 5)))
	case stageCancel:
		text := "cancelling…"
		if len(inFlight) > 0 {
			text += " " + joinIDs(inFlight, 5)
		}
		return st.cancel.Render(text + " — Ctrl-C again to quit at once")
	}
	return st.dim.Render("Ctrl-C: stop after the items in flight")
}

// View is the frame for the program.
func (m *tuiModel) View() tea.View {
	return tea.NewView(m.frame())
}

// frame draws the frame: header, notices, rows, footer. A panic here is
// kept like one in Update; the next message quits the program.
func (m *tuiModel) frame() (frame string) {
	defer func() {
		if r := recover(); r != nil {
			m.recordPanic(r)
			frame = ""
		}
	}()
	width := m.width
	if width <= 0 {
		width = 80
	}
	var lines []string
	if h := m.header(); h != "" {
		lines = append(lines, h)
	}
	if m.lockWait != "" {
		lines = append(lines, m.styles.stop.Render("lock: "+m.lockWait))
	}
	for _, n := range m.notices {
		lines = append(lines, m.styles.stop.Render("notice: "+n))
	}
	var footer []string
	if f := m.footer(); f != "" {
		// The footer and the summary wrap rather than lose their end.
		footer = strings.Split(ansi.Wrap(f, width, " "), "\n")
	}
	budget := -1 // all rows
	if m.height > 0 {
		// One line is kept free: a frame as tall as the terminal scrolls.
		budget = max(m.height-1-len(lines)-len(footer), 0)
	}
	lines = append(lines, m.rowLines(width, budget)...)
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, width, "…")
	}
	lines = append(lines, footer...)
	if limit := max(m.height-1, 1); m.height > 0 && len(lines) > limit {
		// A tiny terminal: the footer matters most, the header least.
		lines = lines[len(lines)-limit:]
	}
	frame = strings.Join(lines, "\n")
	if m.closing || m.quitOnInterrupt {
		// The renderer clears the line the cursor is on when it stops;
		// let that be an empty one so the summary stays.
		frame += "\n"
	}
	return frame
}

func (m *tuiModel) header() string {
	if m.command == "" && m.flow == "" {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"flow", m.flow}, {"profile", m.profile}, {"workspace", m.workspace}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+m.styles.bold.Render(oneLine(kv[1])))
		}
	}
	return m.styles.title.Render(orDash(m.command)) + "  " + strings.Join(parts, m.styles.dim.Render(" · "))
}

// rowLines renders the rows within budget lines (-1: no limit).
//
// Runs of 200 items or more do not fit a terminal, and a frame taller
// than the terminal cannot be redrawn in place. So when the rows do not
// fit, the rows that finished well (applied, unchanged, discovered,
// would apply) collapse into one line that counts them, and the rest are
// shown in their stable order. If even those do not fit, rows are kept by
// what needs eyes most (running, then failed, interrupted and unknown,
// then queued, then waiting and not started) and the hidden ones are
// counted on the same line. The final frame follows the same rule, so it
// ends up showing the failures and what never ran, with the successes
// counted. Scrolling was the other choice; it hides running rows the user
// did not scroll to, and the view has no keys besides Ctrl-C.
func (m *tuiModel) rowLines(width, budget int) []string {
	shown := m.rows
	var hidden []*tuiRow
	if budget >= 0 && len(m.rows) > budget {
		room := max(budget-1, 0) // the counting line
		var rest []*tuiRow
		for _, r := range m.rows {
			if r.phase == phaseEnded && isDone(r.status) {
				hidden = append(hidden, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(rest) > room {
			need := make(map[*tuiRow]int, len(rest))
			for _, r := range rest {
				need[r] = m.need(r)
			}
			byNeed := append([]*tuiRow(nil), rest...)
			sort.SliceStable(byNeed, func(i, j int) bool { return need[byNeed[i]] < need[byNeed[j]] })
			hidden = append(hidden, byNeed[room:]...)
			rest = byNeed[:room]
			sort.Slice(rest, func(i, j int) bool { return rest[i].index < rest[j].index })
		}
		shown = rest
	}
	cols := m.columns(width, shown)
	lines := make([]string, 0, len(shown)+1)
	if len(hidden) > 0 {
		lines = append(lines, m.hiddenLine(hidden))
	}
	for _, r := range shown {
		lines = append(lines, m.rowLine(r, cols))
	}
	return lines
}

// need ranks rows for the little room a small terminal leaves.
func (m *tuiModel) need(r *tuiRow) int {
	switch {
	case r.phase == phaseRunning:
		return 0
	case r.phase == phaseEnded && !isDone(r.status) && r.status != StatusNotStarted:
		return 1
	case r.phase == phasePending && len(m.waitingOn(r)) == 0:
		return 2
	}
	return 3
}

func (m *tuiModel) hiddenLine(hidden []*tuiRow) string {
	return m.styles.dim.Render(fmt.Sprintf("… %d more rows: %s", len(hidden), m.countLabels(hidden)))
}

// countLabels counts rows by their status word: "3 applied, 2 running".
func (m *tuiModel) countLabels(rows []*tuiRow) string {
	counts := map[string]int{}
	var order []string
	for _, r := range rows {
		l := m.rowLabel(r)
		if counts[l] == 0 {
			order = append(order, l)
		}
		counts[l]++
	}
	sort.SliceStable(order, func(i, j int) bool { return labelRank(order[i]) < labelRank(order[j]) })
	parts := make([]string, len(order))
	for i, l := range order {
		parts[i] = fmt.Sprintf("%d %s", counts[l], l)
	}
	return strings.Join(parts, ", ")
}

// labelRank orders status words: outcomes as in summaries, then running,
// queued and waiting.
func labelRank(label string) int {
	for i, s := range summaryOrder {
		if statusText(s) == label {
			return i
		}
	}
	for i, l := range []string{"running", "queued", "waiting"} {
		if l == label {
			return len(summaryOrder) + i
		}
	}
	return len(summaryOrder) + 3
}

// rowColumns are the widths of a row's columns for one frame.
type rowColumns struct {
	id, slot, amount int
}

// columns sizes the columns to the terminal and the rows shown: the slot
// holds the bar or spinner of a running row and the status word of any
// other; the amount column is there only when a row has an amount.
func (m *tuiModel) columns(width int, rows []*tuiRow) rowColumns {
	c := rowColumns{slot: len("interrupted")}
	for _, r := range rows {
		c.id = max(c.id, ansi.StringWidth(r.id))
		c.amount = max(c.amount, ansi.StringWidth(amount(r.limit, r.done)))
	}
	c.id = min(c.id, max(12, min(32, width/4)))
	switch {
	case width >= 110:
		c.slot = 24
	case width >= 76:
		c.slot = 12
	case width < 60:
		c.amount = 0
	}
	return c
}

// rowLine renders: mark, ID, bar or spinner or status word, amount,
// elapsed, message.
func (m *tuiModel) rowLine(r *tuiRow, c rowColumns) string {
	st := m.styles
	label := m.rowLabel(r)
	style := st.forLabel(label)

	id := truncateMiddle(r.id, c.id)
	id += strings.Repeat(" ", c.id-ansi.StringWidth(id))

	var b strings.Builder
	b.WriteString(style.Render(markFor(label)) + " " + id + " " + m.slot(r, label, style, c.slot))
	if c.amount > 0 {
		b.WriteString(" " + pad(amount(r.limit, r.done), c.amount))
	}
	b.WriteString(" " + pad(m.elapsed(r), 6))

	msg, msgStyle := r.message, st.dim
	switch {
	case r.err != "":
		msg, msgStyle = r.err, st.failed
	case r.phase == phasePending:
		if on := m.waitingOn(r); len(on) > 0 {
			msg = "on " + joinIDs(on, 3)
		}
	}
	if msg != "" {
		b.WriteString(" " + msgStyle.Render(msg))
	}
	return strings.TrimRight(b.String(), " ")
}

// truncateMiddle shortens an item ID to width cells keeping both ends:
// IDs often share a prefix and differ at the end (part_001, part_002).
func truncateMiddle(id string, width int) string {
	if len(id) <= width || width < 5 {
		return ansi.Truncate(id, width, "…")
	}
	head := (width - 1) / 2
	tail := width - 1 - head
	return id[:head] + "…" + id[len(id)-tail:]
}

// slot is a progress bar for a running row with a known total, a spinner
// for one without, and the status word for every other row.
func (m *tuiModel) slot(r *tuiRow, label string, style lipgloss.Style, width int) string {
	if r.phase != phaseRunning || m.closing {
		return style.Render(pad(label, width))
	}
	if r.limit.Kind != LimitUnknown && r.limit.Kind != "" && r.limit.Total > 0 {
		frac := min(max(float64(r.done)/float64(r.limit.Total), 0), 1)
		filled := int(frac * float64(width))
		return m.styles.barFull.Render(strings.Repeat("█", filled)) +
			m.styles.barEmpty.Render(strings.Repeat("░", width-filled))
	}
	return pad(m.spinner.View()+" "+style.Render(label), width)
}

func (m *tuiModel) elapsed(r *tuiRow) string {
	switch {
	case r.started.IsZero():
		return ""
	case r.phase == phaseRunning:
		return seconds(m.now().Sub(r.started))
	case !r.ended.IsZero():
		return seconds(r.ended.Sub(r.started))
	}
	return ""
}

// pad fills s with spaces to width cells (or cuts it).
func pad(s string, width int) string {
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "…")
	}
	return s + strings.Repeat(" ", width-w)
}

// markFor is the status mark of a row: readable without colour too.
func markFor(label string) string {
	switch label {
	case "queued":
		return "·"
	case "waiting":
		return "○"
	case "running":
		return "▸"
	case statusText(StatusApplied), statusText(StatusDiscovered):
		return "✓"
	case statusText(StatusUnchanged):
		return "="
	case statusText(StatusWouldApply):
		return "~"
	case statusText(StatusFailed):
		return "✗"
	case statusText(StatusInterrupted):
		return "!"
	case statusText(StatusNotStarted):
		return "-"
	}
	return "?"
}

// tuiStyles are the colours of the view. Without colour they are empty
// styles, so a frame is plain text whatever the terminal can do.
type tuiStyles struct {
	title, bold, dim, summary  lipgloss.Style
	running, ok, failed, stop  lipgloss.Style
	cancel, unknown, barFull   lipgloss.Style
	barEmpty, unchanged, would lipgloss.Style
}

func newTUIStyles(color bool) tuiStyles {
	bold := lipgloss.NewStyle().Bold(true)
	c := func(code string) lipgloss.Style { return lipgloss.NewStyle().Foreground(lipgloss.Color(code)) }
	if !color {
		bold = lipgloss.NewStyle()
		c = func(string) lipgloss.Style { return lipgloss.NewStyle() }
	}
	return tuiStyles{
		title:     bold,
		bold:      bold,
		dim:       c("8"),
		summary:   bold,
		running:   c("4"),
		ok:        c("2"),
		failed:    c("1"),
		stop:      c("3"),
		cancel:    c("1").Inherit(bold),
		unknown:   c("5"),
		barFull:   c("4"),
		barEmpty:  c("8"),
		unchanged: c("8"),
		would:     c("3"),
	}
}

func (s tuiStyles) forLabel(label string) lipgloss.Style {
	switch label {
	case "running":
		return s.running
	case statusText(StatusApplied), statusText(StatusDiscovered):
		return s.ok
	case statusText(StatusFailed):
		return s.failed
	case statusText(StatusInterrupted), statusText(StatusWouldApply):
		return s.would
	case statusText(StatusUnknown):
		return s.unknown
	}
	return s.dim
}

func finishedText(inFlight []string) string {
	if len(inFlight) == 0 {
		return "nothing was in flight"
	}
	return "let " + joinIDs(inFlight, 5) + " finish"
}

func orNone(s string) string {
	if s == "" {
		return "nothing was in flight"
	}
	return s
}
