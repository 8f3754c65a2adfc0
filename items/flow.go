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

	// The graph is kept by declaration position, in flat slices rather
	// than maps of per-item lists: a flow of 100,000 items holds it in a
	// few large allocations.
	added  []Item     // declaration order
	decl   map[ID]int // ID -> declaration position
	depEnd []int32    // item i's dependencies are depIDs[depEnd[i-1]:depEnd[i]]
	// depIDs are every item's dependencies, in declaration order, as Add
	// was given them. A flow that validates keeps them as positions only
	// (atDeps), and makes them again for the next Add or Validate.
	depIDs []ID
	rank   []int32 // declaration position -> position in order; set by Validate
	order  []Item  // topological, declaration order breaking ties; set by Validate
	// By position in order, set by Validate: the item at position r
	// depends on the items at positions atDeps[atDepEnd[r-1]:atDepEnd[r]]
	// (in the order its dependencies were declared), and the items at
	// atDnts[atDntEnd[r-1]:atDntEnd[r]] depend on it (in declaration
	// order). Blocks walk the graph by these, with no lookup by ID.
	atDepEnd, atDeps []int32
	atDntEnd, atDnts []int32

	specs map[ID]Spec // each item's type and params as the loader resolved them
	whole *Flow       // the flow a Subset was cut from; nil for a whole flow
	reg   *Registry   // the types the loader built the items with
}

// NewFlow returns an empty flow.
func NewFlow(id ID) *Flow {
	return &Flow{ID: id, decl: map[ID]int{}}
}

// Add appends an item that depends on deps. A malformed or duplicate ID is an
// error; unknown dependencies and cycles are found by Validate.
func (f *Flow) Add(it Item, deps ...ID) error {
	id := it.ID()
	if !id.Valid() {
		return fmt.Errorf("item ID %q is malformed: want [a-z][a-z0-9_]*", id)
	}
	if _, dup := f.decl[id]; dup {
		return fmt.Errorf("item ID %q is used twice", id)
	}
	f.depIDsAgain()
	f.decl[id] = len(f.added)
	f.added = append(f.added, it)
	f.depIDs = append(f.depIDs, deps...)
	f.depEnd = append(f.depEnd, int32(len(f.depIDs)))
	f.order, f.rank = nil, nil
	f.atDepEnd, f.atDeps, f.atDntEnd, f.atDnts = nil, nil, nil, nil
	return nil
}

// start is where item i's part of a flat list begins, by the end
// offsets ends.
func (f *Flow) start(ends []int32, i int) int32 {
	if i == 0 {
		return 0
	}
	return ends[i-1]
}

// span is the part of list that belongs to item i, by the end offsets
// ends; nil when empty, and capped so that an append copies.
func span[T any](f *Flow, list []T, ends []int32, i int) []T {
	start := f.start(ends, i)
	if start == ends[i] {
		return nil
	}
	return list[start:ends[i]:ends[i]]
}

