package items

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Spec is what it takes to build an item again without its flow file: its
// type and its params as the loader resolved them (flow params, ${profile}
// and ${flow} replaced). The state directory keeps it, so an item that
// left the flow can still be cleaned.
type Spec struct {
	Type   string
	Params *yaml.Node
}

func (f *Flow) setSpec(id ID, s Spec) {
	if f.specs == nil {
		f.specs = map[ID]Spec{}
	}
	f.specs[id] = s
}

// Spec returns the type and resolved params of item id as the flow file
// gave them, and false for an item built in Go (or not in the flow). The
// params of an item that refers to other items' states still hold those
// references; see Deferred.Params.
func (f *Flow) Spec(id ID) (Spec, bool) {
	s, ok := f.specs[id]
	return s, ok
}

// NumSpecs is how many items of the whole flow have a spec: none for a
// flow built in Go.
func (f *Flow) NumSpecs() int { return len(f.specs) }

// Whole is the flow a Subset was cut from, or f itself.
func (f *Flow) Whole() *Flow {
	if f.whole != nil {
		return f.whole
	}
	return f
}

// Registry is the item types the flow file's items were built with, nil
// for a flow built in Go.
func (f *Flow) Registry() *Registry { return f.reg }

// Env is the environment the flow's items were built with.
func (f *Flow) Env() Env {
	return Env{Dir: f.Dir, Flow: f.ID, Profile: f.Profile, Params: f.Params}
}

// Params returns the item's params with every reference to an item's state
// replaced by that state, as Build would build it.
func (d *Deferred) Params(state func(ID) State) (*yaml.Node, error) {
	values := map[string]State{}
	for _, id := range d.refs {
		values[string(id)] = state(id)
	}
	memo := map[*yaml.Node]*yaml.Node{}
	params := copyNode(d.params, memo)
	var errs []error
	for orig, segs := range d.segs {
		n := memo[orig]
		if n == nil {
			continue
		}
		var sb strings.Builder
		for _, s := range segs {
			if s.ref == nil {
				sb.WriteString(s.lit)
				continue
			}
			v, err := stateValue(values[s.ref.Name], s.ref.Field, s.ref.typed)
			if err != nil {
				line, col := refPosition(orig, s.ref.Offset)
				errs = append(errs, &InputError{File: d.file, Line: line, Col: col,
					Msg: fmt.Sprintf("item %s: %s: %v", d.id, s.ref.Text, err)})
				continue
			}
			sb.WriteString(v)
		}
		n.Value = sb.String()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return params, nil
}
