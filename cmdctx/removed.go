package cmdctx

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/cmdblock"
	"github.com/peace-go/peace/cmdexecution"
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/state"
)

// removed is what the record holds of the items that left the flow: their
// recorded states and, where items.yaml kept them, their specs. An apply
// builds each from its spec and cleans it, dependents first, before the
// flow's own items run (DESIGN §4, "Items that left the flow").
type removed struct {
	ids   []string // sorted
	types map[string]string
	// why says, for an item that cannot be built, why not.
	why map[string]string
	// flow holds the items that could be built, with their recorded
	// dependencies among themselves; data is its blocks' data.
	flow *items.Flow
	data *cmdblock.Data
	// ran: a clean block ran over flow (dry says it was a preview).
	ran, dry bool
	stored   map[string]json.RawMessage
	unknown  map[string]bool
}

// specUnknown is why an item recorded before items.yaml existed cannot be
// built.
const specUnknown = "its type and params are unknown (recorded by an older peace)"

// loadSpecs reads items.yaml. A corrupt one is told as a notice (a writer
// has moved it aside) and counts as none; a newer one is an error.
func (c *CmdCtx) loadSpecs(id string, writer bool) (map[string]state.ItemSpec, error) {
	specs, err := c.store.ItemSpecs(writer)
	var cerr *state.CorruptError
	if errors.As(err, &cerr) {
		c.emitter.Emit(progress.Event{Type: progress.Notice, Execution: id, Message: cerr.Error()})
		return map[string]state.ItemSpec{}, nil
	}
	return specs, err
}

// recordedSpecs is items.yaml as an execution uses it. It is decoded only
// when it may name an item that is not in the flow: when its digest of IDs
// (state.ItemSpecsSums) is that of the whole flow's items, or there is no
// file, it names none, and specs stays nil until something needs the
// specs of items this execution does not build anew.
type recordedSpecs struct {
	c      *CmdCtx
	id     string
	writer bool
	// flowOnly: the file names exactly the whole flow's items (or there
	// is no file, empty); specs is nil until read.
	flowOnly, missing bool
	specs             map[string]state.ItemSpec
}

func (c *CmdCtx) openSpecs(id string, writer bool) (*recordedSpecs, error) {
	r := &recordedSpecs{c: c, id: id, writer: writer}
	sums := c.store.ItemSpecsSums()
	switch {
	case sums.Missing:
		r.flowOnly, r.missing = true, true
		r.specs = map[string]state.ItemSpec{}
		return r, nil
	case sums.IDs != "" && sums.IDs == state.SumItemIDs(idStrings(c.opts.Flow.Whole())):
		r.flowOnly = true
		return r, nil
	}
	return r, r.read()
}

// read decodes the file, once.
func (r *recordedSpecs) read() error {
	if r.specs != nil {
		return nil
	}
	specs, err := r.c.loadSpecs(r.id, r.writer)
	if err != nil {
		return err
	}
	r.specs = specs
	return nil
}

// ofRemoved are the specs of items not in the whole flow: all of them when
// the file was decoded; none when it names only the flow's items.
func (r *recordedSpecs) ofRemoved() map[string]state.ItemSpec {
	return r.specs // nil when flowOnly: the file has none of them
}

// removedIDs are the items the record holds — a state, a begin without an
// end, or a spec — that are not items of the whole flow, sorted.
func removedIDs(whole *items.Flow, rec *state.Recorded, specs map[string]state.ItemSpec) []string {
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] && whole.Index(items.ID(id)) < 0 {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for id := range rec.Current {
		add(id)
	}
	for _, id := range rec.Unknown {
		add(id)
	}
	for id := range specs {
		add(id)
	}
	slices.Sort(ids)
	return ids
}

