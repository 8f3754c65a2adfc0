package shcmd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// Params are the flow file's params of an sh_cmd item: shell commands, run
// with sh -c in the flow's directory.
type Params struct {
	// Current prints the state the world is in now (trimmed stdout). A
	// command made only of sh's echo, test (or [) of a file, true and false
	// on plain words, joined by && and || ("test -f out && echo built ||
	// echo absent"), is worked out without a process: see builtin.
	Current string `yaml:"current" peace:"verbatim" doc:"prints the state the world is in now (trimmed stdout)"`
	// Goal is the state ensure moves the world to: a command that prints
	// it, or {value: TEXT}, a fixed state that needs no process. A command
	// that is only echo of plain words (echo built) needs none either, nor
	// any other builtin, as for Current.
	Goal Source `yaml:"goal" peace:"verbatim" doc:"the state ensure moves to: a command that prints it, or {value: TEXT}"`
	// Ensure moves the world to the goal state. What it prints (stdout and
	// stderr) is the item's log, never its state: the applied state is what
	// it wrote to the file $PEACE_STATE_OUT names, if anything (an ID only
	// the command knows), else the goal state.
	Ensure string `yaml:"ensure" peace:"verbatim" doc:"moves the world to the goal; its output is the log; a state only it knows goes to $PEACE_STATE_OUT"`
	// Clean moves the world to the clean state; optional, with CleanState.
	// Its output is the log too, and $PEACE_STATE_OUT works as for ensure.
	Clean string `yaml:"clean" peace:"verbatim" doc:"moves the world to clean_state (optional, with clean_state)"`
	// CleanState is the state clean moves the world to: a command or
	// {value: TEXT}.
	CleanState Source `yaml:"clean_state" peace:"verbatim" doc:"the state clean moves to: a command or {value: TEXT}"`
	// Env is more environment for every command of the item.
	Env map[string]string `yaml:"env" doc:"more environment for every command; values may hold ${params.NAME} and ${items.ID.state}"`
}

// Source is where a state comes from: a command whose trimmed stdout is
// the state, or a fixed value that needs no process.
type Source struct {
	Command string
	Value   *string
}

// UnmarshalYAML reads a command (a string) or {value: TEXT}.
func (s *Source) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		s.Command = n.Value
		return nil
	case yaml.MappingNode:
		var v struct {
			Value *string `yaml:"value"`
		}
		if len(n.Content) != 2 || n.Content[0].Value != "value" {
			return fmt.Errorf("line %d: expected a command, or {value: TEXT} for a fixed state", n.Line)
		}
		if err := n.Decode(&v); err != nil {
			return err
		}
		if v.Value == nil {
			return fmt.Errorf("line %d: value: expected the state as text", n.Line)
		}
		s.Value = v.Value
		return nil
	}
	return fmt.Errorf("line %d: expected a command, or {value: TEXT} for a fixed state", n.Line)
}

func (s Source) empty() bool { return s.Value == nil && strings.TrimSpace(s.Command) == "" }