// Validate checks the graph: every dependency names an item, and there are
// no cycles (the error names one). It fixes the flow's stable item order.
func (f *Flow) Validate() error {
	if !f.ID.Valid() {
		return fmt.Errorf("flow ID %q is malformed: want [a-z][a-z0-9_]*", f.ID)
	}
	n := len(f.added)
	f.depIDsAgain()
	if cap(f.depIDs) > len(f.depIDs)+len(f.depIDs)/4+16 {
		f.depIDs = slices.Clone(f.depIDs) // what Add's appends left spare
	}
	if cap(f.depEnd) > n+n/4+16 {
		f.depEnd = slices.Clone(f.depEnd)
	}
	// depPos is each dependency's declaration position, and count each
	// item's number of dependents.
	depPos := make([]int32, len(f.depIDs))
	count := make([]int32, n)
	for i, it := range f.added {
		for k := f.start(f.depEnd, i); k < f.depEnd[i]; k++ {
			d := f.depIDs[k]
			p, ok := f.decl[d]
			if !ok {
				return fmt.Errorf("item %q depends on %q, which is not an item of flow %q", it.ID(), d, f.ID)
			}
			if d == it.ID() {
				return fmt.Errorf("item %q depends on itself", d)
			}
			depPos[k] = int32(p)
			count[p]++
		}
	}
	// Dependents, by declaration position of the dependent, as flat lists.
	dntEnd := make([]int32, n)
	var total int32
	for i, c := range count {
		total += c
		dntEnd[i] = total
	}
	dntPos := make([]int32, total)
	fill := count // reused: the next free slot of each item's list
	for i := range fill {
		fill[i] = f.start(dntEnd, i)
	}
	for i := range f.added {
		for _, p := range depPos[f.start(f.depEnd, i):f.depEnd[i]] {
			dntPos[fill[p]] = int32(i)
			fill[p]++
		}
	}
	// Kahn's algorithm; among ready items the one declared first goes first,
	// so the order is stable across runs and readable.
	waiting := make([]int32, n)
	// A min-heap of positions, so taking the next item is O(log n); appended
	// in ascending order below, it starts out a valid heap.
	var ready positions
	for i := range f.added {
		waiting[i] = f.depEnd[i] - f.start(f.depEnd, i)
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	f.order = make([]Item, 0, n)
	f.rank = make([]int32, n)
	for len(ready) > 0 {
		i := heap.Pop(&ready).(int)
		f.rank[i] = int32(len(f.order))
		f.order = append(f.order, f.added[i])
		for _, d := range dntPos[f.start(dntEnd, i):dntEnd[i]] {
			waiting[d]--
			if waiting[d] == 0 {
				heap.Push(&ready, int(d))
			}
		}
	}
	if len(f.order) != n {
		cycle := f.findCycle(waiting)
		f.order, f.rank = nil, nil
		return &CycleError{Cycle: cycle}
	}
	// Both lists again, by position in order and naming positions in order.
	f.atDepEnd, f.atDeps = make([]int32, n), make([]int32, 0, len(depPos))
	f.atDntEnd, f.atDnts = make([]int32, n), make([]int32, 0, len(dntPos))
	for r, it := range f.order {
		i := f.decl[it.ID()]
		for _, p := range depPos[f.start(f.depEnd, i):f.depEnd[i]] {
			f.atDeps = append(f.atDeps, f.rank[p])
		}
		f.atDepEnd[r] = int32(len(f.atDeps))
		for _, p := range dntPos[f.start(dntEnd, i):dntEnd[i]] {
			f.atDnts = append(f.atDnts, f.rank[p])
		}
		f.atDntEnd[r] = int32(len(f.atDnts))
	}
	f.depIDs = nil // atDeps has them
	return nil
}

// depIDsAgain makes depIDs again from atDeps, if Validate left them
// there, for Add to append to or Validate to check.
func (f *Flow) depIDsAgain() {
	if f.depIDs != nil || f.atDepEnd == nil {
		return
	}
	ids := make([]ID, 0, len(f.atDeps))
	for i := range f.added {
		for _, p := range f.DepsAt(int(f.rank[i])) {
			ids = append(ids, f.order[p].ID())
		}
	}
	f.depIDs = ids
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
// order (waiting, by declaration position) until it meets an item twice,
// and returns that loop, closed and starting at its item declared first
// so the name is the same whichever item the walk started from.
func (f *Flow) findCycle(waiting []int32) []ID {
	var start ID
	for i, it := range f.added {
		if waiting[i] > 0 {
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
				if f.decl[l] < f.decl[loop[first]] {
					first = j
				}
			}
			out := slices.Concat(loop[first:], loop[:first])
			return append(out, out[0])
		}
		seen[id] = len(path)
		path = append(path, id)
		for _, d := range f.Deps(id) {
			if waiting[f.decl[d]] > 0 {
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
	if i, ok := f.decl[id]; ok && f.rank != nil {
		return f.added[i]
	}
	return nil
}

// Index is the position of id in Items, or -1.
func (f *Flow) Index(id ID) int {
	if i, ok := f.decl[id]; ok && f.rank != nil {
		return int(f.rank[i])
	}
	return -1
}

// Deps returns the items id depends on, in the order Add was given them.
func (f *Flow) Deps(id ID) []ID {
	i, ok := f.decl[id]
	switch {
	case !ok:
		return nil
	case f.depIDs == nil && f.atDepEnd != nil:
		return f.idsAt(f.DepsAt(int(f.rank[i])))
	}
	return span(f, f.depIDs, f.depEnd, i)
}

// idsAt returns the IDs of the items at positions at of Items; nil for
// none.
func (f *Flow) idsAt(at []int32) []ID {
	if len(at) == 0 {
		return nil
	}
	ids := make([]ID, len(at))
	for k, p := range at {
		ids[k] = f.order[p].ID()
	}
	return ids
}

// Dependents returns the items that depend on id, in declaration order.
// Validate must have succeeded.
func (f *Flow) Dependents(id ID) []ID {
	i, ok := f.decl[id]
	if !ok || f.atDntEnd == nil {
		return nil
	}
	return f.idsAt(f.DependentsAt(int(f.rank[i])))
}

// DepsAt returns the positions in Items of the items that the item at
// position i of Items depends on. The list is the flow's, to be read
// only. Validate must have succeeded.
func (f *Flow) DepsAt(i int) []int32 { return span(f, f.atDeps, f.atDepEnd, i) }

// DependentsAt returns the positions in Items of the items that depend on
// the item at position i of Items, in declaration order. The list is the
// flow's, to be read only. Validate must have succeeded.
func (f *Flow) DependentsAt(i int) []int32 { return span(f, f.atDnts, f.atDntEnd, i) }

// IDs returns every item ID in the flow's stable order.
func (f *Flow) IDs() []ID {
	ids := make([]ID, len(f.order))
	for i, it := range f.order {
		ids[i] = it.ID()
	}
	return ids
}