// findRemoved lists the recorded items that are not in the flow (the whole
// flow, when an execution runs only some of its items) and builds those it
// can.
func (c *CmdCtx) findRemoved(rec *state.Recorded, specs map[string]state.ItemSpec) *removed {
	whole := c.opts.Flow.Whole()
	r := &removed{types: map[string]string{}, why: map[string]string{}, stored: map[string]json.RawMessage{}, unknown: map[string]bool{}}
	r.ids = removedIDs(whole, rec, specs)
	for _, id := range rec.Unknown {
		r.unknown[id] = true
	}
	for _, id := range r.ids {
		if raw, ok := rec.Current[id]; ok {
			r.stored[id] = raw
		}
	}

	built := map[string]items.Item{}
	for _, id := range r.ids {
		sp, ok := specs[id]
		if !ok {
			r.types[id] = "-"
			r.why[id] = specUnknown
			continue
		}
		r.types[id] = sp.Type
		it, err := buildSpec(whole, id, sp)
		if err != nil {
			r.why[id] = err.Error()
			continue
		}
		built[id] = it
	}
	r.flow = items.NewFlow(whole.ID)
	for _, id := range r.ids {
		it := built[id]
		if it == nil {
			continue
		}
		var deps []items.ID
		for _, d := range specs[id].DependsOn {
			if built[d] != nil {
				deps = append(deps, items.ID(d))
			}
		}
		if err := r.flow.Add(it, deps...); err != nil {
			r.why[id] = err.Error()
		}
	}
	if err := r.flow.Validate(); err != nil {
		for _, it := range r.flow.Items() {
			r.why[string(it.ID())] = err.Error()
		}
		r.flow = items.NewFlow(whole.ID)
		_ = r.flow.Validate()
	}
	r.data = cmdblock.NewData(r.flow)
	for i, it := range r.flow.Items() {
		id := string(it.ID())
		r.data.Unknown[i] = r.unknown[id]
		if raw := rec.Current[id]; raw != nil {
			if s, err := it.DecodeState(raw); err == nil {
				r.data.Stored[i] = s
			}
		}
	}
	return r
}

