package shcmd

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Params are the flow file's params of an sh_cmd item: shell commands, run
// with sh -c in the flow's directory. Each discovering command prints a state.
type Params struct {
	// Current prints the state the world is in now.
	Current string `yaml:"current"`
	// Goal prints the state ensure moves the world to.
	Goal string `yaml:"goal"`
	// Ensure moves the world to the goal state. What it prints, if anything,
	// is recorded as the applied state instead of the goal state.
	Ensure string `yaml:"ensure"`
	// Clean moves the world to the clean state; optional, with CleanState.
	Clean string `yaml:"clean"`
	// CleanState prints the state clean moves the world to.
	CleanState string `yaml:"clean_state"`
}

// Validate checks the required params, and that clean and clean_state come
// together.
func (p *Params) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"current", p.Current}, {"goal", p.Goal}, {"ensure", p.Ensure}} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) == 1:
		return errors.New("param " + missing[0] + " is required")
	case len(missing) > 1:
		return errors.New("params " + strings.Join(missing, ", ") + " are required")
	case p.hasClean() && strings.TrimSpace(p.CleanState) == "":
		return errors.New("param clean needs clean_state: the state clean leaves behind")
	case !p.hasClean() && strings.TrimSpace(p.CleanState) != "":
		return errors.New("param clean_state needs clean: the command that gets there")
	}
	return nil
}

func (p *Params) hasClean() bool { return strings.TrimSpace(p.Clean) != "" }

// State is the trimmed stdout of a discovering command.
type State = string

// Environment variables every command gets.
const (
	EnvItemID      = "PEACE_ITEM_ID"
	EnvStoredState = "PEACE_STORED_STATE" // the last recorded state, "" when none
	EnvGoalState   = "PEACE_GOAL_STATE"   // ensure only
)

// Type is the "sh_cmd" item type.
var Type = items.TypeOf("sh_cmd", New)

// New builds an sh_cmd item whose commands run in env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, errors.New("item " + string(id) + ": " + err.Error())
	}
	return items.Typed[State](id, "sh_cmd", &item{id: id, p: p, dir: env.Dir}), nil
}

type item struct {
	id  items.ID
	p   Params
	dir string
}

var _ items.TypedItem[State] = (*item)(nil)

// cmd prepares one of the item's commands. The parent's environment is
// passed on, minus any PEACE_ variables of an outer run, which would lie.
func (it *item) cmd(name, script string, fc items.TypedFnCtx[State], extra ...string) command {
	stored := ""
	if fc.Stored != nil {
		stored = *fc.Stored
	}
	parent := os.Environ()
	env := make([]string, 0, len(parent)+3+len(extra))
	for _, kv := range parent {
		k, _, _ := strings.Cut(kv, "=")
		if k != EnvItemID && k != EnvStoredState && k != EnvGoalState {
			env = append(env, kv)
		}
	}
	env = append(env, EnvItemID+"="+string(it.id), EnvStoredState+"="+stored)
	env = append(env, extra...)
	return command{name: name, script: script, dir: it.dir, env: env, groups: fc.Processes}
}

// discovering is the tracker of the commands that print a state: their
// stdout is the state itself, not news for the progress view.
var discovering = progress.NoTracker

func (it *item) Current(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	return it.cmd("current", it.p.Current, fc).run(ctx, discovering)
}

func (it *item) Goal(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	return it.cmd("goal", it.p.Goal, fc).run(ctx, discovering)
}

// Clean is the state clean_state prints; without clean commands, clean
// leaves the item as it is, so its clean state is its current state.
func (it *item) Clean(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	if !it.p.hasClean() {
		return it.Current(ctx, fc)
	}
	return it.cmd("clean_state", it.p.CleanState, fc).run(ctx, discovering)
}

func (it *item) Diff(from, to State) items.Diff {
	if from == to {
		return items.Diff{Equal: true}
	}
	return items.Diff{Text: show(from) + " → " + show(to)}
}

// show renders a state on one short line.
func show(s State) string {
	if s == "" {
		return `""`
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func (it *item) ApplyCheck(_ context.Context, _ items.TypedFnCtx[State], current, target State) (items.ApplyCheck, error) {
	if current == target {
		return items.NotRequired, nil
	}
	return items.Required(progress.Unknown()), nil
}

func (it *item) Apply(ctx context.Context, fc items.TypedFnCtx[State], current, target State) (State, error) {
	if fc.Op == items.OpClean {
		if !it.p.hasClean() {
			return current, nil
		}
		if _, err := it.cmd("clean", it.p.Clean, fc).run(ctx, fc.Progress); err != nil {
			return "", err
		}
		return target, nil
	}
	out, err := it.cmd("ensure", it.p.Ensure, fc, EnvGoalState+"="+target).run(ctx, fc.Progress)
	if err != nil {
		return "", err
	}
	if out != "" {
		// A physical state only ensure knows, such as a generated ID.
		return out, nil
	}
	return target, nil
}

func (it *item) ApplyDry(_ context.Context, fc items.TypedFnCtx[State], current, target State) (State, error) {
	if fc.Op == items.OpClean && !it.p.hasClean() {
		return current, nil
	}
	return target, nil
}
