package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// ExecutionsOptions are the flags of executions.
type ExecutionsOptions struct {
	*GlobalOptions
	All bool
}

func newExecutionsCmd(g *GlobalOptions) *cobra.Command {
	opts := &ExecutionsOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "executions",
		Short: "List the executions of this flow and profile, newest first",
		Long: `List the ensure and clean executions of this flow and profile, in the
foreground or not, newest first: ID, command, profile, state, start, duration
and items done. An execution whose process is gone without finishing is lost.
Records are kept for the last 100 executions and at most 30 days.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runExecutions(opts) },
	}
	c.Flags().BoolVar(&opts.All, "all", false, "every profile of this flow in the workspace")
	return c
}

func runExecutions(opts *ExecutionsOptions) error {
	cc, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	execs, notices, err := cc.Executions(opts.All)
	if err != nil {
		return err
	}
	for _, n := range notices {
		fmt.Fprintf(opts.IO.ErrOut, "peace: %s\n", n)
	}
	p := opts.printer()
	if execs == nil {
		execs = []cmdctx.Execution{}
	}
	if p.Structured(map[string]any{"executions": execs}) {
		return nil
	}
	if len(execs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no executions yet")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCOMMAND\tPROFILE\tSTATE\tSTARTED\tDURATION\tITEMS")
	for _, e := range execs {
		end := time.Now()
		if e.Ended != nil {
			end = *e.Ended
		}
		dur := end.Sub(e.Started).Round(100 * time.Millisecond).String()
		if e.State == "lost" {
			dur = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Command, e.Profile, e.State,
			e.Started.Local().Format("2006-01-02 15:04:05"), dur, itemsDone(e.Items))
	}
	return tw.Flush()
}

// itemsDone is "done/total": items that ended one way or another.
func itemsDone(items map[string]string) string {
	done := 0
	for _, st := range items {
		if st != "queued" && st != "running" {
			done++
		}
	}
	return fmt.Sprintf("%d/%d", done, len(items))
}

// WaitOptions are the flags of wait and attach.
type WaitOptions struct {
	*GlobalOptions
	ID     string
	From   int64
	Attach bool
}

func newWaitCmd(g *GlobalOptions, attach bool) *cobra.Command {
	opts := &WaitOptions{GlobalOptions: g, Attach: attach}
	c := &cobra.Command{
		Use:   "wait ID",
		Short: "Follow an execution until it ends, and exit with its exit code",
		Long: `Show an execution's progress from its start (or from --from SEQ) in the
chosen progress view, following it live until it ends, then print its outcome
and exit with its exit code (a lost execution: 1). Ctrl-C stops waiting only:
the execution keeps running.`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ID = args[0]
			return runWait(c.Context(), opts)
		},
	}
	if attach {
		c.Use = "attach ID"
		c.Short = "Follow an execution; Ctrl-C interrupts it as if it ran here"
		c.Long = `Like wait, but Ctrl-C presses are the stages of stopping for the execution,
wherever it runs: once stops it (items in flight finish), twice cancels its
items in flight, a third time kills them.`
	}
	c.Flags().Int64Var(&opts.From, "from", 1, "start at the event with this seq (resume where an earlier wait stopped)")
	return c
}

func runWait(ctx context.Context, opts *WaitOptions) error {
	cc, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	if _, err := cc.Execution(opts.ID); err != nil {
		return err
	}
	keys := make(chan struct{}, 4)
	view := opts.newView(keys)
	closeView := sync.OnceFunc(func() {
		if err := view.Close(); err != nil {
			fmt.Fprintf(opts.IO.ErrOut, "peace: progress view: %v\n", err)
		}
	})
	defer closeView()

	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	var src *cmdctx.InterruptSource
	if opts.Attach {
		src = cmdctx.NewInterruptSource(&remote{cc: cc, id: opts.ID, view: view},
			cmdctx.InterruptOptions{Signals: cmdctx.StopSignals, StopTimeout: opts.StopTimeout})
		defer src.Close()
	} else {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, cmdctx.StopSignals...)
		defer signal.Stop(sigs)
		go func() {
			select {
			case <-sigs:
			case <-keys:
			case <-waitCtx.Done():
				return
			}
			stopWaiting()
		}()
	}
	if src != nil {
		go func() {
			for {
				select {
				case <-keys:
					src.Press("Ctrl-C")
				case <-waitCtx.Done():
					return
				}
			}
		}()
	}

	last := opts.From - 1
	e, err := cc.Follow(waitCtx, opts.ID, opts.From, func(ev progress.Event) error {
		last = int64(ev.Seq)
		view.Emit(ev)
		return nil
	})
	if err == nil && e.State == "lost" && opts.Progress == "json" {
		// The stream says so itself, as its last event: a reader of JSON
		// lines meets no line of another kind.
		view.Emit(progress.Event{Type: progress.Fatal, Execution: e.ID, Message: lostMessage(e), Code: int(ExitItemFailed)})
		closeView()
		return outcomeError{ExitItemFailed}
	}
	closeView()
	if err != nil {
		if waitCtx.Err() != nil && ctx.Err() == nil {
			fmt.Fprintf(opts.IO.ErrOut, "stopped waiting at event %d; execution %s keeps running (peace wait %s --from %d)\n",
				last, opts.ID, opts.ID, last+1)
			return outcomeError{ExitInterrupted}
		}
		return err
	}
	return printFinished(cc, opts.GlobalOptions, e)
}

// lostMessage says that e is lost and what becomes of its items.
func lostMessage(e *cmdctx.Execution) string {
	return fmt.Sprintf("execution %s is lost: its process (pid %d on %s) is gone without finishing; the next command recovers its items",
		e.ID, e.PID, e.Host)
}

// printFinished prints the outcome of an execution that has ended and
// returns its exit code.
func printFinished(cc *cmdctx.CmdCtx, g *GlobalOptions, e *cmdctx.Execution) error {
	if e.State == "lost" {
		fmt.Fprintf(g.IO.ErrOut, "peace: %s\n", lostMessage(e))
		return outcomeError{ExitItemFailed}
	}
	doc, err := cc.Outcome(e.ID)
	if err != nil {
		return err
	}
	var od cmdexecution.OutcomeDoc
	if err := json.Unmarshal(doc, &od); err != nil {
		return fmt.Errorf("execution %s: outcome: %w", e.ID, err)
	}
	// The outcome document has a failed item's last lines and log path.
	res := cmdexecution.ResultFromDoc(od, cc.Flow())
	if err := g.printer().Write(res); err != nil {
		return err
	}
	if e.ExitCode != nil && *e.ExitCode != 0 {
		return outcomeError{ExitCode(*e.ExitCode)}
	}
	return nil
}

// remote interrupts an execution running in another process, by ID.
type remote struct {
	cc   *cmdctx.CmdCtx
	id   string
	view progress.View
}

func (r *remote) send(stage cmdctx.ControlStage) {
	if _, err := r.cc.InterruptByID(r.id, stage); err != nil {
		r.Notice(fmt.Sprintf("could not interrupt execution %s: %v", r.id, err))
	}
}

func (r *remote) Stop(string)   { r.send(cmdctx.StageStop) }
func (r *remote) Cancel(string) { r.send(cmdctx.StageCancel) }
func (r *remote) Kill()         { r.send(cmdctx.StageKill) }
func (r *remote) Notice(msg string) {
	r.view.Emit(progress.Event{Type: progress.Notice, Execution: r.id, Message: msg})
}

// InterruptOptions are the flags of interrupt.
type InterruptOptions struct {
	*GlobalOptions
	ID     string
	Cancel bool
	Kill   bool
}

func newInterruptCmd(g *GlobalOptions) *cobra.Command {
	opts := &InterruptOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "interrupt ID",
		Short: "Stop an execution, wherever it runs (--cancel, --kill: the next stages)",
		Long: `Deliver a stage of stopping to the process running an execution, by its ID:
stop (nothing new starts; items in flight finish), --cancel (items in flight
are cancelled), --kill (after a cancel: every command in flight is killed).
Prints the items in flight when the stage was reached. On a finished execution
it prints the outcome and changes nothing.`,
		Args: exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			opts.ID = args[0]
			return runInterrupt(c.Context(), opts)
		},
	}
	c.Flags().BoolVar(&opts.Cancel, "cancel", false, "cancel the items in flight")
	c.Flags().BoolVar(&opts.Kill, "kill", false, "kill every command in flight (after a cancel)")
	c.MarkFlagsMutuallyExclusive("cancel", "kill")
	return c
}

// stageWait bounds how long interrupt waits for the execution to announce
// the stage.
const stageWait = 5 * time.Second

func runInterrupt(ctx context.Context, opts *InterruptOptions) error {
	cc, err := opts.readOnlyCtx()
	if err != nil {
		return err
	}
	stage, want := cmdctx.StageStop, progress.InterruptReceived
	switch {
	case opts.Cancel:
		stage, want = cmdctx.StageCancel, progress.CancelRequested
	case opts.Kill:
		stage, want = cmdctx.StageKill, progress.Notice
	}
	e, err := cc.InterruptByID(opts.ID, stage)
	if err != nil {
		return err
	}
	if !e.State.Live() {
		fmt.Fprintf(opts.IO.ErrOut, "execution %s has ended: %s\n", e.ID, e.State)
		if err := printFinished(cc, opts.GlobalOptions, e); err != nil {
			var oe outcomeError
			if !errors.As(err, &oe) {
				return err
			}
		}
		return nil
	}
	// The execution announces the stage in its events, with the items in
	// flight at that moment.
	waitCtx, cancel := context.WithTimeout(ctx, stageWait)
	defer cancel()
	errFound := errors.New("found")
	var inFlight []string
	_, err = cc.Follow(waitCtx, e.ID, e.LastSeq+1, func(ev progress.Event) error {
		if ev.Type == want && (stage != cmdctx.StageKill || ev.Stage == "kill") ||
			ev.Type == progress.ExecutionEnd {
			inFlight = ev.InFlight
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) && waitCtx.Err() == nil {
		return err
	}
	p := opts.printer()
	if p.Structured(map[string]any{"execution": e.ID, "stage": string(stage), "in_flight": orEmpty(inFlight)}) {
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "%s: %s", e.ID, stage)
	if len(inFlight) > 0 {
		fmt.Fprintf(opts.IO.Out, "; in flight: %s", strings.Join(inFlight, ", "))
	}
	fmt.Fprintln(opts.IO.Out)
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newLogsCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "logs [EXECUTION] [ITEM]",
		Short: "Show what the items' commands printed (default: the latest execution)",
		Long: `Print the logs of an execution's items — everything their commands printed —
each line prefixed with the item ID: all items, or one. Without an execution
ID, the latest execution of this flow and profile.`,
		Args: maxArgs(2),
		RunE: func(c *cobra.Command, args []string) error { return runLogs(g, args) },
	}
}

func runLogs(g *GlobalOptions, args []string) error {
	cc, err := g.readOnlyCtx()
	if err != nil {
		return err
	}
	id, item := "", ""
	if len(args) > 0 {
		id = args[0]
	}
	if len(args) > 1 {
		item = args[1]
	}
	e, err := cc.Execution(id)
	if err != nil {
		return err
	}
	names := []string{item}
	if item == "" {
		if names, err = cc.LogItems(e.ID); err != nil {
			return err
		}
		// In the flow's order, items no longer in the flow last.
		order := map[string]int{}
		for i, it := range cc.Flow().Items() {
			order[string(it.ID())] = i
		}
		slices.SortStableFunc(names, func(a, b string) int { return rank(order, a) - rank(order, b) })
	}
	w := bufio.NewWriter(g.IO.Out)
	defer w.Flush()
	for _, name := range names {
		data, err := cc.Log(e.ID, name)
		if errors.Is(err, fs.ErrNotExist) && item != "" {
			if _, ok := e.Items[item]; !ok && !slices.ContainsFunc(cc.Flow().Items(), func(it items.Item) bool { return string(it.ID()) == item }) {
				return inputError{fmt.Errorf("execution %s has no item %q", e.ID, item)}
			}
			fmt.Fprintf(g.IO.ErrOut, "%s printed nothing in execution %s\n", item, e.ID)
			return nil
		}
		if err != nil {
			return fmt.Errorf("execution %s: %w", e.ID, err)
		}
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			fmt.Fprintf(w, "%s | %s", name, line)
			if line[len(line)-1] != '\n' {
				w.WriteByte('\n')
			}
		}
	}
	return nil
}

func rank(order map[string]int, id string) int {
	if i, ok := order[id]; ok {
		return i
	}
	return len(order)
}

// exactArgs and maxArgs are cobra's, as usage errors.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(c, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.MaximumNArgs(n)(c, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
