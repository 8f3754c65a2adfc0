package items

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func stubItem(id ID) Item { return Typed(id, "stub", stub{}) }

// graph builds a flow from "id: deps..." pairs in declaration order.
type node struct {
	id   ID
	deps []ID
}

func buildFlow(t testing.TB, nodes ...node) *Flow {
	t.Helper()
	f := NewFlow("test")
	for _, n := range nodes {
		if err := f.Add(stubItem(n.id), n.deps...); err != nil {
			t.Fatalf("Add(%s): %v", n.id, err)
		}
	}
	return f
}

func TestFlowOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []node
		want  []ID
	}{
		{"declaration order without deps", []node{{"c", nil}, {"a", nil}, {"b", nil}}, []ID{"c", "a", "b"}},
		{"dependency declared later goes first", []node{{"c", []ID{"b"}}, {"a", nil}, {"b", []ID{"a"}}}, []ID{"a", "b", "c"}},
		{"ready items keep declaration order", []node{{"x", []ID{"z"}}, {"y", nil}, {"z", nil}}, []ID{"y", "z", "x"}},
		{"diamond", []node{{"top", nil}, {"left", []ID{"top"}}, {"right", []ID{"top"}}, {"bottom", []ID{"right", "left"}}},
			[]ID{"top", "left", "right", "bottom"}},
		{"an item freed late still yields to earlier ones", []node{{"a", []ID{"d"}}, {"b", nil}, {"c", nil}, {"d", nil}},
			[]ID{"b", "c", "d", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := buildFlow(t, tc.nodes...)
			if err := f.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := f.IDs(); !slices.Equal(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
			// The order is a property of the flow, not of one run.
			for range 3 {
				again := buildFlow(t, tc.nodes...)
				if err := again.Validate(); err != nil || !slices.Equal(again.IDs(), tc.want) {
					t.Fatalf("second build: %v, %v", again.IDs(), err)
				}
			}
			for i, it := range f.Items() {
				if f.Index(it.ID()) != i || f.Item(it.ID()) != it {
					t.Errorf("Index(%s) = %d, want %d", it.ID(), f.Index(it.ID()), i)
				}
			}
		})
	}
}

