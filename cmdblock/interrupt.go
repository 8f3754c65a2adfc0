package cmdblock

import (
	"context"
	"slices"
	"sync"
)

// Stage is how far an execution has been asked to stop.
type Stage int

const (
	Running    Stage = iota
	Stopping         // stage 1: no new item starts; items in flight finish
	Cancelling       // stage 2: the contexts of items in flight are cancelled
)

func (s Stage) String() string {
	switch s {
	case Stopping:
		return "stop"
	case Cancelling:
		return "cancel"
	}
	return "running"
}

// Strategy is how an execution reacts to an interrupt.
type Strategy struct {
	// Ignore makes the execution run to its end whatever is asked.
	Ignore bool
	// PollNext lets this many more items start after a stop (0: none, the
	// default "finish current" behaviour).
	PollNext int
}

var (
	// FinishCurrent stops new starts and lets items in flight finish.
	FinishCurrent = Strategy{}
	// IgnoreInterrupts runs to the end regardless.
	IgnoreInterrupts = Strategy{Ignore: true}
)

// PollNextN lets n more items start after a stop before the block stops.
func PollNextN(n int) Strategy { return Strategy{PollNext: n} }

// Interrupt is one execution's interrupt channel: CmdCtx advances it, blocks
// watch it. Its zero value is not usable; call NewInterrupt.
type Interrupt struct {
	strategy Strategy

	mu       sync.Mutex
	stage    Stage
	stopped  chan struct{}
	canceled chan struct{}

	itemCtx    context.Context
	cancelItem context.CancelFunc

	inFlight map[string]int // item ID -> position in the flow, while running
}

// NewInterrupt returns an Interrupt whose item context derives from parent.
func NewInterrupt(parent context.Context, s Strategy) *Interrupt {
	ctx, cancel := context.WithCancel(parent)
	return &Interrupt{
		strategy:   s,
		stopped:    make(chan struct{}),
		canceled:   make(chan struct{}),
		itemCtx:    ctx,
		cancelItem: cancel,
		inFlight:   map[string]int{},
	}
}

// Advance moves to the next stage (running → stopping → cancelling) and
// returns the stage reached and the items in flight at that moment, in flow
// order. Under IgnoreInterrupts it stays Running.
func (in *Interrupt) Advance() (Stage, []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.strategy.Ignore {
		return in.stage, in.running()
	}
	switch in.stage {
	case Running:
		in.stage = Stopping
		close(in.stopped)
	case Stopping:
		in.stage = Cancelling
		close(in.canceled)
		in.cancelItem()
	}
	return in.stage, in.running()
}

func (in *Interrupt) running() []string {
	ids := make([]string, 0, len(in.inFlight))
	for id := range in.inFlight {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return in.inFlight[a] - in.inFlight[b] })
	return ids
}

// started and finished keep the in-flight set that stages announce.
func (in *Interrupt) started(id string, pos int) {
	in.mu.Lock()
	in.inFlight[id] = pos
	in.mu.Unlock()
}

func (in *Interrupt) finished(id string) {
	in.mu.Lock()
	delete(in.inFlight, id)
	in.mu.Unlock()
}

// Stage returns the current stage.
func (in *Interrupt) Stage() Stage {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stage
}

// Stopped is closed at stage 1.
func (in *Interrupt) Stopped() <-chan struct{} { return in.stopped }

// Canceled is closed at stage 2.
func (in *Interrupt) Canceled() <-chan struct{} { return in.canceled }

// ItemContext is the context item functions run with; it is cancelled at
// stage 2 (or when the parent ends).
func (in *Interrupt) ItemContext() context.Context { return in.itemCtx }

// Release frees the item context. Call it when the execution has ended.
func (in *Interrupt) Release() { in.cancelItem() }