// buildSpec builds a removed item from its spec, with the flow's
// environment (its directory, profile and params).
func buildSpec(flow *items.Flow, id string, sp state.ItemSpec) (items.Item, error) {
	reg := flow.Registry()
	if reg == nil {
		return nil, errors.New("the flow was not loaded from a file, so no item types are known to build it")
	}
	t, ok := reg.Lookup(sp.Type)
	if !ok {
		return nil, fmt.Errorf("its type %q is not known to this peace", sp.Type)
	}
	params := sp.Params
	if params == nil {
		params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	it, err := t.New(items.ID(id), params, flow.Env())
	switch {
	case err != nil:
		return nil, fmt.Errorf("its recorded params no longer build: %w", err)
	case it == nil || it.ID() != items.ID(id):
		return nil, fmt.Errorf("its type %q built no item with this ID", sp.Type)
	}
	return it, nil
}

// clean runs a clean block over the removed items that could be built:
// dependents first, through the same apply path (and journal) as any
// item. Only an execution of the whole flow cleans them.
func (r *removed) clean(env cmdblock.Scope, dry bool) {
	if len(r.ids) == 0 {
		return
	}
	r.ran, r.dry = true, dry
	if r.flow.Len() == 0 {
		return
	}
	env.Flow = r.flow
	cmdblock.Apply{Op: items.OpClean, DryRun: dry}.Run(&env, r.data)
}

// status is what became of removed item id in an execution that cleaned,
// and its error.
func (r *removed) status(id string) (progress.Status, error) {
	if why, ok := r.why[id]; ok {
		return progress.StatusFailed, fmt.Errorf("cannot clean %s: %s; add it back to the flow to clean it, or run `peace forget %s`", id, why, id)
	}
	i := r.flow.Index(items.ID(id))
	st, err := r.data.Status[i], r.data.Err[i]
	switch {
	case r.data.Lost[i] && st != progress.StatusFailed && st != progress.StatusInterrupted:
		return progress.StatusNotStarted, err
	case st == progress.StatusApplied, st == progress.StatusUnchanged:
		return progress.StatusRemoved, nil
	case st == "" || st == progress.StatusDiscovered:
		return progress.StatusNotStarted, err
	}
	return st, err
}

// cleaned lists the removed items this execution cleaned: their records go.
func (r *removed) cleaned() []string {
	if !r.ran || r.dry {
		return nil
	}
	var ids []string
	for _, id := range r.ids {
		if st, _ := r.status(id); st == progress.StatusRemoved {
			ids = append(ids, id)
		}
	}
	return ids
}

// combine adds the removed items' failures to the execution's outcome: a
// removed item that could not be cleaned fails the execution.
func (r *removed) combine(o cmdexecution.CmdOutcome) cmdexecution.CmdOutcome {
	if !r.ran {
		return o
	}
	for _, id := range r.ids {
		st, err := r.status(id)
		if st != progress.StatusFailed && st != progress.StatusInterrupted {
			continue
		}
		if o.Errors == nil {
			o.Errors = map[items.ID]error{}
		}
		o.Errors[items.ID(id)] = err
		if o.Kind == cmdexecution.Complete {
			o.Kind = cmdexecution.ItemError
		}
	}
	return o
}

// results are the removed items as the result shows them: for an
// execution that cleaned them, what became of each; otherwise their
// recorded states, noted "removed from the flow".
func (r *removed) results() []cmdexecution.ItemResult {
	out := make([]cmdexecution.ItemResult, 0, len(r.ids))
	for _, id := range r.ids {
		ir := cmdexecution.ItemResult{ID: id, Type: r.types[id], Removed: true, Unknown: r.unknown[id]}
		d := ir.Detail()
		d.RemovedNote = "removed from the flow"
		if why, ok := r.why[id]; ok {
			d.RemovedNote += "; " + why
		}
		i := r.flow.Index(items.ID(id))
		switch {
		case i >= 0 && (r.data.Found[i] || r.data.Applied[i]) && !r.data.Lost[i]:
			ir.State, ir.Known = r.data.Current[i], r.data.Current[i] != nil
		case i >= 0 && r.data.Stored[i] != nil:
			ir.State, ir.Known = r.data.Stored[i], true
		case r.stored[id] != nil:
			var v any
			if json.Unmarshal(r.stored[id], &v) == nil {
				ir.State, ir.Known = v, true
			}
		}
		switch {
		case ir.Known && i >= 0:
			ir.Summary = items.Summary(ir.State)
		case ir.Known:
			// Not decoded by its item: no summary to trust but that it is recorded.
			ir.Summary = "recorded"
		}
		if r.ran {
			st, err := r.status(id)
			ir.Status = st
			if err != nil {
				ir.Error = err.Error()
			}
			if i >= 0 && r.dry && st == progress.StatusWouldApply && r.data.Clean != nil {
				d.Target = r.data.Clean[i]
				d.TargetSummary = items.Summary(d.Target)
			}
		}
		out = append(out, ir)
	}
	return out
}

// updates is items.yaml after this execution: the spec of
// every item of the flow that is recorded, as this execution built it, and
// those of the other items the file holds (removed items, and those an
// execution of some items did not touch). The file is decoded for that
// only when this execution did not give every item it names a spec anew.
func (r *recordedSpecs) updates(flow *items.Flow, data *cmdblock.Data, had []bool) (map[string]state.ItemSpec, error) {
	fresh, complete := flowSpecs(flow, data, had)
	// The file names only the whole flow's items: when each of them has a
	// spec from this execution, none of the file's is kept.
	if r.specs == nil && !(r.flowOnly && complete && flow == flow.Whole() && len(fresh) == flow.Len()) {
		if err := r.read(); err != nil {
			return nil, err
		}
	}
	out := make(map[string]state.ItemSpec, max(len(r.specs), len(fresh)))
	for id, sp := range r.specs {
		out[id] = sp
	}
	for id, sp := range fresh {
		out[id] = sp
	}
	return out, nil
}

// flowSpecs are the specs this execution gives the items of flow that are
// recorded, and complete is false when one of them kept the spec it had
// (its references did not resolve). had says, in flow order, which items
// were recorded.
func flowSpecs(flow *items.Flow, data *cmdblock.Data, had []bool) (fresh map[string]state.ItemSpec, complete bool) {
	fresh = make(map[string]state.ItemSpec, min(flow.Len(), flow.NumSpecs()))
	complete = true
	stateOf := func(id items.ID) items.State {
		i := flow.Index(id)
		if i < 0 {
			return nil
		}
		if data.Found[i] || data.Applied[i] {
			return data.Current[i]
		}
		return data.Stored[i]
	}
	for i, it := range flow.Items() {
		id := it.ID()
		sp, ok := flow.Spec(id)
		if !ok {
			complete = false // built in Go: the file never names it, so it cannot be told by IDs
			continue
		}
		if !(data.Found[i] || data.Applied[i] || data.Lost[i] || had[i]) {
			continue
		}
		params := sp.Params
		if d, ok := it.(*items.Deferred); ok {
			p, err := d.Params(stateOf)
			if err != nil {
				// Keep what was resolved last, if anything was.
				complete = false
				continue
			}
			params = p
		}
		var deps []string
		for _, d := range flow.Deps(id) {
			deps = append(deps, string(d))
		}
		fresh[string(id)] = state.ItemSpec{Type: sp.Type, Params: params, DependsOn: deps}
	}
	return fresh, complete
}
