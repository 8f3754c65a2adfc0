package cmdctx

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peace-go/peace/progress"
)

// RepeatWindow is how close two presses may be and still count as one:
// terminals and CI wrappers often deliver a signal twice.
const RepeatWindow = 250 * time.Millisecond

// StopSignals are the signals that stop a run: a terminal's Ctrl-C, a CI
// runner's or docker's SIGTERM, a closed terminal or SSH session's SIGHUP.
var StopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// Target is what an InterruptSource interrupts: the executions of a
// CmdCtx in this process, or one running in another process, by ID.
type Target interface {
	// Stop and Cancel are told where the press came from ("SIGTERM",
	// "Ctrl-C"), for the views to say.
	Stop(from string)
	Cancel(from string)
	Kill()
	// Notice tells the user something about the interrupt.
	Notice(msg string)
}

// InterruptSource turns presses — signals, keys, control messages — into
// the stages of stopping for a Target: the first press stops, the second
// (at least RepeatWindow later, or StopTimeout after the first) cancels,
// the third kills every process group in flight and calls OnKill. One
// implementation for every endpoint: the command line, a program of one's
// own, a background runner, an attached terminal.
type InterruptSource struct {
	target Target
	opts   InterruptOptions

	presses chan string
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// InterruptOptions say how an InterruptSource behaves.
type InterruptOptions struct {
	// Signals, when set, are listened to for as long as the source runs
	// (StopSignals is the usual set).
	Signals []os.Signal
	// StopTimeout, when positive, turns a stop into a cancel by itself once
	// it has passed.
	StopTimeout time.Duration
	// OnKill is called after the third press has killed every process
	// group in flight: the caller gives up waiting and exits.
	OnKill func()
}

// Interrupts starts an InterruptSource for every execution of c. Close it
// when the command has ended.
func (c *CmdCtx) Interrupts(opts InterruptOptions) *InterruptSource {
	return NewInterruptSource(ctxTarget{c}, opts)
}

// ctxTarget interrupts every execution of a CmdCtx.
type ctxTarget struct{ c *CmdCtx }

func (t ctxTarget) Stop(from string)   { t.c.InterruptAllFrom(from) }
func (t ctxTarget) Cancel(from string) { t.c.InterruptAllFrom(from) }
func (t ctxTarget) Kill()              { t.c.KillAll() }
func (t ctxTarget) Notice(msg string) {
	t.c.Emit(progress.Event{Type: progress.Notice, Message: msg})
}

// NewInterruptSource starts an InterruptSource for t. Close it when done.
func NewInterruptSource(t Target, opts InterruptOptions) *InterruptSource {
	s := &InterruptSource{target: t, opts: opts, presses: make(chan string, 8), done: make(chan struct{})}
	var sigs chan os.Signal
	if len(opts.Signals) > 0 {
		sigs = make(chan os.Signal, 8)
		signal.Notify(sigs, opts.Signals...)
	}
	s.wg.Go(func() {
		if sigs != nil {
			defer signal.Stop(sigs)
		}
		s.loop(sigs)
	})
	return s
}

// Press delivers one press (a key, a control message) from where it came
// from ("Ctrl-C"). It never blocks: presses beyond what is pending are one
// press anyway.
func (s *InterruptSource) Press(from string) {
	select {
	case s.presses <- from:
	default:
	}
}

// Close stops listening and waits for the source's goroutine.
func (s *InterruptSource) Close() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}

func (s *InterruptSource) loop(sigs <-chan os.Signal) {
	var last time.Time
	count := 0
	var timeout <-chan time.Time
	var from string
	for {
		select {
		case <-s.done:
			return
		case sig := <-sigs:
			from = signalName(sig)
		case from = <-s.presses:
		case <-timeout:
			timeout = nil
			if count == 1 {
				count++
				s.target.Notice(fmt.Sprintf("the stop timeout (%s) has passed: cancelling the items in flight", s.opts.StopTimeout))
				s.target.Cancel("--stop-timeout")
			}
			continue
		}
		now := time.Now()
		if now.Sub(last) < RepeatWindow {
			continue
		}
		last = now
		count++
		if count >= 3 {
			s.target.Kill()
			s.target.Notice("interrupted a third time: killed every command in flight, exiting now; every finished item is recorded, the next run discovers the rest")
			if s.opts.OnKill != nil {
				s.opts.OnKill()
			}
			return
		}
		if count == 1 {
			if s.opts.StopTimeout > 0 {
				timeout = time.After(s.opts.StopTimeout)
			}
			s.target.Stop(from)
		} else {
			s.target.Cancel(from)
		}
	}
}

// signalName is a signal as people know it: SIGINT, SIGTERM, SIGHUP.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name := unix.SignalName(s); name != "" {
			return name
		}
	}
	return sig.String()
}
