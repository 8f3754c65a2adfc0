package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/internal/gcpace"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/builtin"
)

// GlobalOptions are the flags every command takes (DESIGN §3).
type GlobalOptions struct {
	IO *IOStreams

	FlowFile    string
	Workspace   string
	Profile     string
	Jobs        int
	Format      string // text, yaml, json
	Progress    string // auto, tui, plain, json, none
	NoColor     bool
	LockTimeout time.Duration
	// StopTimeout is how long after a stop the items still in flight are
	// cancelled; zero means never.
	StopTimeout time.Duration

	// Args are the arguments peace was run with (a detached run passes
	// them on to the process that runs the execution).
	Args []string
	// DetachedRunner is set in that process.
	DetachedRunner bool
	// KeepGoing: an item that fails does not stop the items that do not
	// need it.
	KeepGoing bool
	// Items, when given, narrow a command to these items and what they
	// need (clean: and what needs them).
	Items []string
	// Types are the item types flow files may use.
	Types *items.Registry

	// Params are the --param NAME=VALUE flags, as given; ParamValues is
	// what validate makes of them.
	Params      []string
	ParamValues map[string]string
}

var (
	formats    = []string{"text", "yaml", "json"}
	progresses = []string{"auto", "tui", "plain", "json", "none"}
)

// Main runs peace with the process's arguments and streams and returns the
// exit code. A program with item types of its own gets the whole command
// line with them:
//
//	func main() { os.Exit(cmd.Main(cmd.WithTypes(mytype.Type))) }
//
// Main paces the garbage collector for a command (internal/gcpace) unless
// GOGC or GOMEMLIMIT is set.
func Main(opts ...Option) int {
	gcpace.Set()
	return int(Run(context.Background(), os.Args[1:], System(), opts...))
}

// Option changes what the command line knows.
type Option func(*GlobalOptions)

// WithTypes adds item types to the built-in ones: flow files may use them,
// and every command (types, init's checks, serve) knows them.
func WithTypes(types ...items.Type) Option {
	return func(g *GlobalOptions) {
		for _, t := range types {
			g.Types.Add(t)
		}
	}
}

// Run runs peace with args and streams; tests call it in process.
func Run(ctx context.Context, args []string, io *IOStreams, opts ...Option) ExitCode {
	g := &GlobalOptions{IO: io, Args: args, Types: builtin.Registry()}
	for _, o := range opts {
		o(g)
	}
	// The output formats are picked before anything is validated, so even a
	// usage error comes out in the format that was asked for.
	g.Format, g.Progress = prescan(args)
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	var oe outcomeError
	if err != nil && !errors.As(err, &oe) {
		reportError(g, root, err, code)
	}
	return code
}

func newRootCmd(g *GlobalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "peace",
		Short: "Zero-stress automation: a flow of items you can always safely stop",
		Long: `peace runs a flow of items — files, directories, commands, downloads — and
brings each to its goal state (ensure) or back to its clean state (clean).
It is always safe to stop: the first Ctrl-C (or SIGTERM) lets the items in
flight finish and starts nothing new, a second one cancels them, a third exits
at once. Every applied state is recorded the moment its item finishes, so the
next run picks up where this one stopped.

Environment: PEACE_STOP_TIMEOUT stands for --stop-timeout when the flag is not
given; NO_COLOR turns colours off.`,
		// Runnable, so that cobra hands an unknown command to Args, where
		// it becomes a usage error, rather than failing with an error of
		// its own that has no type.
		Args:          unknownCommand,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if err := g.stopTimeoutFromEnv(c); err != nil {
				return err
			}
			return g.validate()
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVarP(&g.FlowFile, "flow", "f", "flow.yaml", "flow file")
	f.StringVarP(&g.Workspace, "workspace", "w", "", "where state lives (default .peace beside the flow file)")
	f.StringVarP(&g.Profile, "profile", "p", "default", "environment whose state is used (dev, prod, ...)")
	f.StringArrayVar(&g.Params, "param", nil, "set a flow param for this run, over the profile's value (`NAME=VALUE`, repeatable)")
	f.IntVarP(&g.Jobs, "jobs", "j", cmdctx.DefaultJobs, "items run at once")
	f.StringVar(&g.Format, "format", g.Format, "how results are printed on stdout: "+strings.Join(formats, "|"))
	f.StringVar(&g.Progress, "progress", g.Progress, "how progress is shown on stderr: "+strings.Join(progresses, "|")+" (auto: tui on a terminal, plain otherwise)")
	f.BoolVar(&g.NoColor, "no-color", false, "no colours (also when NO_COLOR is set)")
	f.DurationVar(&g.LockTimeout, "lock-timeout", 0, "wait this long for another run's lock instead of failing at once (e.g. 30s)")
	f.DurationVar(&g.StopTimeout, "stop-timeout", 0, "after a stop, cancel the items still in flight once `D` has passed (default: never)")
	f.StringArrayVar(&g.Items, "item", nil, "act on this `ID` and what it needs (clean: and what needs it); repeatable")
	f.BoolVarP(&g.KeepGoing, "keep-going", "k", false, "an item that fails does not stop the items that do not depend on it")
	f.BoolVar(&g.DetachedRunner, strings.TrimPrefix(detachedFlag, "--"), false, "")
	_ = f.MarkHidden(strings.TrimPrefix(detachedFlag, "--"))

	root.AddCommand(
		newStatusCmd(g), newGoalCmd(g), newDiffCmd(g),
		newApplyCmd(g, "ensure"), newApplyCmd(g, "clean"),
		newInitCmd(g), newVersionCmd(g), newUnlockCmd(g),
		newTypesCmd(g), newExecutionsCmd(g), newWaitCmd(g, false), newWaitCmd(g, true), newInterruptCmd(g), newLogsCmd(g),
		newServeCmd(g), newGraphCmd(g), newForgetCmd(g),
	)
	addCompletions(root, g)
	for _, c := range append(root.Commands(), root) {
		c.SetUsageTemplate(c.UsageTemplate() + "\n" + exitCodesHelp + "\n")
		c.Flags().SetInterspersed(true)
	}
	root.SuggestionsMinimumDistance = 2 // cobra's default for its own message
	return root
}