// Validate checks the required params, and that clean and clean_state come
// together.
func (p *Params) Validate() error {
	var missing []string
	for _, f := range []struct {
		name  string
		empty bool
	}{{"current", strings.TrimSpace(p.Current) == ""}, {"goal", p.Goal.empty()}, {"ensure", strings.TrimSpace(p.Ensure) == ""}} {
		if f.empty {
			missing = append(missing, f.name)
		}
	}
	switch {
	case len(missing) == 1:
		return errors.New("param " + missing[0] + " is required")
	case len(missing) > 1:
		return errors.New("params " + strings.Join(missing, ", ") + " are required")
	case p.hasClean() && p.CleanState.empty():
		return errors.New("param clean needs clean_state: the state clean leaves behind")
	case !p.hasClean() && !p.CleanState.empty():
		return errors.New("param clean_state needs clean: the command that gets there")
	}
	for k := range p.Env {
		if !validEnvName(k) {
			return fmt.Errorf("env: %q is not a variable name (letters, digits and _, not starting with a digit)", k)
		}
	}
	return nil
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, c := range k {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func (p *Params) hasClean() bool { return strings.TrimSpace(p.Clean) != "" }

// State is the trimmed stdout of a discovering command, or a fixed value.
type State = string

// Environment variables the commands get.
const (
	EnvItemID      = "PEACE_ITEM_ID"
	EnvStoredState = "PEACE_STORED_STATE" // the last recorded state, "" when none
	EnvGoalState   = "PEACE_GOAL_STATE"   // ensure only
	// EnvStateOut names a file ensure and clean may write the state they
	// reached to, when it is not the target (a generated ID).
	EnvStateOut = "PEACE_STATE_OUT"
)

// Type is the "sh_cmd" item type.
var Type = items.TypeOf("sh_cmd", New).Describe("shell commands that discover and change a state")

// New builds an sh_cmd item whose commands run in env.Dir.
func New(id items.ID, p Params, env items.Env) (items.Item, error) {
	if err := p.Validate(); err != nil {
		return nil, errors.New("item " + string(id) + ": " + err.Error())
	}
	return items.Typed[State](id, "sh_cmd", &item{id: id, p: p, dir: env.Dir, runEnv: runEnv(env)}), nil
}

type item struct {
	id     items.ID
	p      Params
	dir    string
	runEnv []string // what every command gets of the run: profile, flow, params

	envOnce sync.Once
	env     []string // baseEnv

	builtinsOnce sync.Once
	builtins     map[string]*builtin // by script: the discovering commands that need no process
}

// Environment variables of the run.
const (
	EnvProfile     = "PEACE_PROFILE"
	EnvFlow        = "PEACE_FLOW"
	EnvParamPrefix = "PEACE_PARAM_" // + the flow param's name, upper-cased
)

// runEnv is the part of the commands' environment that says which run
// they belong to: the profile, the flow, and each flow param (values reach
// commands this way, never by interpolation into the command).
func runEnv(env items.Env) []string {
	out := []string{EnvProfile + "=" + env.Profile, EnvFlow + "=" + string(env.Flow)}
	for _, k := range slices.Sorted(maps.Keys(env.Params)) {
		out = append(out, EnvParamPrefix+strings.ToUpper(k)+"="+env.Params[k])
	}
	return out
}

var _ items.TypedItem[State] = (*item)(nil)

// cmd prepares one of the item's commands. The parent's environment is
// passed on, minus any PEACE_ variables of an outer run, which would lie.
func (it *item) cmd(name, script string, fc items.TypedFnCtx[State], extra ...string) command {
	stored := ""
	if fc.Stored != nil {
		stored = *fc.Stored
	}
	base := it.baseEnv()
	env := make([]string, 0, len(base)+1+len(extra))
	env = append(env, base...)
	env = append(env, EnvStoredState+"="+stored)
	env = append(env, extra...)
	return command{name: name, script: script, dir: it.dir, env: env, groups: fc.Processes}
}

// baseEnv is what every command of the item gets, worked out once: the
// parent's environment minus any PEACE_ variables of an outer run (which
// would lie), the item's ID, the run's variables and the env param.
func (it *item) baseEnv() []string {
	it.envOnce.Do(func() {
		parent := os.Environ()
		env := make([]string, 0, len(parent)+2+len(it.runEnv)+len(it.p.Env))
		for _, kv := range parent {
			if !strings.HasPrefix(kv, "PEACE_") {
				env = append(env, kv)
			}
		}
		env = append(env, EnvItemID+"="+string(it.id))
		env = append(env, it.runEnv...)
		for _, k := range slices.Sorted(maps.Keys(it.p.Env)) {
			env = append(env, k+"="+it.p.Env[k])
		}
		it.env = env
	})
	return it.env
}

// discovering is the tracker of the commands that print a state: their
// stdout is the state itself, not news for the progress view.
var discovering = progress.NoTracker

func (it *item) Current(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	return it.discover(ctx, "current", it.p.Current, fc)
}

func (it *item) Goal(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	return it.state(ctx, "goal", it.p.Goal, fc)
}

// state is what src says: its fixed value, or what its command prints.
func (it *item) state(ctx context.Context, name string, src Source, fc items.TypedFnCtx[State]) (State, error) {
	if src.Value != nil {
		return strings.TrimSpace(*src.Value), nil
	}
	return it.discover(ctx, name, src.Command, fc)
}

// discover runs a command that prints a state, unless it is a builtin
// whose result is known without a process.
func (it *item) discover(ctx context.Context, name, script string, fc items.TypedFnCtx[State]) (State, error) {
	if b := it.builtin(script); b != nil {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		if s, ok := b.eval(it.dir); ok {
			return s, nil
		}
	}
	return it.cmd(name, script, fc).run(ctx, discovering)
}

// builtin is script as a builtin, parsed once; nil when sh must run it,
// as every command does whose environment may hold functions in place of
// sh's builtins.
func (it *item) builtin(script string) *builtin {
	it.builtinsOnce.Do(func() {
		it.builtins = make(map[string]*builtin)
		if importsFunctions(it.baseEnv()) {
			return
		}
		for _, s := range []string{it.p.Current, it.p.Goal.Command, it.p.CleanState.Command} {
			if b := parseBuiltin(s); b != nil {
				it.builtins[s] = b
			}
		}
	})
	return it.builtins[script]
}

// plain reports whether c means only itself in a word of sh.
func plain(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.,:/@%+-", c)
}

// Clean is the state clean_state prints; without clean commands, clean
// leaves the item as it is, so its clean state is its current state.
func (it *item) Clean(ctx context.Context, fc items.TypedFnCtx[State]) (State, error) {
	if !it.p.hasClean() {
		return it.Current(ctx, fc)
	}
	return it.state(ctx, "clean_state", it.p.CleanState, fc)
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
	name, script, extra := "ensure", it.p.Ensure, []string{EnvGoalState + "=" + target}
	if fc.Op == items.OpClean {
		if !it.p.hasClean() {
			return current, nil
		}
		name, script, extra = "clean", it.p.Clean, nil
	}
	out, err := newStateOut()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	defer out.remove()
	c := it.cmd(name, script, fc, append(extra, EnvStateOut+"="+out.path)...)
	c.log = true
	if _, err := c.run(ctx, fc.Progress); err != nil {
		return "", err
	}
	// A physical state only the command knows, such as a generated ID.
	if reached, ok, err := out.read(); err != nil {
		return "", fmt.Errorf("%s: %s: %w", name, EnvStateOut, err)
	} else if ok {
		return reached, nil
	}
	return target, nil
}

func (it *item) ApplyDry(_ context.Context, fc items.TypedFnCtx[State], current, target State) (State, error) {
	if fc.Op == items.OpClean && !it.p.hasClean() {
		return current, nil
	}
	return target, nil
}
