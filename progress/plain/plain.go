package plain

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/peace-go/peace/progress"
)

// Plain view timings: a heartbeat for items running this long (and again
// each time as long again passes), and at most one message line per item
// this often.
const (
	heartbeatEvery = 10 * time.Second
	messageEvery   = time.Second
)

// view writes one line per transition for CI logs and people reading
// them later:
//
//	[  0.3s] ensure   greeting  applied
//	[  1.2s] ensure   build     running: Step 3/5
//	[ 10.0s] ensure   build     still running (10.0s, 3/5 steps)
//
// Every line starts with the time since the view began, so logs sort and
// grep well. It never writes an escape sequence or a carriage return, and
// messages are cleaned of them.
type view struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	start   time.Time
	ledger  progress.Ledger
	news    []news // by Row.Index: what this view wrote of each item
	idWidth int
	execs   map[string]time.Time // execution ID -> its start
	err     error
	closed  bool

	ticking bool          // New started a ticker
	stop    chan struct{} // closed by Close to end the ticker
	done    chan struct{} // closed when the ticker has ended
}

// news is what the view wrote of an item since it started: heartbeats and
// the rate-limited message lines.
type news struct {
	beats int // heartbeats written since the item started

	msgAt      time.Time // when a message line was last written
	msgShown   string    // the last message written
	pending    string    // a newer message not written yet
	hasPending bool
}

var (
	_ progress.View    = (*view)(nil)
	_ progress.Handler = (*view)(nil)
)

// New returns the plain view writing to w. It writes a heartbeat line
// every 10 s for each item still running, until Close.
func New(w io.Writer) progress.View {
	v := newView(w, time.Now)
	v.ticking = true
	ticker := time.NewTicker(time.Second)
	go func() {
		defer close(v.done)
		defer ticker.Stop()
		for {
			select {
			case <-v.stop:
				return
			case <-ticker.C:
				v.tick()
			}
		}
	}()
	return v
}

// newView builds the view without its ticker; tests call tick themselves.
func newView(w io.Writer, now func() time.Time) *view {
	return &view{
		w:     w,
		now:   now,
		start: now(),
		execs: map[string]time.Time{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
}

// newsOf is what the view wrote of r.
func (v *view) newsOf(r *progress.Row) *news { return &v.news[r.Index] }

// seen takes in the rows the ledger added: the item column is as wide as
// the longest ID up to 24 characters.
func (v *view) seen() {
	rows := v.ledger.Rows()
	for _, r := range rows[len(v.news):] {
		if len(r.ID) > v.idWidth && len(r.ID) <= 24 {
			v.idWidth = len(r.ID)
		}
	}
	for len(v.news) < len(rows) {
		v.news = append(v.news, news{})
	}
}

// line writes one line stamped at t.
func (v *view) line(t time.Time, format string, args ...any) {
	if v.err != nil {
		return
	}
	elapsed := t.Sub(v.start).Seconds()
	if elapsed < 0 {
		elapsed = 0
	}
	s := fmt.Sprintf("[%5.1fs] ", elapsed) + fmt.Sprintf(format, args...) + "\n"
	_, v.err = io.WriteString(v.w, s)
}

// itemLine writes a line in the block and item columns.
func (v *view) itemLine(t time.Time, block, id, text string) {
	if block == "" {
		block = "-"
	}
	v.line(t, "%-8s %-*s %s", block, v.idWidth, id, text)
}

func (v *view) Emit(ev progress.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = v.now()
	}
	// The ledger and every line below take ev.Time as when it happened.
	v.ledger.Apply(ev)
	v.seen()
	progress.Handle(v, ev)
}

func (v *view) ExecutionStart(ev progress.Event) {
	t := ev.Time
	if len(v.execs) == 0 && t.Before(v.start) {
		// A stream replayed from a record: times count from its start.
		v.start = t
	}
	v.execs[ev.Execution] = t
	var b strings.Builder
	b.WriteString(orDash(ev.Command))
	for _, kv := range [][2]string{
		{"execution", ev.Execution}, {"flow", ev.Flow},
		{"profile", ev.Profile}, {"workspace", ev.Workspace},
	} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], progress.OneLine(kv[1]))
		}
	}
	fmt.Fprintf(&b, " items=%d", len(ev.Items))
	v.line(t, "%s", b.String())
}

func (v *view) BlockStart(ev progress.Event) { v.line(ev.Time, "block %s started", ev.Block) }
func (v *view) BlockEnd(ev progress.Event)   { v.line(ev.Time, "block %s ended", ev.Block) }

func (v *view) ItemStart(ev progress.Event) {
	*v.newsOf(v.ledger.Row(ev.Item)) = news{}
	v.itemLine(ev.Time, ev.Block, ev.Item, "running")
}

// The amount done shows in heartbeats, not lines of its own.
func (v *view) ItemLimit(progress.Event)    {}
func (v *view) ItemProgress(progress.Event) {}

func (v *view) ItemMessage(ev progress.Event) {
	r := v.ledger.Row(ev.Item)
	if r.Message == "" {
		return
	}
	n := v.newsOf(r)
	if !n.msgAt.IsZero() && ev.Time.Sub(n.msgAt) < messageEvery {
		n.pending, n.hasPending = r.Message, true
		return
	}
	v.message(ev.Time, r, r.Message)
}

