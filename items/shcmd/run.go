package shcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/peace-go/peace/internal/proc"
	"github.com/peace-go/peace/internal/procgroup"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Grace is how long a cancelled command's process group has between SIGTERM
// and SIGKILL. It is also how long output pipes are drained after the
// command itself has exited, in case a background child still holds them.
const Grace = 500 * time.Millisecond

const (
	// tailLines is how many of the last output lines an exit error quotes.
	tailLines = 3
	// maxMessage caps one progress message; the rest of a long line is dropped.
	maxMessage = 1024
	// orphanWait bounds the wait for end-of-file from a writer outside the
	// command's process group once the group has ended.
	orphanWait = 30 * time.Second
	// pollGroup is how often a cancelled group is checked for survivors.
	pollGroup = 10 * time.Millisecond
)

// command is one shell command of an sh_cmd item.
type command struct {
	name   string // the param it comes from: "current", "ensure", ...
	script string
	dir    string
	env    []string
	groups items.ProcessGroups // told of the command's group; may be nil
	// log: what the command prints is its log, not a state (ensure, clean).
	log bool
}

// run runs the command in its own process group and returns its trimmed
// stdout. Every output line becomes a progress message as it is printed.
// When ctx is done the group gets SIGTERM, then SIGKILL after Grace, and run
// returns an error wrapping ctx.Err().
func (c command) run(ctx context.Context, tr progress.Tracker) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	// Our own pipes rather than exec's: exec.Cmd.Wait would wait for a
	// background grandchild holding them, and StdoutPipe is closed by Wait.
	outR, outW, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	// A command whose output is its log writes stdout and stderr to one
	// pipe, so the log has its lines in the order it printed them; a
	// command that prints a state keeps the two apart.
	errR, errW := outR, outW
	if !c.log {
		if errR, errW, err = os.Pipe(); err != nil {
			outR.Close()
			outW.Close()
			return "", fmt.Errorf("%s: %w", c.name, err)
		}
	}
	defer outR.Close()
	defer errR.Close()

	// Its own group, gated: the group is registered (and, for an apply,
	// recorded) before it runs anything, so no process of it can outlive
	// peace unaccounted for.
	g := procgroup.Shell(c.script)
	cmd := g.Cmd
	cmd.Dir = c.dir
	cmd.Env = c.env
	cmd.Stdout = outW
	cmd.Stderr = errW
	pgid, err := g.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", c.name, err)
	}
	ended := func() {}
	if c.groups != nil {
		ended, err = c.groups.Started(pgid)
		if err != nil {
			g.Abort()
			_ = cmd.Wait()
			return "", fmt.Errorf("%s: %w", c.name, err)
		}
	}
	// A gate that cannot be opened runs nothing: its shell has exited (its
	// first line did not parse) or exits with status 125. Its exit status
	// and what it printed say which, below.
	openErr := g.Open()
	defer ended()

	msgs := newMessenger(tr)
	defer msgs.close()
	stdout := &lines{keep: !c.log, msgs: msgs}
	stderr := &lines{msgs: msgs}
	readers := make(chan struct{}, 2) // one value per reader done
	left := 1
	go func() { stdout.readFrom(outR); readers <- struct{}{} }()
	if !c.log {
		left++
		go func() { stderr.readFrom(errR); readers <- struct{}{} }()
	}
	// drained waits up to d for every reader to be done.
	drained := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		for ; left > 0; left-- {
			select {
			case <-readers:
			case <-t.C:
				return false
			}
		}
		return true
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var waitErr, stopErr error
	select {
	case waitErr = <-exited:
	case <-ctx.Done():
		select {
		case waitErr = <-exited: // it finished anyway: keep its result
		default:
			stopErr = stop(pgid, exited)
		}
	}

	// Drain what the command wrote. A background child that still holds a
	// pipe gets Grace to let go, then the pipes are closed under it. But
	// once no process of the group is left, every writer it had is gone and
	// end-of-file is coming, however long this process takes to read it (a
	// loaded or paused machine): wait for it, so no output is lost, up to
	// orphanWait for a writer that left the group (a daemon that called
	// setsid) and kept the pipe.
	if !drained(Grace) {
		if proc.GroupAlive(pgid) || !drained(orphanWait) {
			outR.Close()
			errR.Close()
		}
		for ; left > 0; left-- {
			<-readers
		}
	}

	if stopErr != nil {
		return "", fmt.Errorf("%s: %s: %w", c.name, stopErr, ctx.Err())
	}
	if waitErr != nil {
		if ee := (*exec.ExitError)(nil); openErr != nil && errors.As(waitErr, &ee) && ee.ExitCode() == 125 {
			return "", fmt.Errorf("%s: %w (%w)", c.name, waitErr, openErr)
		}
		tail := stderr.tail
		if len(tail) == 0 {
			tail = stdout.tail
		}
		if len(tail) == 0 || tr != progress.NoTracker {
			// Every line went to the tracker (the item's log, the result's
			// last lines): the error need not repeat them.
			return "", fmt.Errorf("%s: %w", c.name, waitErr)
		}
		return "", fmt.Errorf("%s: %w: %s", c.name, waitErr, strings.Join(tail, " | "))
	}
	return strings.TrimSpace(stdout.all.String()), nil
}

