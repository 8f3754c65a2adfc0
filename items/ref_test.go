package items

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fileState stands for a state with fields, as the built-in types have.
type fileState struct {
	Path   string            `json:"path"`
	SHA256 string            `json:"sha256,omitempty"`
	Size   int64             `json:"size"`
	Tags   []string          `json:"tags,omitempty"`
	Meta   map[string]string `json:"meta,omitempty"`
	Inner  struct {
		Deep bool `json:"deep"`
	} `json:"inner"`
	Hidden string `json:"-"`
}

// typedFile is a test item whose states are fileState.
type typedFile struct{ path string }

func (f *typedFile) Current(context.Context, TypedFnCtx[fileState]) (fileState, error) {
	return fileState{Path: f.path}, nil
}
func (f *typedFile) Goal(context.Context, TypedFnCtx[fileState]) (fileState, error) {
	return fileState{Path: f.path, Size: 1}, nil
}
func (f *typedFile) Clean(context.Context, TypedFnCtx[fileState]) (fileState, error) {
	return fileState{Path: f.path}, nil
}
func (f *typedFile) Diff(a, b fileState) Diff { return Diff{Equal: a.Size == b.Size} }
func (f *typedFile) ApplyCheck(_ context.Context, _ TypedFnCtx[fileState], c, g fileState) (ApplyCheck, error) {
	return ApplyCheck{Required: c.Size != g.Size}, nil
}
func (f *typedFile) Apply(_ context.Context, _ TypedFnCtx[fileState], _, g fileState) (fileState, error) {
	return g, nil
}
func (f *typedFile) ApplyDry(_ context.Context, _ TypedFnCtx[fileState], _, g fileState) (fileState, error) {
	return g, nil
}

func refRegistry() *Registry {
	reg := paramsRegistry()
	reg.Add(TypeOf("filelike", func(id ID, p struct {
		Path string `yaml:"path"`
		Size int    `yaml:"size"`
	}, env Env) (Item, error) {
		if p.Path == "" {
			return nil, errors.New("item " + string(id) + ": param path is required")
		}
		return Typed[fileState](id, "filelike", &typedFile{path: p.Path}), nil
	}))
	return reg
}

const refFlow = `flow: refs
params: {suffix: txt}
items:
  - id: b
    type: note
    params:
      text: "${items.a.state.sha256} is ${items.a.state.size} bytes; ${items.a.state.inner.deep} ${items.a.state.tags.0} $${items.a.state}"
      times: ${items.a.state.size}
  - id: a
    type: filelike
    params: {path: "a.${params.suffix}"}
  - id: c
    type: note
    depends_on: [a]
    params: {text: "${items.b.state} and ${items.a.state.meta.k}"}
`

