package tui

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"

	"github.com/peace-go/peace/progress"
)

// Options configure the tui view.
type Options struct {
	// In is the terminal keys are read from (os.Stdin); nil, or a file
	// that is not a terminal, reads none.
	// While the view runs the terminal is raw, so Ctrl-C arrives as a key,
	// not as a signal.
	In io.Reader
	// NoColor renders without colour (--no-color, NO_COLOR).
	NoColor bool
	// OnInterrupt is called when the user presses Ctrl-C. The core answers
	// with InterruptReceived or CancelRequested, which the footer shows.
	// A press while cancelling quits the view first (restoring the
	// terminal) and then calls OnInterrupt, as the process exits at once.
	// Nil: a press is sent to this process as the SIGINT a terminal not in
	// raw mode would have sent, so Ctrl-C is never lost.
	OnInterrupt func()
	// Width and Height pin the view's size (for tests); 0 means the
	// terminal's.
	Width, Height int

	// now is the clock for elapsed times; tests pin it.
	now func() time.Time
}

// closeTimeout bounds how long Close waits for the final frame before it
// kills the program (which still restores the terminal).
const closeTimeout = 3 * time.Second

// view runs a bubbletea program on out. Emit never waits for the
// program: events go into a queue, where an item's progress and messages
// are merged until the program takes them, and one goroutine (the pump)
// hands batches to the program.
type view struct {
	p           *tea.Program
	onInterrupt func()

	mu     sync.Mutex
	queue  []progress.Event
	latest map[coalesceKey]int // index in queue of an item's pending update
	closed bool

	wake     chan struct{} // capacity 1: the queue has something
	pumpDone chan struct{}
	started  chan struct{} // closed by the model's Init
	runDone  chan struct{}

	// Set by the run goroutine before runDone closes.
	final  *model
	runErr error
}

type coalesceKey struct {
	item string
	typ  progress.Type
}

var _ progress.View = (*view)(nil)

// interruptSelf sends this process the SIGINT a cooked terminal would have.
func interruptSelf() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Signal(os.Interrupt)
	}
}