// stop ends the process group pgid whose leader reports on exited: SIGTERM,
// then SIGKILL once Grace has passed if any process of the group is left.
// It returns what happened, for the error message.
func stop(pgid int, exited <-chan error) error {
	start := proc.Start(pgid) // the leader runs: it has not been waited for
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	grace := time.NewTimer(Grace)
	defer grace.Stop()
	poll := time.NewTicker(pollGroup)
	defer poll.Stop()
	leaderDone := false
	for {
		select {
		case <-exited:
			leaderDone = true
			exited = nil
			if !proc.GroupAlive(pgid) {
				return errors.New("stopped with SIGTERM")
			}
		case <-poll.C:
			if leaderDone && !proc.GroupAlive(pgid) {
				return errors.New("stopped with SIGTERM")
			}
		case <-grace.C:
			if leaderDone && !proc.Same(pgid, start) {
				// Gone, and its number free for another group to take.
				return errors.New("stopped with SIGTERM")
			}
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !leaderDone {
				<-exited
			}
			return fmt.Errorf("killed with SIGKILL after a %v grace", Grace)
		}
	}
}

// lines splits a command's output into progress messages, keeping the last
// few lines and, when keep is set, all of it.
type lines struct {
	keep bool
	msgs *messenger
	all  bytes.Buffer
	tail []string
	line []byte // the line being read, up to maxMessage bytes
}

func (l *lines) readFrom(r io.Reader) {
	buf := make([]byte, 4<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	if len(l.line) > 0 {
		l.flush() // a last line without its newline
	}
}

func (l *lines) write(p []byte) {
	if l.keep {
		l.all.Write(p)
	}
	for len(p) > 0 {
		// A carriage return ends a message too: progress meters redraw
		// their line with it.
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			l.add(p)
			return
		}
		l.add(p[:i])
		l.flush()
		p = p[i+1:]
	}
}

func (l *lines) add(p []byte) {
	if room := maxMessage - len(l.line); room > 0 {
		l.line = append(l.line, p[:min(len(p), room)]...)
	}
}

func (l *lines) flush() {
	msg := strings.TrimRightFunc(string(l.line), func(r rune) bool { return r == utf8.RuneError || r == ' ' || r == '\t' })
	l.line = l.line[:0]
	msg = strings.ToValidUTF8(msg, "�")
	l.msgs.send(msg)
	if strings.TrimSpace(msg) == "" {
		return // in the log, not in an error message
	}
	if len(l.tail) == tailLines {
		l.tail = append(l.tail[:0], l.tail[1:]...)
	}
	l.tail = append(l.tail, msg)
}

// messenger hands a command's output lines to the progress tracker, in
// order, from a goroutine of its own: reading the command's pipes never
// waits on a slow view (a paused terminal, a stalled log reader), which
// would otherwise hold up the command itself. No line is dropped: past
// maxQueued lines waiting, the reader waits too rather than let memory
// grow without end. Every line is delivered before close returns.
type messenger struct {
	tr   progress.Tracker
	wake chan struct{}
	done chan struct{}

	mu    sync.Mutex
	queue []string
	room  *sync.Cond // signalled when the queue shrinks
}

// maxQueued is how many lines may wait for a slow view.
const maxQueued = 1 << 16

func newMessenger(tr progress.Tracker) *messenger {
	if tr == progress.NoTracker {
		return nil // the lines go nowhere: no goroutine to carry them
	}
	m := &messenger{tr: tr, wake: make(chan struct{}, 1), done: make(chan struct{})}
	m.room = sync.NewCond(&m.mu)
	go m.loop()
	return m
}

// send queues one output line.
func (m *messenger) send(line string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	for len(m.queue) >= maxQueued {
		m.room.Wait()
	}
	m.queue = append(m.queue, line)
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *messenger) loop() {
	defer close(m.done)
	for range m.wake {
		m.deliver()
	}
}

func (m *messenger) deliver() {
	for {
		m.mu.Lock()
		batch := m.queue
		m.queue = nil
		m.room.Broadcast()
		m.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, line := range batch {
			m.tr.Output(line)
		}
	}
}

// close delivers what is queued and stops the goroutine. No send may come
// after it. A nil *messenger (no tracker) drops every line.
func (m *messenger) close() {
	if m == nil {
		return
	}
	close(m.wake)
	<-m.done
	m.deliver()
}
