package items

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// Flow is an ID and a DAG of items. Build one with NewFlow and Add, then
// call Validate; the flow-file loader does all three.
type Flow struct {
	ID ID
	// File is the flow file the flow was loaded from, "" when built in Go.
	File string
	// Dir is where relative paths resolve and where sh_cmd commands run.
	Dir string
	// Profile is the profile the flow was loaded for.
	Profile string
	// Params are the flow params' values the flow was loaded with: what
	// an execution of it uses, kept in its record.
	Params map[string]string

	added []Item // declaration order
	deps  map[ID][]ID
	index map[ID]int // ID -> position in order

	order      []Item // topological, declaration order breaking ties; set by Validate
	dependents map[ID][]ID

	specs map[ID]Spec // each item's type and params as the loader resolved them
	whole *Flow       // the flow a Subset was cut from; nil for a whole flow
	reg   *Registry   // the types the loader built the items with
}

// NewFlow returns an empty flow.
func NewFlow(id ID) *Flow {
	return &Flow{ID: id, deps: map[ID][]ID{}, index: map[ID]int{}}
}

// Add appends an item that depends on deps. A malformed or duplicate ID is an
// error; unknown dependencies and cycles are found by Validate.
func (f *Flow) Add(it Item, deps ...ID) error {
	id := it.ID()
	if !id.Valid() {
		return fmt.Errorf("item ID %q is malformed: want [a-z][a-z0-9_]*", id)
	}
	if _, dup := f.deps[id]; dup {
		return fmt.Errorf("item ID %q is used twice", id)
	}
	f.added = append(f.added, it)
	f.deps[id] = slices.Clone(deps)
	f.order = nil
	return nil
}

// Validate checks the graph: every dependency names an item, and there are
// no cycles (the error names one). It fixes the flow's stable item order.
func (f *Flow) Validate() error {
	if !f.ID.Valid() {
		return fmt.Errorf("flow ID %q is malformed: want [a-z][a-z0-9_]*", f.ID)
	}
	f.dependents = map[ID][]ID{}
	for _, it := range f.added {
		for _, d := range f.deps[it.ID()] {
			if _, ok := f.deps[d]; !ok {
				return fmt.Errorf("item %q depends on %q, which is not an item of flow %q", it.ID(), d, f.ID)
			}
			if d == it.ID() {
				return fmt.Errorf("item %q depends on itself", d)
			}
			f.dependents[d] = append(f.dependents[d], it.ID())
		}
	}
	// Kahn's algorithm; among ready items the one declared first goes first,
	// so the order is stable across runs and readable.
	pos := map[ID]int{}
	for i, it := range f.added {
		pos[it.ID()] = i
	}
	waiting := map[ID]int{}
	// A min-heap of positions, so taking the next item is O(log n); appended
	// in ascending order below, it starts out a valid heap.
	var ready positions
	for i, it := range f.added {
		waiting[it.ID()] = len(f.deps[it.ID()])
		if waiting[it.ID()] == 0 {
			ready = append(ready, i)
		}
	}
	f.order = make([]Item, 0, len(f.added))
	for len(ready) > 0 {
		i := heap.Pop(&ready).(int)
		it := f.added[i]
		f.order = append(f.order, it)
		for _, d := range f.dependents[it.ID()] {
			waiting[d]--
			if waiting[d] == 0 {
				heap.Push(&ready, pos[d])
			}
		}
	}
	if len(f.order) != len(f.added) {
		cycle := f.findCycle(waiting, pos)
		f.order = nil
		return &CycleError{Cycle: cycle}
	}
	f.index = make(map[ID]int, len(f.order))
	for i, it := range f.order {
		f.index[it.ID()] = i
	}
	return nil
}

// CycleError is the error Validate returns when items depend on each other
// in a loop.
type CycleError struct {
	// Cycle is the loop, closed: it starts and ends with the same item, the
	// one of the loop declared first; each item depends on the next.
	Cycle []ID
}

func (e *CycleError) Error() string {
	names := make([]string, len(e.Cycle))
	for i, id := range e.Cycle {
		names[i] = string(id)
	}
	return "dependency cycle: " + strings.Join(names, " → ")
}

// positions is a min-heap of declaration positions.
type positions []int

func (h positions) Len() int           { return len(h) }
func (h positions) Less(i, j int) bool { return h[i] < h[j] }
func (h positions) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *positions) Push(x any)        { *h = append(*h, x.(int)) }
func (h *positions) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// findCycle walks dependencies among the items Kahn's algorithm could not
// order until it meets an item twice, and returns that loop, closed and
// starting at its item declared first so the name is the same whichever
// item the walk started from.
func (f *Flow) findCycle(waiting map[ID]int, pos map[ID]int) []ID {
	var start ID
	for _, it := range f.added {
		if waiting[it.ID()] > 0 {
			start = it.ID()
			break
		}
	}
	seen := map[ID]int{}
	var path []ID
	for id := start; ; {
		if i, ok := seen[id]; ok {
			loop := path[i:]
			first := 0
			for j, l := range loop {
				if pos[l] < pos[loop[first]] {
					first = j
				}
			}
			out := slices.Concat(loop[first:], loop[:first])
			return append(out, out[0])
		}
		seen[id] = len(path)
		path = append(path, id)
		for _, d := range f.deps[id] {
			if waiting[d] > 0 {
				id = d
				break
			}
		}
	}
}

// Items returns the items in the flow's stable order: dependencies before
// dependents, declaration order otherwise. Validate must have succeeded.
func (f *Flow) Items() []Item { return f.order }

// Len is the number of items.
func (f *Flow) Len() int { return len(f.added) }

// Item returns the item with the given ID, or nil.
func (f *Flow) Item(id ID) Item {
	if i, ok := f.index[id]; ok {
		return f.order[i]
	}
	return nil
}

// Index is the position of id in Items, or -1.
func (f *Flow) Index(id ID) int {
	if i, ok := f.index[id]; ok {
		return i
	}
	return -1
}

// Deps returns the items id depends on.
func (f *Flow) Deps(id ID) []ID { return f.deps[id] }

// Dependents returns the items that depend on id.
func (f *Flow) Dependents(id ID) []ID { return f.dependents[id] }

// IDs returns every item ID in the flow's stable order.
func (f *Flow) IDs() []ID {
	ids := make([]ID, len(f.order))
	for i, it := range f.order {
		ids[i] = it.ID()
	}
	return ids
}
