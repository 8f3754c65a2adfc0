package progress

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Plain view timings: a heartbeat for items running this long (and again
// each time as long again passes), and at most one message line per item
// this often.
const (
	heartbeatEvery = 10 * time.Second
	messageEvery   = time.Second
)

// plainView writes one line per transition for CI logs and people reading
// them later:
//
//	[  0.3s] ensure   greeting  applied
//	[  1.2s] ensure   build     running: Step 3/5
//	[ 10.0s] ensure   build     still running (10.0s, 3/5 steps)
//
// Every line starts with the time since the view began, so logs sort and
// grep well. It never writes an escape sequence or a carriage return, and
// messages are cleaned of them.
type plainView struct {
	mu      sync.Mutex
	w       io.Writer
	now     func() time.Time
	start   time.Time
	idWidth int
	items   map[string]*plainItem
	order   []string             // item IDs as first seen: the flow's order
	execs   map[string]time.Time // execution ID -> its start
	err     error
	closed  bool

	ticking bool          // NewPlain started a ticker
	stop    chan struct{} // closed by Close to end the ticker
	done    chan struct{} // closed when the ticker has ended
}

type plainItem struct {
	block   string
	running bool
	started time.Time
	beats   int // heartbeats written since started
	limit   Limit
	done    int64

	msgAt      time.Time // when a message line was last written
	msgShown   string    // the last message written
	pending    string    // a newer message not written yet
	hasPending bool
}

var _ View = (*plainView)(nil)

// NewPlain returns the plain view writing to w. It writes a heartbeat line
// every 10 s for each item still running, until Close.
func NewPlain(w io.Writer) View {
	v := newPlain(w, time.Now)
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

// newPlain builds the view without its ticker; tests call tick themselves.
func newPlain(w io.Writer, now func() time.Time) *plainView {
	v := &plainView{
		w:     w,
		now:   now,
		start: now(),
		items: map[string]*plainItem{},
		execs: map[string]time.Time{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	return v
}

func (v *plainView) item(id string) *plainItem {
	it := v.items[id]
	if it == nil {
		it = &plainItem{}
		v.items[id] = it
		v.order = append(v.order, id)
		if len(id) > v.idWidth && len(id) <= 24 {
			v.idWidth = len(id)
		}
	}
	return it
}

// line writes one line stamped at t.
func (v *plainView) line(t time.Time, format string, args ...any) {
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
func (v *plainView) itemLine(t time.Time, block, id, text string) {
	if block == "" {
		block = "-"
	}
	v.line(t, "%-8s %-*s %s", block, v.idWidth, id, text)
}

func (v *plainView) Emit(ev Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	t := ev.Time
	if t.IsZero() {
		t = v.now()
	}
	switch ev.Type {
	case ExecutionStart:
		if len(v.execs) == 0 && t.Before(v.start) {
			// A stream replayed from a record: times count from its start.
			v.start = t
		}
		v.execs[ev.Execution] = t
		for _, id := range ev.Items {
			v.item(id)
		}
		var b strings.Builder
		b.WriteString(orDash(ev.Command))
		for _, kv := range [][2]string{
			{"execution", ev.Execution}, {"flow", ev.Flow},
			{"profile", ev.Profile}, {"workspace", ev.Workspace},
		} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s=%s", kv[0], oneLine(kv[1]))
			}
		}
		fmt.Fprintf(&b, " items=%d", len(ev.Items))
		v.line(t, "%s", b.String())
	case BlockStart:
		v.line(t, "block %s started", ev.Block)
	case BlockEnd:
		v.line(t, "block %s ended", ev.Block)
	case ItemStart:
		it := v.item(ev.Item)
		*it = plainItem{block: ev.Block, running: true, started: t}
		v.itemLine(t, ev.Block, ev.Item, "running")
	case ItemLimit:
		if ev.Limit != nil {
			v.item(ev.Item).limit = *ev.Limit
		}
	case ItemProgress:
		v.item(ev.Item).done = ev.Done
	case ItemMessage:
		it := v.item(ev.Item)
		msg := oneLine(ev.Message)
		if msg == "" {
			return
		}
		if !it.msgAt.IsZero() && t.Sub(it.msgAt) < messageEvery {
			it.pending, it.hasPending = msg, true
			return
		}
		v.message(t, ev.Item, it, msg)
	case ItemOutput:
		// Every line, as it came: CI logs are where it is read.
		v.itemLine(t, ev.Block, ev.Item, "> "+plainText(ev.Line))
	case ItemDone, ItemFailed, ItemInterrupted:
		it := v.item(ev.Item)
		v.flushMessage(t, ev.Item, it)
		it.running = false
		text := statusText(ev.Status)
		if text == "" {
			text = "done"
		}
		switch ev.Type {
		case ItemFailed:
			text = "failed"
			if msg := oneLine(ev.Error); msg != "" {
				text += ": " + msg
			}
		case ItemInterrupted:
			text = "interrupted"
		}
		v.itemLine(t, ev.Block, ev.Item, text)
	case ItemUnknown:
		v.item(ev.Item)
		v.itemLine(t, "recover", ev.Item, "unknown: begun in an earlier run that did not end; it will be discovered again")
	case InterruptReceived:
		if len(ev.InFlight) == 0 {
			v.line(t, "stop: no items in flight; no new items will start")
		} else {
			v.line(t, "stop: finishing %d %s in flight (%s) — press Ctrl-C again to cancel them",
				len(ev.InFlight), plural(len(ev.InFlight), "item", "items"), strings.Join(ev.InFlight, ", "))
		}
	case CancelRequested:
		if len(ev.InFlight) == 0 {
			v.line(t, "cancel: nothing in flight to cancel")
		} else {
			v.line(t, "cancel: cancelling %s", strings.Join(ev.InFlight, ", "))
		}
	case LockWait:
		v.line(t, "lock: %s", oneLine(ev.Message))
	case Notice:
		v.line(t, "notice: %s", oneLine(ev.Message))
	case Fatal:
		v.line(t, "error: %s", oneLine(ev.Message))
	case ExecutionEnd:
		for _, id := range v.order {
			it := v.items[id]
			v.flushMessage(t, id, it)
			it.running = false
		}
		began, ok := v.execs[ev.Execution]
		if !ok {
			began = v.start
		}
		v.line(t, "%s: %s", outcomeText(ev.Outcome, t.Sub(began)), countStatuses(ev.Statuses))
	}
}

func (v *plainView) message(t time.Time, id string, it *plainItem, msg string) {
	it.hasPending = false
	if msg == it.msgShown {
		return
	}
	it.msgAt, it.msgShown = t, msg
	v.itemLine(t, it.block, id, "running: "+msg)
}

func (v *plainView) flushMessage(t time.Time, id string, it *plainItem) {
	if it.hasPending {
		v.message(t, id, it, it.pending)
	}
}

// tick writes held-back messages whose second has passed and heartbeats
// for items running long. Items are visited in the flow's order, as
// everywhere in this view, so output is stable.
func (v *plainView) tick() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	now := v.now()
	for _, id := range v.order {
		it := v.items[id]
		if !it.running {
			continue
		}
		if it.hasPending && now.Sub(it.msgAt) >= messageEvery {
			v.message(now, id, it, it.pending)
		}
		running := now.Sub(it.started)
		if running < time.Duration(it.beats+1)*heartbeatEvery {
			continue
		}
		it.beats = int(running / heartbeatEvery)
		text := "still running (" + seconds(running)
		if a := amount(it.limit, it.done); a != "" {
			text += ", " + a
		}
		v.itemLine(now, it.block, id, text+")")
	}
}

// Close stops the heartbeat, writes any message still held back, and
// returns the first write error.
func (v *plainView) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return v.err
	}
	v.closed = true
	close(v.stop)
	now := v.now()
	for _, id := range v.order {
		v.flushMessage(now, id, v.items[id])
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

// ansiSeq matches the escape sequences commands print for terminals
// (colours, cursor moves), which plain output never carries.
var ansiSeq = regexp.MustCompile(`\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])`)

// plainText is a command's output line without escape sequences or
// control characters, as valid UTF-8.
func plainText(line string) string {
	line = ansiSeq.ReplaceAllString(line, "")
	line = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, line)
	return strings.ToValidUTF8(line, "\uFFFD")
}
