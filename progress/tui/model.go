package tui

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"charm.land/bubbles/v2/spinner"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/peace-go/peace/progress"
)

// Messages the tui view sends its model.
type (
	// eventsMsg is a batch of events, in the order they were emitted
	// (progress and messages of one item coalesced).
	eventsMsg []progress.Event
	// closeMsg asks for the final frame and the end of the program.
	closeMsg struct{}
)

// interruptStage is how far the interrupt stages have gone, as the events tell.
type interruptStage int

const (
	stageNone   interruptStage = iota
	stageStop                  // InterruptReceived: nothing new starts
	stageCancel                // CancelRequested: the items in flight are cancelled
)

// model is the bubbletea model behind the tui view. All of its state
// comes from events; it never looks at the world itself.
type model struct {
	now         func() time.Time
	onInterrupt func()
	onInit      func() // called once when the program has set up the terminal
	styles      styles
	spinner     spinner.Model

	width, height int

	command, flow, profile, workspace string

	ledger progress.Ledger // the rows

	notices  []string // latest last; a few are kept
	lockWait string   // shown until the execution starts
	fatal    string

	stage interruptStage
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

func newModel(styles styles, now func() time.Time, onInterrupt func()) *model {
	return &model{
		now:         now,
		onInterrupt: onInterrupt,
		styles:      styles,
		spinner:     spinner.New(spinner.WithSpinner(spinner.MiniDot), spinner.WithStyle(styles.running)),
	}
}

func (m *model) Init() tea.Cmd {
	if m.onInit != nil {
		m.onInit()
		m.onInit = nil
	}
	return m.spinner.Tick
}

// Update applies one message. A panic here must not leave the terminal
// raw: it is kept for the view, and the program quits cleanly.
func (m *model) Update(msg tea.Msg) (next tea.Model, cmd tea.Cmd) {
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
			repaint = repaint || ev.Type == progress.InterruptReceived || ev.Type == progress.CancelRequested
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
func (m *model) interrupt() tea.Cmd {
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

func (m *model) recordPanic(r any) {
	if m.panicked == nil {
		m.panicked, m.stack = r, debug.Stack()
	}
}

// apply folds one event into the rows and the rest of the frame. An
// event that came without a time happened now.
func (m *model) apply(ev progress.Event) {
	if ev.Time.IsZero() {
		ev.Time = m.now()
	}
	m.ledger.Apply(ev)
	progress.Handle(m, ev)
}

func (m *model) ExecutionStart(ev progress.Event) {
	m.command, m.flow, m.profile, m.workspace = ev.Command, ev.Flow, ev.Profile, ev.Workspace
	m.lockWait = ""
	m.ended = false
	if m.began.IsZero() {
		m.began = ev.Time
	}
}

func (m *model) ExecutionEnd(ev progress.Event) {
	m.ended = true
	m.endedAt = ev.Time
	m.outcome = ev.Outcome
	if m.began.IsZero() {
		m.began = ev.Time
	}
}

func (m *model) InterruptReceived(ev progress.Event) { m.stage, m.stopped = stageStop, ev.InFlight }
func (m *model) CancelRequested(ev progress.Event)   { m.stage, m.cancelled = stageCancel, ev.InFlight }
func (m *model) LockWait(ev progress.Event)          { m.lockWait = progress.OneLine(ev.Message) }
func (m *model) Fatal(ev progress.Event)             { m.fatal = progress.OneLine(ev.Message) }

func (m *model) Notice(ev progress.Event) {
	m.notices = append(m.notices, progress.OneLine(ev.Message))
	if len(m.notices) > maxNotices {
		m.notices = m.notices[len(m.notices)-maxNotices:]
	}
}

// The rows are the ledger's: these show in them.
func (m *model) BlockStart(progress.Event)      {}
func (m *model) BlockEnd(progress.Event)        {}
func (m *model) ItemStart(progress.Event)       {}
func (m *model) ItemLimit(progress.Event)       {}
func (m *model) ItemProgress(progress.Event)    {}
func (m *model) ItemMessage(progress.Event)     {}
func (m *model) ItemOutput(progress.Event)      {}
func (m *model) ItemDone(progress.Event)        {}
func (m *model) ItemFailed(progress.Event)      {}
func (m *model) ItemInterrupted(progress.Event) {}
func (m *model) ItemUnknown(progress.Event)     {}

// footer says what Ctrl-C does now, or, at the end, sums up the run.
func (m *model) footer() string {
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
			return st.summary.Render("after " + progress.Seconds(m.now().Sub(m.began)) + ": " + m.ledger.Count(m.ledger.Rows()).String())
		}
		summary := st.summary.Render(progress.OutcomeText(m.outcome, m.endedAt.Sub(m.began)) + ": " + m.ledger.Summary())
		switch m.stage {
		case stageStop:
			summary += "\n" + st.stop.Render("stopped: nothing new started; "+finishedText(m.stopped))
		case stageCancel:
			summary += "\n" + st.cancel.Render("stopped, then cancelled: "+orNone(progress.JoinIDs(m.cancelled, 5)))
		}
		return summary
	}
	if m.fatal != "" {
		return st.failed.Render("error: " + m.fatal)
	}
	var inFlight []string
	for _, r := range m.ledger.Rows() {
		if r.Phase == progress.PhaseRunning {
			inFlight = append(inFlight, r.ID)
		}
	}
	switch m.stage {
	case stageStop:
		if len(inFlight) == 0 {
			// The last item in flight has finished; the outcome follows.
			return st.stop.Render("stopping: nothing left in flight")
		}
		return st.stop.Render(fmt.Sprintf("stopping: %d in flight (%s) — Ctrl-C again to cancel them",
			len(inFlight), progress.JoinIDs(inFlight, 5)))
	case stageCancel:
		text := "cancelling…"
		if len(inFlight) > 0 {
			text += " " + progress.JoinIDs(inFlight, 5)
		}
		return st.cancel.Render(text + " — Ctrl-C again to quit at once")
	}
	return st.dim.Render("Ctrl-C: stop after the items in flight")
}

// View is the frame for the program.
func (m *model) View() tea.View {
	return tea.NewView(m.frame())
}

// frame draws the frame: header, notices, rows, footer. A panic here is
// kept like one in Update; the next message quits the program.
func (m *model) frame() (frame string) {
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

func (m *model) header() string {
	if m.command == "" && m.flow == "" {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"flow", m.flow}, {"profile", m.profile}, {"workspace", m.workspace}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+m.styles.bold.Render(progress.OneLine(kv[1])))
		}
	}
	return m.styles.title.Render(cmp.Or(m.command, "-")) + "  " + strings.Join(parts, m.styles.dim.Render(" · "))
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
func (m *model) rowLines(width, budget int) []string {
	rows := m.ledger.Rows()
	shown := rows
	var hidden []*progress.Row
	if budget >= 0 && len(rows) > budget {
		room := max(budget-1, 0) // the counting line
		var rest []*progress.Row
		for _, r := range rows {
			if r.Finished() {
				hidden = append(hidden, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(rest) > room {
			need := make(map[*progress.Row]int, len(rest))
			for _, r := range rest {
				need[r] = m.need(r)
			}
			byNeed := append([]*progress.Row(nil), rest...)
			sort.SliceStable(byNeed, func(i, j int) bool { return need[byNeed[i]] < need[byNeed[j]] })
			hidden = append(hidden, byNeed[room:]...)
			rest = byNeed[:room]
			sort.Slice(rest, func(i, j int) bool { return rest[i].Index < rest[j].Index })
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
func (m *model) need(r *progress.Row) int {
	switch {
	case r.Phase == progress.PhaseRunning:
		return 0
	case r.Phase == progress.PhaseEnded && !r.Finished() && r.Status != progress.StatusNotStarted:
		return 1
	case r.Phase == progress.PhasePending && len(m.ledger.WaitingOn(r)) == 0:
		return 2
	}
	return 3
}

func (m *model) hiddenLine(hidden []*progress.Row) string {
	return m.styles.dim.Render(fmt.Sprintf("… %d more rows: %s", len(hidden), m.ledger.Count(hidden)))
}

// rowColumns are the widths of a row's columns for one frame.
type rowColumns struct {
	id, slot, amount int
}

// columns sizes the columns to the terminal and the rows shown: the slot
// holds the bar or spinner of a running row and the status word of any
// other; the amount column is there only when a row has an amount.
func (m *model) columns(width int, rows []*progress.Row) rowColumns {
	c := rowColumns{slot: len("interrupted")}
	for _, r := range rows {
		c.id = max(c.id, ansi.StringWidth(r.ID))
		c.amount = max(c.amount, ansi.StringWidth(r.Amount()))
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
func (m *model) rowLine(r *progress.Row, c rowColumns) string {
	st := m.styles
	label := m.ledger.Label(r)
	style := st.forLabel(label)

	id := truncateMiddle(r.ID, c.id)
	id += strings.Repeat(" ", c.id-ansi.StringWidth(id))

	var b strings.Builder
	b.WriteString(style.Render(markFor(label)) + " " + id + " " + m.slot(r, label, style, c.slot))
	if c.amount > 0 {
		b.WriteString(" " + pad(r.Amount(), c.amount))
	}
	b.WriteString(" " + pad(m.elapsed(r), 6))

	msg, msgStyle := r.Message, st.dim
	switch {
	case r.Error != "":
		msg, msgStyle = r.Error, st.failed
	case r.Phase == progress.PhasePending:
		if on := m.ledger.WaitingOn(r); len(on) > 0 {
			msg = "on " + progress.JoinIDs(on, 3)
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
func (m *model) slot(r *progress.Row, label string, style lipgloss.Style, width int) string {
	if r.Phase != progress.PhaseRunning || m.closing {
		return style.Render(pad(label, width))
	}
	if r.Limit.Kind != progress.LimitUnknown && r.Limit.Kind != "" && r.Limit.Total > 0 {
		frac := min(max(float64(r.Done)/float64(r.Limit.Total), 0), 1)
		filled := int(frac * float64(width))
		return m.styles.barFull.Render(strings.Repeat("█", filled)) +
			m.styles.barEmpty.Render(strings.Repeat("░", width-filled))
	}
	return pad(m.spinner.View()+" "+style.Render(label), width)
}

func (m *model) elapsed(r *progress.Row) string {
	switch {
	case r.Started.IsZero():
		return ""
	case r.Phase == progress.PhaseRunning:
		return progress.Seconds(m.now().Sub(r.Started))
	case !r.Ended.IsZero():
		return progress.Seconds(r.Ended.Sub(r.Started))
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
	case progress.StatusApplied.Text(), progress.StatusDiscovered.Text():
		return "✓"
	case progress.StatusUnchanged.Text():
		return "="
	case progress.StatusWouldApply.Text():
		return "~"
	case progress.StatusFailed.Text():
		return "✗"
	case progress.StatusInterrupted.Text():
		return "!"
	case progress.StatusNotStarted.Text():
		return "-"
	}
	return "?"
}

// styles are the colours of the view. Without colour they are empty
// styles, so a frame is plain text whatever the terminal can do.
type styles struct {
	title, bold, dim, summary  lipgloss.Style
	running, ok, failed, stop  lipgloss.Style
	cancel, unknown, barFull   lipgloss.Style
	barEmpty, unchanged, would lipgloss.Style
}

func newStyles(color bool) styles {
	bold := lipgloss.NewStyle().Bold(true)
	c := func(code string) lipgloss.Style { return lipgloss.NewStyle().Foreground(lipgloss.Color(code)) }
	if !color {
		bold = lipgloss.NewStyle()
		c = func(string) lipgloss.Style { return lipgloss.NewStyle() }
	}
	return styles{
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

func (s styles) forLabel(label string) lipgloss.Style {
	switch label {
	case "running":
		return s.running
	case progress.StatusApplied.Text(), progress.StatusDiscovered.Text():
		return s.ok
	case progress.StatusFailed.Text():
		return s.failed
	case progress.StatusInterrupted.Text(), progress.StatusWouldApply.Text():
		return s.would
	case progress.StatusUnknown.Text():
		return s.unknown
	}
	return s.dim
}

func finishedText(inFlight []string) string {
	if len(inFlight) == 0 {
		return "nothing was in flight"
	}
	return "let " + progress.JoinIDs(inFlight, 5) + " finish"
}

func orNone(s string) string {
	if s == "" {
		return "nothing was in flight"
	}
	return s
}
