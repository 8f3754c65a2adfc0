package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/examples/download/checksum"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/filedownload"
	"github.com/peace-go/peace/items/tarx"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// Exit codes, as peace's own.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitLocked      = 3
	exitInterrupted = 130
)

// configFile holds what init was told, in the directory download runs in.
const configFile = "download.json"

// archivePath is where the archive is kept between runs, so that an
// unchanged remote is not fetched again.
const archivePath = ".download/archive"

const usage = `usage: download [-C DIR] [-q] COMMAND

commands:
  init URL DEST   remember what to fetch (a .tar or .tar.gz URL) and where to extract it
  status          show what is there now
  goal            show what ensure would bring it to
  diff            show what ensure would change
  ensure          fetch, extract and list the files, as needed
  clean           remove what ensure made

flags:
  -C DIR          run in DIR instead of the current directory
  -q              no progress on stderr
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, signals()))
}

// signals delivers SIGINT and SIGTERM; each one moves the running command
// one interrupt stage on (stop, then cancel).
func signals() <-chan os.Signal {
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
	return c
}

type config struct {
	URL  string `json:"url"`
	Dest string `json:"dest"`
}

// run is the whole program: parse args, run one command, return the exit
// code. Interrupts arrive on stop.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	fl := flag.NewFlagSet("download", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage) }
	dir := fl.String("C", ".", "")
	quiet := fl.Bool("q", false, "")
	if err := fl.Parse(args); err != nil {
		return exitUsage
	}
	args = fl.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	if cmd == "init" {
		if len(args) != 2 {
			fmt.Fprint(stderr, "download: init needs URL and DEST\n\n"+usage)
			return exitUsage
		}
		if err := initConfig(*dir, config{URL: args[0], Dest: args[1]}); err != nil {
			fmt.Fprintf(stderr, "download: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "wrote %s: %s → %s\n", configFile, args[0], args[1])
		return exitOK
	}
	exec, ok := executions[cmd]
	if !ok || len(args) > 0 {
		fmt.Fprintf(stderr, "download: unknown command %q\n\n%s", strings.Join(append([]string{cmd}, args...), " "), usage)
		return exitUsage
	}
	flow, err := loadFlow(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "download: %v\n", err)
		return exitUsage
	}

	var view progress.View = progress.NewPlain(stderr)
	if *quiet {
		view = progress.NewQuiet(stderr)
	}
	cc, err := cmdctx.New(cmdctx.Options{Workspace: filepath.Join(*dir, ".download"), Flow: flow, Events: view})
	if err != nil {
		view.Close()
		fmt.Fprintf(stderr, "download: %v\n", err)
		return exitUsage
	}
	id := cc.Queue(ctx, exec())
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				cc.InterruptAll()
			case <-done:
				return
			}
		}
	}()
	res, err := cc.Wait(ctx, id)
	close(done)
	view.Close()
	if err != nil {
		fmt.Fprintf(stderr, "download: %v\n", err)
		if errors.Is(err, context.Canceled) {
			return exitInterrupted
		}
		var locked *state.LockedError
		if errors.As(err, &locked) {
			return exitLocked
		}
		return exitFailed
	}
	report(stdout, cmd, res)
	switch res.Outcome {
	case "interrupted":
		return exitInterrupted
	case "failed":
		return exitFailed
	}
	return exitOK
}

// executions are the commands besides init: peace's own recipes.
var executions = map[string]func() *cmdexecution.CmdExecution{
	"status": cmdexecution.Status,
	"goal":   cmdexecution.Goal,
	"diff":   cmdexecution.Diff,
	"ensure": func() *cmdexecution.CmdExecution { return cmdexecution.Ensure(false) },
	"clean":  func() *cmdexecution.CmdExecution { return cmdexecution.Clean(false) },
}

func initConfig(dir string, c config) error {
	if _, err := filedownload.New("payload", filedownload.Params{URL: c.URL, Dest: archivePath}, items.Env{}); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, configFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists already; edit or remove it", configFile)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadFlow builds the flow in Go from the config:
//
//	payload (file_download) → unpack (tar_x) → sums (checksum_file)
func loadFlow(dir string) (*items.Flow, error) {
	data, err := os.ReadFile(filepath.Join(dir, configFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s here: run download init URL DEST first", configFile)
	}
	if err != nil {
		return nil, err
	}
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", configFile, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	env := items.Env{Dir: abs}
	payload, err := filedownload.New("payload", filedownload.Params{URL: c.URL, Dest: archivePath}, env)
	if err != nil {
		return nil, err
	}
	unpack, err := tarx.New("unpack", tarx.Params{Archive: archivePath, Dest: c.Dest}, env)
	if err != nil {
		return nil, err
	}
	sums, err := checksum.New("sums", checksum.Params{Dir: c.Dest, Output: filepath.Join(c.Dest, "SHA256SUMS")}, env)
	if err != nil {
		return nil, err
	}
	flow := items.NewFlow("download")
	flow.Dir = abs
	for _, add := range []struct {
		it   items.Item
		deps []items.ID
	}{{payload, nil}, {unpack, []items.ID{"payload"}}, {sums, []items.ID{"unpack"}}} {
		if err := flow.Add(add.it, add.deps...); err != nil {
			return nil, err
		}
	}
	return flow, flow.Validate()
}

// report prints one line per item on stdout: for status and goal the state,
// for diff the change, for ensure and clean what happened and the state
// reached.
func report(w io.Writer, cmd string, res *cmdexecution.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for _, it := range res.Items {
		var text string
		switch {
		case it.Error != "":
			text = "error: " + it.Error
		case cmd == "diff" && it.Diff.Equal:
			text = "unchanged"
		case cmd == "diff":
			text = it.Diff.Text
		case res.View == cmdexecution.ViewStates:
			text = summary(it.State)
		default:
			text = fmt.Sprintf("%s\t%s", it.Status, summary(it.State))
		}
		fmt.Fprintf(tw, "%s\t%s\n", it.ID, text)
	}
}

// summary is one line about a state of any of the flow's items: the states
// are the items' own Go types.
func summary(s items.State) string {
	switch s := s.(type) {
	case filedownload.State:
		if !s.Exists {
			return "absent"
		}
		out := fmt.Sprintf("%d bytes", s.Size)
		if s.SHA256 != "" {
			out += ", sha256 " + s.SHA256[:12] + "…"
		}
		if s.ETag != "" {
			out += ", etag " + s.ETag
		} else if s.LastModified != "" {
			out += ", last-modified " + s.LastModified
		}
		return out
	case tarx.State:
		files, dirs := 0, 0
		for _, e := range s.Entries {
			if e.Type == tarx.TypeDir {
				dirs++
			} else {
				files++
			}
		}
		return fmt.Sprintf("%d files, %d directories", files, dirs)
	case checksum.State:
		if !s.Exists {
			return "absent"
		}
		return fmt.Sprintf("%d files listed, sha256 %s…", s.Files, s.SHA256[:12])
	case nil:
		return "unknown"
	}
	return fmt.Sprint(s)
}