func TestFlowAccessors(t *testing.T) {
	f := buildFlow(t, node{"a", nil}, node{"b", []ID{"a"}}, node{"c", []ID{"a", "b"}})
	if f.Items() != nil {
		t.Errorf("Items before Validate = %v, want nil", f.Items())
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if f.Len() != 3 {
		t.Errorf("Len = %d", f.Len())
	}
	if got := f.Deps("c"); !slices.Equal(got, []ID{"a", "b"}) {
		t.Errorf("Deps(c) = %v", got)
	}
	if got := f.Dependents("a"); !slices.Equal(got, []ID{"b", "c"}) {
		t.Errorf("Dependents(a) = %v", got)
	}
	if f.Deps("a") != nil || f.Dependents("c") != nil {
		t.Errorf("Deps(a) = %v, Dependents(c) = %v; want none", f.Deps("a"), f.Dependents("c"))
	}
	// The lists share storage: appending to one leaves the next as it is.
	_ = append(f.Deps("b"), "zz")
	_ = append(f.Dependents("a"), "zz")
	if got := f.Deps("c"); !slices.Equal(got, []ID{"a", "b"}) {
		t.Errorf("Deps(c) after an append to Deps(b) = %v", got)
	}
	if got := f.Dependents("b"); !slices.Equal(got, []ID{"c"}) {
		t.Errorf("Dependents(b) after an append to Dependents(a) = %v", got)
	}
	if f.Item("nope") != nil || f.Index("nope") != -1 {
		t.Errorf("unknown ID: Item %v, Index %d", f.Item("nope"), f.Index("nope"))
	}
	// By position in Items, where the declaration order is not the
	// items' order: each list names positions, and agrees with the lists
	// by ID.
	g := buildFlow(t, node{"z", []ID{"y", "x"}}, node{"y", []ID{"x"}}, node{"x", nil}, node{"w", []ID{"x"}})
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	for i, it := range g.Items() {
		var deps, dnts []ID
		for _, p := range g.DepsAt(i) {
			deps = append(deps, g.Items()[p].ID())
		}
		for _, p := range g.DependentsAt(i) {
			dnts = append(dnts, g.Items()[p].ID())
		}
		if !slices.Equal(deps, g.Deps(it.ID())) || !slices.Equal(dnts, g.Dependents(it.ID())) {
			t.Errorf("%s at %d: DepsAt names %v, DependentsAt %v; by ID %v, %v", it.ID(), i, deps, dnts, g.Deps(it.ID()), g.Dependents(it.ID()))
		}
	}
	if got := g.Dependents("x"); !slices.Equal(got, []ID{"z", "y", "w"}) {
		t.Errorf("Dependents(x) = %v, want declaration order", got)
	}
	// Validated, the flow keeps dependencies by position; an Add after
	// it, and a Validate again, see them as they were given.
	want := map[ID][]ID{"z": {"y", "x"}, "y": {"x"}, "x": nil, "w": {"x"}, "v": {"w", "z"}}
	if err := g.Add(stubItem("v"), "w", "z"); err != nil {
		t.Fatal(err)
	}
	for _, validated := range []bool{false, true} {
		for id, deps := range want {
			if got := g.Deps(id); !slices.Equal(got, deps) {
				t.Errorf("validated again %v: Deps(%s) = %v, want %v", validated, id, got, deps)
			}
		}
		if err := g.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Validate(); err != nil || !slices.Equal(g.Deps("v"), []ID{"w", "z"}) {
		t.Errorf("a second Validate: %v, Deps(v) = %v", err, g.Deps("v"))
	}
	// Adding after Validate needs a new Validate before the order is used.
	if err := f.Add(stubItem("d"), "c"); err != nil {
		t.Fatal(err)
	}
	if f.Items() != nil {
		t.Errorf("Items after Add = %v, want nil until Validate", f.IDs())
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := f.IDs(); !slices.Equal(got, []ID{"a", "b", "c", "d"}) {
		t.Errorf("order after Add = %v", got)
	}
}

func TestFlowAddDoesNotKeepCallersSlice(t *testing.T) {
	deps := []ID{"a"}
	f := buildFlow(t, node{"a", nil}, node{"b", deps})
	deps[0] = "zz"
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate after the caller reused its slice: %v", err)
	}
}

func TestFlowAddErrors(t *testing.T) {
	f := NewFlow("test")
	if err := f.Add(stubItem("a")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id   ID
		want string
	}{
		{"a", `item ID "a" is used twice`},
		{"", `item ID "" is malformed: want [a-z][a-z0-9_]*`},
		{"Upper", `item ID "Upper" is malformed: want [a-z][a-z0-9_]*`},
		{"1st", `item ID "1st" is malformed: want [a-z][a-z0-9_]*`},
		{"has-dash", `item ID "has-dash" is malformed: want [a-z][a-z0-9_]*`},
		{"_lead", `item ID "_lead" is malformed: want [a-z][a-z0-9_]*`},
		{"new\nline", `item ID "new\nline" is malformed: want [a-z][a-z0-9_]*`},
	} {
		if err := f.Add(stubItem(tc.id)); err == nil || err.Error() != tc.want {
			t.Errorf("Add(%q) = %v, want %s", tc.id, err, tc.want)
		}
	}
	if f.Len() != 1 {
		t.Errorf("rejected items were added: Len = %d", f.Len())
	}
	for _, ok := range []ID{"a", "a1", "a_b", "z9_"} {
		if !ok.Valid() {
			t.Errorf("%q should be a valid ID", ok)
		}
	}
}

func TestFlowValidateErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flow  ID
		nodes []node
		want  string
		cycle []ID // set when the error is a CycleError
	}{
		{"malformed flow ID", "Flow", []node{{"a", nil}}, `flow ID "Flow" is malformed: want [a-z][a-z0-9_]*`, nil},
		{"unknown dependency", "test", []node{{"a", nil}, {"b", []ID{"a", "x"}}},
			`item "b" depends on "x", which is not an item of flow "test"`, nil},
		{"self dependency", "test", []node{{"a", []ID{"a"}}}, `item "a" depends on itself`, nil},
		{"two-item cycle", "test", []node{{"a", []ID{"b"}}, {"b", []ID{"a"}}},
			"dependency cycle: a → b → a", []ID{"a", "b", "a"}},
		{"three-item cycle", "test", []node{{"a", []ID{"c"}}, {"b", []ID{"a"}}, {"c", []ID{"b"}}},
			"dependency cycle: a → c → b → a", []ID{"a", "c", "b", "a"}},
		{"cycle behind an item outside it", "test",
			[]node{{"x", []ID{"c"}}, {"a", []ID{"b"}}, {"b", []ID{"c"}}, {"c", []ID{"a"}}},
			"dependency cycle: a → b → c → a", []ID{"a", "b", "c", "a"}},
		{"cycle named from its first declared item", "test",
			[]node{{"x", []ID{"c"}}, {"ok", nil}, {"b", []ID{"c"}}, {"c", []ID{"b"}}},
			"dependency cycle: b → c → b", []ID{"b", "c", "b"}},
		{"first of two cycles", "test",
			[]node{{"p", []ID{"q"}}, {"a", []ID{"b"}}, {"b", []ID{"a"}}, {"q", []ID{"p"}}},
			"dependency cycle: p → q → p", []ID{"p", "q", "p"}},
		{"cycle among freed items", "test",
			[]node{{"root", nil}, {"a", []ID{"root", "b"}}, {"b", []ID{"a"}}},
			"dependency cycle: a → b → a", []ID{"a", "b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFlow(tc.flow)
			for _, n := range tc.nodes {
				if err := f.Add(stubItem(n.id), n.deps...); err != nil {
					t.Fatal(err)
				}
			}
			err := f.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v, want %s", err, tc.want)
			}
			var ce *CycleError
			if got := errors.As(err, &ce); got != (tc.cycle != nil) {
				t.Fatalf("errors.As(CycleError) = %v for %v", got, err)
			}
			if ce != nil && !slices.Equal(ce.Cycle, tc.cycle) {
				t.Errorf("Cycle = %v, want %v", ce.Cycle, tc.cycle)
			}
			if f.Items() != nil {
				t.Errorf("an invalid flow has an order: %v", f.IDs())
			}
		})
	}
}

// benchFlow builds n items where item i depends on up to fan of the items
// just before it (fan 0: all independent).
func benchFlow(b *testing.B, n, fan int) *Flow {
	f := NewFlow("bench")
	for i := range n {
		var deps []ID
		for j := max(0, i-fan); j < i; j++ {
			deps = append(deps, ID(fmt.Sprintf("item_%d", j)))
		}
		if err := f.Add(stubItem(ID(fmt.Sprintf("item_%d", i))), deps...); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct {
		name   string
		n, fan int
	}{
		{"10000_independent", 10000, 0},
		{"10000_chain", 10000, 1},
		{"10000_fan3", 10000, 3},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := benchFlow(b, bc.n, bc.fan)
			b.ReportAllocs()
			for b.Loop() {
				if err := f.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
