package items

import (
	"fmt"
	"slices"
)

// DidYouMean is " (did you mean X?)" when one of candidates is a likely
// slip for name, else "".
func DidYouMean(name string, candidates []string) string { return didYouMean(name, candidates) }

// Subset is the flow cut down to the items ids and everything they need
// (their dependencies, all the way down); with dependents, also
// everything that needs them (a clean of an item first cleans what stands
// on it). Items keep the flow's order. An unknown ID is an error.
func (f *Flow) Subset(ids []ID, dependents bool) (*Flow, error) {
	keep := map[ID]bool{}
	var walk func(id ID, next func(ID) []ID)
	walk = func(id ID, next func(ID) []ID) {
		if keep[id] && next == nil {
			return
		}
		keep[id] = true
		if next != nil {
			for _, n := range next(id) {
				if !keep[n] {
					walk(n, next)
				}
				keep[n] = true
			}
		}
	}
	names := make([]string, 0, len(f.added))
	for _, it := range f.added {
		names = append(names, string(it.ID()))
	}
	for _, id := range ids {
		if f.Index(id) < 0 {
			return nil, fmt.Errorf("--item %s: no such item in flow %s%s", id, f.ID, didYouMean(string(id), names))
		}
	}
	for _, id := range ids {
		walk(id, f.Deps)
	}
	if dependents {
		// What needs a kept item is kept too, and then what it needs.
		for _, id := range ids {
			walk(id, f.Dependents)
		}
		for changed := true; changed; {
			changed = false
			for id := range keep {
				for _, d := range f.Deps(id) {
					if !keep[d] {
						keep[d], changed = true, true
					}
				}
			}
		}
	}
	sub := NewFlow(f.ID)
	sub.File, sub.Dir, sub.Profile, sub.Params = f.File, f.Dir, f.Profile, f.Params
	sub.specs, sub.whole, sub.reg = f.specs, f.Whole(), f.reg
	for _, it := range f.added {
		if !keep[it.ID()] {
			continue
		}
		deps := slices.DeleteFunc(slices.Clone(f.Deps(it.ID())), func(d ID) bool { return !keep[d] })
		if err := sub.Add(it, deps...); err != nil {
			return nil, err
		}
	}
	if err := sub.Validate(); err != nil {
		return nil, err
	}
	return sub, nil
}