func TestReferences(t *testing.T) {
	f, err := Parse("f.yaml", []byte(refFlow), "/flows", refRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// References imply dependencies; the order follows them.
	if got, want := f.IDs(), []ID{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
	if got := f.Deps("b"); !slices.Equal(got, []ID{"a"}) {
		t.Errorf("b's deps = %v, want [a] (implied)", got)
	}
	if got := f.Deps("c"); !slices.Equal(got, []ID{"a", "b"}) {
		t.Errorf("c's deps = %v, want [a b] (a once, though given and implied)", got)
	}
	if _, ok := f.Item("a").(*Deferred); ok {
		t.Errorf("a refers to no item but is deferred")
	}
	b, ok := f.Item("b").(*Deferred)
	if !ok {
		t.Fatalf("b is %T, want *Deferred", f.Item("b"))
	}
	if !slices.Equal(b.Refs(), []ID{"a"}) {
		t.Errorf("b's refs = %v", b.Refs())
	}
	if _, err := b.Current(t.Context(), FnCtx{}); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("Current of an unbuilt item: %v", err)
	}
	// States decode as the built item's would.
	if st, err := b.DecodeState([]byte(`"x"`)); err != nil || st != "x" {
		t.Errorf("DecodeState = %#v, %v", st, err)
	}

	a := fileState{Path: "/flows/a.txt", SHA256: "abc", Size: 3, Tags: []string{"t0"}, Meta: map[string]string{"k": "v"}}
	a.Inner.Deep = true
	it, err := b.Build(func(id ID) State { return a })
	if err != nil {
		t.Fatal(err)
	}
	got := unwrapBuilt(t, it).note
	if want := "abc is 3 bytes; true t0 ${items.a.state}"; got.Text != want || got.Times != 3 {
		t.Errorf("built text %q times %d, want %q 3", got.Text, got.Times, want)
	}
	c := f.Item("c").(*Deferred)
	it, err = c.Build(func(id ID) State {
		if id == "b" {
			return "bee"
		}
		return a
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := unwrapBuilt(t, it).note.Text; got != "bee and v" {
		t.Errorf("c's text = %q", got)
	}

	// A field the state's type has but the state leaves out (omitempty)
	// stands for "".
	it, err = b.Build(func(ID) State { return fileState{Size: 1, Tags: []string{"x"}} })
	if err != nil {
		t.Fatalf("Build with a state that leaves sha256 out: %v", err)
	}
	if got := unwrapBuilt(t, it).note.Text; got != " is 1 bytes; false x ${items.a.state}" {
		t.Errorf("text = %q", got)
	}
	// A list shorter than the reference needs, at run time: an error
	// placed at the reference.
	_, err = b.Build(func(ID) State { return map[string]any{"size": 1, "tags": []string{}} })
	if err == nil || err.Error() != `f.yaml:7:98: item b: ${items.a.state.tags.0}: field "tags": the state has a list of 0 there, not a field "0"` {
		t.Errorf("Build with too short a list: %v", err)
	}
	// Params the type refuses once the values are in: its error, placed.
	_, err = b.Build(func(ID) State {
		return map[string]any{"size": "many", "tags": []string{"x"}, "inner": map[string]any{"deep": 1}}
	})
	if err == nil || !strings.Contains(err.Error(), "f.yaml:8:") || !strings.Contains(err.Error(), "into int") {
		t.Errorf("Build with params the type refuses: %v", err)
	}
}

func TestStateValue(t *testing.T) {
	for _, tc := range []struct {
		state State
		field string
		want  string
		err   string
	}{
		{"plain", "", "plain", ""},
		{42, "", "42", ""},
		{1.5, "", "1.5", ""},
		{true, "", "true", ""},
		{nil, "", "", ""},
		{map[string]any{"a": []int{1, 2}, "b": "<&>"}, "", `{"a":[1,2],"b":"<&>"}`, ""},
		{map[string]any{"a": []int{1, 2}}, "a", `[1,2]`, ""},
		{map[string]any{"a": []int{1, 2}}, "a.1", `2`, ""},
		{map[string]any{"a": []int{1, 2}}, "a.2", ``, `field "a": the state has a list of 2 there, not a field "2"`},
		{map[string]any{"sha256": "x"}, "sha255", ``, `the state has no field "sha255" (did you mean sha256?)`},
		{"s", "x", ``, `the state has no field "x": it is a string there`},
		{int64(1) << 60, "", "1152921504606846976", ""},
	} {
		var field []string
		if tc.field != "" {
			field = strings.Split(tc.field, ".")
		}
		got, err := StateValue(tc.state, field)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("StateValue(%v, %q) error %v, want %q", tc.state, tc.field, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("StateValue(%v, %q) = %q, %v; want %q", tc.state, tc.field, got, err, tc.want)
		}
	}
}

var badRefFlows = []struct {
	name, src string
	want      []string
}{
	{"unknown item, with a near one", `flow: f
items:
  - id: site_dir
    type: marker
  - id: b
    type: note
    params: {text: "${items.site_dri.state}"}
`, []string{`7:21: item "b" refers to ${items.site_dri.state}: "site_dri" is not an item of this flow (did you mean site_dir?)`}},
	{"unknown dependency, with a near one", `flow: f
items:
  - id: site_dir
    type: marker
  - id: b
    type: marker
    depends_on: [site_dri]
`, []string{`7:18: item "b" depends on "site_dri", which is not an item of this flow (did you mean site_dir?)`}},
	{"unknown type, with a near one", "flow: f\nitems:\n  - id: a\n    type: notes\n", []string{
		`4:11: unknown item type "notes" (known types: filelike, marker, note, raw, verbatim) (did you mean note?)`}},
	{"unknown fields", `flow: f
items:
  - id: a
    type: filelike
    params: {path: x}
  - id: b
    type: note
    params: {text: "${items.a.state.sha265} ${items.a.state.inner.dep} ${items.a.state.path.x} ${items.a.state.tags.x} ${items.a.state.Hidden}"}
  - id: c
    type: note
    params: {text: "${items.b.state.x}"}
`, []string{
		`8:21: item "b" refers to ${items.a.state.sha265}: the state has no field "sha265" (fields: inner, meta, path, sha256, size, tags) (did you mean sha256?)`,
		`8:45: item "b" refers to ${items.a.state.inner.dep}: the state has no field "inner.dep" (fields: deep) (did you mean deep?)`,
		`8:72: item "b" refers to ${items.a.state.path.x}: the state has no field "path.x": it is a string there`,
		`8:96: item "b" refers to ${items.a.state.tags.x}: the state has a list where "tags.x" is, not fields (index it with a number)`,
		`8:120: item "b" refers to ${items.a.state.Hidden}: the state has no field "Hidden" (fields: inner, meta, path, sha256, size, tags)`,
		`11:21: item "c" refers to ${items.b.state.x}: the state has no field "x": it is a string there`}},
	{"a reference closing a cycle", `flow: f
items:
  - id: a
    type: note
    depends_on: [b]
    params: {text: x}
  - id: b
    type: note
    params: {text: "from ${items.a.state}"}
`, []string{`9:26: item "b" refers to ${items.a.state}, which closes a dependency cycle: a → b → a`}},
	{"references closing a cycle between them", `flow: f
items:
  - id: a
    type: note
    params: {text: "${items.b.state}"}
  - id: b
    type: note
    params: {text: "${items.a.state}"}
`, []string{`5:21: item "a" refers to ${items.b.state}, which closes a dependency cycle: a → b → a`}},
	{"params of a deferred item checked but at its references", `flow: f
items:
  - id: a
    type: marker
  - id: b
    type: note
    params: {text: "${items.a.state}", times: "${items.a.state}", colour: red}
  - id: c
    type: note
    params: {text: "", tags: ["${items.a.state}"]}
`, []string{
		`7:67: unknown param "colour" (expected one of: text, times, tags)`,
		`10:13: item c: text is required`}},
}

func TestReferenceErrors(t *testing.T) {
	for _, tc := range badRefFlows {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(tc.src), "/flows", refRegistry())
			if err == nil {
				t.Fatalf("Parse succeeded with flow %q, want errors:\n%s", f.ID, strings.Join(tc.want, "\n"))
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = "f.yaml:" + w
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
			if _, ok := inputErrors(err); !ok {
				t.Errorf("error %v is not made of *InputError only", err)
			}
		})
	}
}

func TestDidYouMean(t *testing.T) {
	for _, tc := range []struct {
		name string
		cand []string
		want string
	}{
		{"site_dri", []string{"site_dir", "site"}, "site_dir"},
		{"x", []string{"a", "y"}, ""},
		{"itmes", []string{"flow", "items"}, "items"},
		{"dependson", []string{"id", "depends_on"}, "depends_on"},
		{"greting", []string{"greeting", "out"}, "greeting"},
		{"completely", []string{"different"}, ""},
		{"same", []string{"same"}, ""},
	} {
		if got := closest(tc.name, tc.cand); got != tc.want {
			t.Errorf("closest(%q, %q) = %q, want %q", tc.name, tc.cand, got, tc.want)
		}
	}
}
