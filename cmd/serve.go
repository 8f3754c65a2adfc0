package cmd

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/spf13/cobra"

	"github.com/peace-go/peace/cmdctx"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/server"
)

// ServeOptions are the flags of serve.
type ServeOptions struct {
	*GlobalOptions
	Listen string
}

func newServeCmd(g *GlobalOptions) *cobra.Command {
	opts := &ServeOptions{GlobalOptions: g}
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run executions for clients over a local HTTP API and a web page",
		Long: `Serve the flow (-f) for every profile of the workspace: an HTTP API to start,
follow, interrupt and read executions, and a web page that draws the flow live.
Executions it starts are executions like any other: peace executions, wait,
attach and interrupt see them, and it sees theirs.

It listens on loopback unless told otherwise, and every API call needs the
token in <workspace>/serve.token (made, mode 0600, when missing). The page's
address, with the token, is printed once on stdout.

Ctrl-C (or SIGTERM) once: no new execution starts, and the items in flight of
those running finish. Twice: they are cancelled. Three times: every command in
flight is killed and the server exits at once.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runServe(c.Context(), opts) },
	}
	c.Flags().StringVar(&opts.Listen, "listen", server.DefaultListen, "address to listen on (`HOST:PORT`; port 0 picks one)")
	return c
}

func runServe(ctx context.Context, opts *ServeOptions) error {
	survivePipes()
	flow, err := opts.loadFlow()
	if err != nil {
		return err
	}
	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(opts.IO.ErrOut, "peace serve: "+format+"\n", args...)
	}
	// Each profile's executions load the flow with that profile's values,
	// then the command line's --param, then the request's params.
	load := func(profile string, params map[string]string) (*items.Flow, error) {
		values := maps.Clone(opts.ParamValues)
		if values == nil {
			values = map[string]string{}
		}
		maps.Copy(values, params)
		return cmdctx.LoadFlow(opts.FlowFile, opts.Types, items.WithProfile(profile), items.WithParams(values))
	}
	srv, err := server.New(server.Options{
		Flow: flow, Workspace: opts.workspace(), Listen: opts.Listen, Jobs: opts.Jobs, Logf: logf, Load: load,
	})
	if err != nil {
		return inputError{err}
	}
	ctx, abandon := context.WithCancel(ctx)
	defer abandon()
	src := cmdctx.NewInterruptSource(srv, cmdctx.InterruptOptions{
		Signals: cmdctx.StopSignals, StopTimeout: opts.StopTimeout, OnKill: abandon,
	})
	defer src.Close()

	fmt.Fprintln(opts.IO.Out, srv.URL())
	logf("serving flow %s of %s on %s; Ctrl-C stops it", flow.ID, opts.FlowFile, srv.Addr())
	if err := srv.Serve(ctx); err != nil {
		return err
	}
	if srv.Stopping() {
		logf("stopped")
		return outcomeError{ExitInterrupted}
	}
	return nil
}
