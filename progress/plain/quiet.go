package progress

import (
	"io"
	"time"
)

// quietView is the view of --progress none: no item lines, only what the
// user must be told whatever they asked for — interrupt stages, notices,
// lock waits, items left unknown by an earlier run, fatal errors — in the
// plain view's format.
type quietView struct {
	plain View
}

var _ View = (*quietView)(nil)

// NewQuiet returns the view that shows only what must be shown.
func NewQuiet(w io.Writer) View {
	return &quietView{plain: newPlain(w, time.Now)}
}

func (v *quietView) Emit(ev Event) {
	switch ev.Type {
	case InterruptReceived, CancelRequested, Notice, LockWait, ItemUnknown, Fatal:
		v.plain.Emit(ev)
	}
}

func (v *quietView) Close() error { return v.plain.Close() }