func (v *view) ItemOutput(ev progress.Event) {
	// Every line, as it came: CI logs are where it is read.
	v.itemLine(ev.Time, ev.Block, ev.Item, "> "+progress.Printable(ev.Line))
}

func (v *view) ItemDone(ev progress.Event) {
	text := ev.Status.Text()
	if text == "" {
		text = "done"
	}
	v.ended(ev, text)
}

func (v *view) ItemFailed(ev progress.Event) {
	text := "failed"
	if msg := progress.OneLine(ev.Error); msg != "" {
		text += ": " + msg
	}
	v.ended(ev, text)
}

func (v *view) ItemInterrupted(ev progress.Event) { v.ended(ev, "interrupted") }

// ended writes an item's last line, after any message held back.
func (v *view) ended(ev progress.Event, text string) {
	v.flushMessage(ev.Time, v.ledger.Row(ev.Item))
	v.itemLine(ev.Time, ev.Block, ev.Item, text)
}

func (v *view) ItemUnknown(ev progress.Event) {
	v.itemLine(ev.Time, "recover", ev.Item, "unknown: "+progress.UnknownText)
}

func (v *view) InterruptReceived(ev progress.Event) {
	// In CI the stop names what stopped it (ev.Message: the signal, an
	// interrupt by ID) and how to go on to the next stage from there.
	on, next := "", "press Ctrl-C again to cancel them"
	switch from := ev.Message; {
	case from == "" || from == "Ctrl-C":
	case from == "SIGINT":
		on = " on SIGINT"
	case strings.HasPrefix(from, "SIG"):
		on, next = " on "+from, "a second "+from+" cancels them"
	default:
		on, next = " on "+from, "an interrupt with --cancel cancels them"
	}
	if len(ev.InFlight) == 0 {
		v.line(ev.Time, "stop%s: no items in flight; no new items will start", on)
	} else {
		v.line(ev.Time, "stop: finishing %d %s in flight (%s)%s — %s",
			len(ev.InFlight), plural(len(ev.InFlight), "item", "items"), strings.Join(ev.InFlight, ", "), on, next)
	}
}

func (v *view) CancelRequested(ev progress.Event) {
	if len(ev.InFlight) == 0 {
		v.line(ev.Time, "cancel: nothing in flight to cancel")
	} else {
		v.line(ev.Time, "cancel: cancelling %s", strings.Join(ev.InFlight, ", "))
	}
}

func (v *view) LockWait(ev progress.Event) { v.line(ev.Time, "lock: %s", progress.OneLine(ev.Message)) }
func (v *view) Notice(ev progress.Event)   { v.line(ev.Time, "notice: %s", progress.OneLine(ev.Message)) }
func (v *view) Fatal(ev progress.Event)    { v.line(ev.Time, "error: %s", progress.OneLine(ev.Message)) }

func (v *view) ExecutionEnd(ev progress.Event) {
	t := ev.Time
	for _, r := range v.ledger.Rows() {
		v.flushMessage(t, r)
	}
	began, ok := v.execs[ev.Execution]
	if !ok {
		began = v.start
	}
	v.line(t, "%s: %s", progress.OutcomeText(ev.Outcome, t.Sub(began)), progress.CountStatuses(ev.Statuses))
}

func (v *view) message(t time.Time, r *progress.Row, msg string) {
	n := v.newsOf(r)
	n.hasPending = false
	if msg == n.msgShown {
		return
	}
	n.msgAt, n.msgShown = t, msg
	v.itemLine(t, r.Block, r.ID, "running: "+msg)
}

func (v *view) flushMessage(t time.Time, r *progress.Row) {
	if n := v.newsOf(r); n.hasPending {
		v.message(t, r, n.pending)
	}
}

// tick writes held-back messages whose second has passed and heartbeats
// for items running long. Items are visited in the flow's order, as
// everywhere in this view, so output is stable.
func (v *view) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	now := v.now()
	for _, r := range v.ledger.Rows() {
		if r.Phase != progress.PhaseRunning {
			continue
		}
		n := v.newsOf(r)
		if n.hasPending && now.Sub(n.msgAt) >= messageEvery {
			v.message(now, r, n.pending)
		}
		running := now.Sub(r.Started)
		if running < time.Duration(n.beats+1)*heartbeatEvery {
			continue
		}
		n.beats = int(running / heartbeatEvery)
		text := "still running (" + progress.Seconds(running)
		if a := r.Amount(); a != "" {
			text += ", " + a
		}
		v.itemLine(now, r.Block, r.ID, text+")")
	}
}

// Close stops the heartbeat, writes any message still held back, and
// returns the first write error.
func (v *view) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return v.err
	}
	v.closed = true
	close(v.stop)
	now := v.now()
	for _, r := range v.ledger.Rows() {
		v.flushMessage(now, r)
	}
	err := v.err
	v.mu.Unlock()
	if v.ticking {
		// The ticker may be waiting for the lock; it sees closed and returns.
		<-v.done
	}
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