// unknownCommand rejects any argument to peace itself: it is a command
// peace does not have.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageError{errors.New(msg)}
}

// prescan finds --format and --progress in args before cobra parses them.
func prescan(args []string) (format, progress string) {
	format, progress = "text", "auto"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, f := range []struct {
			name string
			v    *string
		}{{"--format", &format}, {"--progress", &progress}} {
			if v, ok := strings.CutPrefix(a, f.name+"="); ok {
				*f.v = v
			} else if a == f.name && i+1 < len(args) {
				*f.v = args[i+1]
			}
		}
	}
	return format, progress
}

func (g *GlobalOptions) validate() error {
	if !slices.Contains(formats, g.Format) {
		return usageErrorf("--format %q: want one of %s", g.Format, strings.Join(formats, ", "))
	}
	if !slices.Contains(progresses, g.Progress) {
		return usageErrorf("--progress %q: want one of %s", g.Progress, strings.Join(progresses, ", "))
	}
	g.ParamValues = nil
	for _, p := range g.Params {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return usageErrorf("--param %q: want NAME=VALUE", p)
		}
		if g.ParamValues == nil {
			g.ParamValues = map[string]string{}
		}
		g.ParamValues[name] = value // the last one given wins
	}
	if g.Jobs < 1 {
		return usageErrorf("--jobs %d: want at least 1", g.Jobs)
	}
	if g.LockTimeout < 0 {
		return usageErrorf("--lock-timeout %s: want a duration of zero or more", g.LockTimeout)
	}
	if g.StopTimeout < 0 {
		return usageErrorf("--stop-timeout %s: want a duration of zero or more", g.StopTimeout)
	}
	return nil
}

// stopTimeoutEnv sets --stop-timeout for CI runners that cannot change argv.
const stopTimeoutEnv = "PEACE_STOP_TIMEOUT"

// stopTimeoutFromEnv reads PEACE_STOP_TIMEOUT unless --stop-timeout was given.
func (g *GlobalOptions) stopTimeoutFromEnv(c *cobra.Command) error {
	v := g.IO.Getenv(stopTimeoutEnv)
	if v == "" || c.Flags().Changed("stop-timeout") {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return usageErrorf("%s=%q: want a duration such as 30s or 2m", stopTimeoutEnv, v)
	}
	g.StopTimeout = d
	return nil
}

// workspace is where state lives: --workspace, or .peace beside the flow file.
func (g *GlobalOptions) workspace() string {
	if g.Workspace != "" {
		return g.Workspace
	}
	return filepath.Join(filepath.Dir(g.FlowFile), ".peace")
}

// color says whether results and views may use colour.
func (g *GlobalOptions) color(tty bool) bool {
	return tty && !g.NoColor && g.IO.Getenv("NO_COLOR") == ""
}

// reportError prints an error that ended the command: as JSON when JSON was
// asked for, else as a line on stderr (with usage for a usage error).
func reportError(g *GlobalOptions, root *cobra.Command, err error, code ExitCode) {
	msg, hint := err.Error(), ""
	if path, ok := unwritable(err); ok {
		msg, hint = unwritableMessage(err, path, g.workspace())
	}
	jsonMsg := msg
	if hint != "" {
		jsonMsg += ". " + hint
	}
	if g.Format == "json" {
		writeJSON(g.IO.Out, map[string]any{"error": map[string]any{"message": jsonMsg, "code": int(code)}})
	}
	if g.Progress == "json" {
		writeJSONEvents(g.IO.ErrOut, jsonMsg, int(code))
		return
	}
	fmt.Fprintf(g.IO.ErrOut, "peace: %s\n", msg)
	var ue usageError
	var locked *cmdctx.LockedError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(g.IO.ErrOut, "Run 'peace --help' for usage.")
	case errors.As(err, &locked) && locked.Holder.Execution != "":
		fmt.Fprintf(g.IO.ErrOut, "Follow it with `peace attach %s` (Ctrl-C then stops it) or `peace wait %s`, or pass --lock-timeout 5m to wait for it.\n",
			locked.Holder.Execution, locked.Holder.Execution)
	case errors.As(err, &locked):
		fmt.Fprintln(g.IO.ErrOut, "Wait for that run to end, or pass --lock-timeout 5m to wait for it.")
	case hint != "":
		fmt.Fprintln(g.IO.ErrOut, hint)
	}
}