// New starts the tui view on out (stderr), reading keys from opts.In.
// It returns once the terminal is set up, or the error that stopped it.
// Close must be called to restore the terminal.
func New(out io.Writer, opts Options) (progress.View, error) {
	if out == nil {
		return nil, errors.New("tui view: no output")
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.OnInterrupt == nil {
		// The terminal is in raw mode, so Ctrl-C is a key, not a signal.
		// Unless told otherwise it becomes the SIGINT it would have been:
		// a program that handles signals (cmdctx's interrupt source does)
		// gets its stages, and one that does not stops as it would have.
		opts.OnInterrupt = interruptSelf
	}
	v := &view{
		onInterrupt: opts.OnInterrupt,
		latest:      map[coalesceKey]int{},
		wake:        make(chan struct{}, 1),
		pumpDone:    make(chan struct{}),
		started:     make(chan struct{}),
		runDone:     make(chan struct{}),
	}
	m := newModel(newStyles(!opts.NoColor), opts.now, opts.OnInterrupt)
	m.width, m.height = opts.Width, opts.Height
	m.onInit = func() { close(v.started) }
	progOpts := []tea.ProgramOption{
		tea.WithOutput(out),
		// Without input the program sends the terminal no query at all.
		tea.WithInput(keyInput(opts.In)),
		// Signals belong to the core's interrupt handling, not the view.
		tea.WithoutSignalHandler(),
	}
	if opts.NoColor {
		progOpts = append(progOpts, tea.WithColorProfile(colorprofile.Ascii))
	}
	switch {
	case opts.Width > 0 || opts.Height > 0:
		progOpts = append(progOpts, tea.WithWindowSize(opts.Width, opts.Height))
	case !isTerminal(out):
		// Asked for on a file or a pipe: with no size the renderer would
		// draw nothing at all.
		progOpts = append(progOpts, tea.WithWindowSize(fallbackWidth, fallbackHeight))
	}
	v.p = tea.NewProgram(m, progOpts...)
	go v.run()
	select {
	case <-v.started:
	case <-v.runDone:
		err := v.runErr
		if err == nil {
			err = errors.New("ended before it started")
		}
		return nil, fmt.Errorf("tui view: %w", err)
	}
	go v.pump()
	return v, nil
}

// The size of the frame when the output is no terminal.
const fallbackWidth, fallbackHeight = 80, 24

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// keyInput is where the program reads keys from: in, unless in is a file
// that is not a terminal. Such a stdin (peace ensure < /dev/null, a pipe)
// holds no keys: the terminal is not raw, so Ctrl-C comes as a signal,
// and bytes piped in must not be taken for keys. Bubbletea cannot wait on
// /dev/null or a regular file at all: its program would end right after
// it started, leaving the terminal with its cursor hidden.
func keyInput(in io.Reader) io.Reader {
	if f, ok := in.(*os.File); ok && !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return in
}

// run owns the program. Bubbletea restores the terminal when Run returns,
// in every case: a quit, a kill, or a panic it caught.
func (v *view) run() {
	final, err := v.p.Run()
	m, _ := final.(*model)
	v.final, v.runErr = m, err
	close(v.runDone)
	if m == nil {
		return
	}
	if m.panicked != nil {
		// The terminal is restored by now; crash as the panic would have.
		panic(fmt.Sprintf("tui view: %v\n\n%s", m.panicked, m.stack))
	}
	if m.quitOnInterrupt && v.onInterrupt != nil {
		// After runDone: OnInterrupt may well call Close.
		v.onInterrupt()
	}
}

// pump hands queued events to the program, one batch at a time, and the
// close request after the last batch.
func (v *view) pump() {
	defer close(v.pumpDone)
	for {
		select {
		case <-v.wake:
		case <-v.runDone:
			return
		}
		v.mu.Lock()
		batch, closing := v.queue, v.closed
		v.queue = nil
		clear(v.latest)
		v.mu.Unlock()
		if len(batch) > 0 {
			v.p.Send(eventsMsg(batch)) // a no-op once the program has ended
		}
		if closing {
			v.p.Send(closeMsg{})
			return
		}
	}
}

func (v *view) signal() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// Emit queues ev for the program and returns at once.
func (v *view) Emit(ev progress.Event) {
	select {
	case <-v.runDone:
		return // the program has ended (a third Ctrl-C): nobody would draw it
	default:
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	switch ev.Type {
	case progress.ItemProgress, progress.ItemMessage, progress.ItemOutput, progress.ItemLimit:
		// On a live frame an output line is the item's latest news (the
		// Ledger makes it the row's message; the log keeps every line).
		// Only the newest of these counts for a row (Done is a running
		// total), so a pending one is replaced rather than queued again.
		k := coalesceKey{ev.Item, ev.Type}
		if i, ok := v.latest[k]; ok {
			ev.Delta += v.queue[i].Delta
			v.queue[i] = ev
			v.mu.Unlock()
			v.signal()
			return
		}
		v.latest[k] = len(v.queue)
	default:
		// A transition: updates queued before it must stay before it.
		if ev.Item == "" {
			clear(v.latest)
		} else {
			for _, typ := range []progress.Type{progress.ItemProgress, progress.ItemMessage, progress.ItemOutput, progress.ItemLimit} {
				delete(v.latest, coalesceKey{ev.Item, typ})
			}
		}
	}
	v.queue = append(v.queue, ev)
	v.mu.Unlock()
	v.signal()
}

// Close renders every event emitted before it, draws the final frame with
// the summary, quits the program and restores the terminal. The frame
// stays on screen (no alternate screen), so the summary is still visible
// above the results printed after.
func (v *view) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		<-v.runDone
		return v.closeErr()
	}
	v.closed = true
	v.mu.Unlock()
	v.signal()
	select {
	case <-v.runDone:
	case <-time.After(closeTimeout):
		v.p.Kill()
		<-v.runDone
	}
	<-v.pumpDone
	return v.closeErr()
}

func (v *view) closeErr() error {
	if v.runErr != nil && !(v.final != nil && v.final.quitOnInterrupt) {
		return fmt.Errorf("tui view: %w", v.runErr)
	}
	return nil
}
