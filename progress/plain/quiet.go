package plain

import (
	"io"
	"time"

	"github.com/peace-go/peace/progress"
)

// quiet is the view of --progress none: no item lines, only what the
// user must be told whatever they asked for — interrupt stages, notices,
// lock waits, items left unknown by an earlier run, fatal errors — in the
// plain view's format.
type quiet struct {
	plain *view
}

var (
	_ progress.View    = (*quiet)(nil)
	_ progress.Handler = (*quiet)(nil)
)

// NewQuiet returns the view that shows only what must be shown.
func NewQuiet(w io.Writer) progress.View {
	return &quiet{plain: newView(w, time.Now)}
}

func (q *quiet) Emit(ev progress.Event) { progress.Handle(q, ev) }

func (q *quiet) Close() error { return q.plain.Close() }

// Shown whatever was asked for.
func (q *quiet) InterruptReceived(ev progress.Event) { q.plain.Emit(ev) }
func (q *quiet) CancelRequested(ev progress.Event)   { q.plain.Emit(ev) }
func (q *quiet) Notice(ev progress.Event)            { q.plain.Emit(ev) }
func (q *quiet) LockWait(ev progress.Event)          { q.plain.Emit(ev) }
func (q *quiet) ItemUnknown(ev progress.Event)       { q.plain.Emit(ev) }
func (q *quiet) Fatal(ev progress.Event)             { q.plain.Emit(ev) }

// Not shown: the run's progress.
func (q *quiet) ExecutionStart(progress.Event)  {}
func (q *quiet) ExecutionEnd(progress.Event)    {}
func (q *quiet) BlockStart(progress.Event)      {}
func (q *quiet) BlockEnd(progress.Event)        {}
func (q *quiet) ItemStart(progress.Event)       {}
func (q *quiet) ItemLimit(progress.Event)       {}
func (q *quiet) ItemProgress(progress.Event)    {}
func (q *quiet) ItemMessage(progress.Event)     {}
func (q *quiet) ItemOutput(progress.Event)      {}
func (q *quiet) ItemDone(progress.Event)        {}
func (q *quiet) ItemFailed(progress.Event)      {}
func (q *quiet) ItemInterrupted(progress.Event) {}
