package items

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// stub is a test-only item: its state is a string and it changes nothing.
type stub struct{ state string }

func (s stub) Current(context.Context, TypedFnCtx[string]) (string, error) { return s.state, nil }
func (s stub) Goal(context.Context, TypedFnCtx[string]) (string, error)    { return s.state, nil }
func (s stub) Clean(context.Context, TypedFnCtx[string]) (string, error)   { return "", nil }
func (s stub) Diff(from, to string) Diff                                   { return Diff{Equal: from == to} }
func (s stub) ApplyCheck(context.Context, TypedFnCtx[string], string, string) (ApplyCheck, error) {
	return NotRequired, nil
}
func (s stub) Apply(_ context.Context, _ TypedFnCtx[string], _, target string) (string, error) {
	return target, nil
}
func (s stub) ApplyDry(_ context.Context, _ TypedFnCtx[string], _, target string) (string, error) {
	return target, nil
}

// noteParams are the params of the test type "note".
type noteParams struct {
	Text  string   `yaml:"text"`
	Times int      `yaml:"times"`
	Tags  []string `yaml:"tags"`
}

func (p *noteParams) Validate() error {
	if p.Text == "" {
		return errors.New("text is required")
	}
	return nil
}

// built records what a constructor was given, for the tests to look at.
type built struct {
	stub
	params *yaml.Node
	env    Env
	note   noteParams
}

func testRegistry() *Registry {
	return NewRegistry(
		TypeOf("note", func(id ID, p noteParams, env Env) (Item, error) {
			return Typed(id, "note", &built{stub: stub{p.Text}, note: p, env: env}), nil
		}),
		TypeOf("marker", func(id ID, _ struct{}, env Env) (Item, error) {
			return Typed(id, "marker", &built{env: env}), nil
		}),
		// raw keeps the params node as given; a "fail" param makes it fail
		// with a plain error, "fail_at" with an error at that param.
		Type{Name: "raw", New: func(id ID, params *yaml.Node, env Env) (Item, error) {
			for i := 0; i+1 < len(params.Content); i += 2 {
				switch params.Content[i].Value {
				case "fail":
					return nil, errors.New("failed: " + params.Content[i+1].Value)
				case "fail_at":
					return nil, ErrorAt(params.Content[i+1], "bad value %q", params.Content[i+1].Value)
				case "fail_context":
					return nil, fmt.Errorf("item %s: checking: %w", id, ErrorAt(params.Content[i+1], "bad value"))
				case "fail_wrapped":
					return nil, errors.Join(
						ErrorAt(params.Content[i+1], "first"),
						errors.New("second, unplaced"))
				}
			}
			return Typed(id, "raw", &built{params: params, env: env}), nil
		}},
	)
}

// unwrapBuilt digs the test item back out of the Typed adapter.
func unwrapBuilt(t *testing.T, it Item) *built {
	t.Helper()
	u, ok := it.(interface{ Unwrap() any })
	if !ok {
		t.Fatalf("item %s is %T, not a Typed item", it.ID(), it)
	}
	return u.Unwrap().(*built)
}

const goodFlow = `# every shape a flow file may take
flow: hello
items:
  - id: out_dir
    type: marker
  - id: greeting
    type: note
    depends_on: [out_dir]
    params: {text: "hello\n", times: 2}
  - id: build
    type: raw
    depends_on:
      - greeting
      - out_dir
    params:
      current: "cat out/built 2>/dev/null || echo absent"
      goal: echo built
  - &tagged
    id: tagged
    type: note
    depends_on: []
    params:
      text: tags
      tags: [a, b]
  - id: empty_params
    type: marker
    params:
  - id: a2
    type: note
    params: {text: first}
`

func TestParseGood(t *testing.T) {
	dir := t.TempDir()
	f, err := Parse("flows/hello.yaml", []byte(goodFlow), dir, testRegistry())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.ID != "hello" || f.File != "flows/hello.yaml" || f.Dir != dir {
		t.Errorf("flow = %q, file %q, dir %q; want hello, flows/hello.yaml, %s", f.ID, f.File, f.Dir, dir)
	}
	want := []ID{"out_dir", "greeting", "build", "tagged", "empty_params", "a2"}
	if got := f.IDs(); !slices.Equal(got, want) {
		t.Errorf("IDs = %v, want %v", got, want)
	}
	if got := f.Deps("build"); !slices.Equal(got, []ID{"greeting", "out_dir"}) {
		t.Errorf("Deps(build) = %v", got)
	}
	if got := f.Dependents("out_dir"); !slices.Equal(got, []ID{"greeting", "build"}) {
		t.Errorf("Dependents(out_dir) = %v", got)
	}
	for _, it := range f.Items() {
		if b := unwrapBuilt(t, it); b.env.Dir != dir {
			t.Errorf("item %s built with Env.Dir %q, want %q", it.ID(), b.env.Dir, dir)
		}
	}
	g := unwrapBuilt(t, f.Item("greeting"))
	if g.note.Text != "hello\n" || g.note.Times != 2 {
		t.Errorf("greeting params = %+v", g.note)
	}
	if tags := unwrapBuilt(t, f.Item("tagged")).note.Tags; !slices.Equal(tags, []string{"a", "b"}) {
		t.Errorf("tagged tags = %v", tags)
	}
	// The raw type gets the params node with its positions intact.
	p := unwrapBuilt(t, f.Item("build")).params
	if p.Kind != yaml.MappingNode || len(p.Content) != 4 {
		t.Fatalf("build params = kind %v with %d nodes", p.Kind, len(p.Content))
	}
	if k, v := p.Content[2], p.Content[3]; k.Value != "goal" || k.Line != 17 || k.Column != 7 || v.Value != "echo built" || v.Column != 13 {
		t.Errorf("goal param at %d:%d = %q (value at col %d); want goal at 17:7, value at col 13", k.Line, k.Column, k.Value, v.Column)
	}
	if got := f.Item("out_dir").Type(); got != "marker" {
		t.Errorf("out_dir type = %q", got)
	}
}

func TestParseParamsNodeWhenAbsent(t *testing.T) {
	// A type always gets a mapping, placed at the item when the flow file
	// has no params for it.
	src := "flow: f\nitems:\n  - id: a\n    type: raw\n  - id: b\n    type: raw\n    params:\n"
	f, err := Parse("f.yaml", []byte(src), "/flows", testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[ID][2]int{"a": {3, 5}, "b": {7, 12}} {
		p := unwrapBuilt(t, f.Item(id)).params
		if p == nil || p.Kind != yaml.MappingNode || len(p.Content) != 0 || p.Line != want[0] || p.Column != want[1] {
			t.Errorf("item %s params = %+v, want an empty mapping at %d:%d", id, p, want[0], want[1])
		}
	}
}

func TestParseRelativeDir(t *testing.T) {
	f, err := Parse("f.yaml", []byte("flow: f\nitems: [{id: a, type: marker}]\n"), "sub", testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "sub"); f.Dir != want {
		t.Errorf("Dir = %q, want %q", f.Dir, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, []byte(goodFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)
	f, err := Load(path, testRegistry())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if f.File != path || f.Dir != dir || f.Len() != 6 {
		t.Errorf("File %q Dir %q Len %d; want %q %q 6", f.File, f.Dir, f.Len(), path, dir)
	}
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Errorf("loading changed the directory: %v → %v", before, after)
	}
}

func TestLoadRelativePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "f.yaml"), []byte("flow: f\nitems:\n  - {id: a, type: bogus}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := Load("flows/f.yaml", testRegistry())
	if want := `flows/f.yaml:3:19: unknown item type "bogus" (known types: marker, note, raw)`; err == nil || err.Error() != want {
		t.Fatalf("Load error = %v, want %s", err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "f.yaml"), []byte("flow: f\nitems:\n  - {id: a, type: marker}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Load("flows/f.yaml", testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "flows"); f.File != "flows/f.yaml" || f.Dir != want {
		t.Errorf("File %q Dir %q; want flows/f.yaml %q", f.File, f.Dir, want)
	}
	if b := unwrapBuilt(t, f.Item("a")); b.env.Dir != f.Dir {
		t.Errorf("Env.Dir = %q, want %q", b.env.Dir, f.Dir)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path, testRegistry())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load error = %v, want one wrapping fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	var ie *InputError
	if errors.As(err, &ie) {
		t.Errorf("a missing file is not an input error: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("loading created %s", path)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, testRegistry()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Load of a directory = %v, want an error naming it", err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		names = append(names, p+" "+info.Mode().String()+" "+info.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// inputErrors returns the InputErrors err is made of, and false if any part
// of it is something else.
func inputErrors(err error) ([]*InputError, bool) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []*InputError
		for _, e := range j.Unwrap() {
			ies, ok := inputErrors(e)
			if !ok {
				return nil, false
			}
			all = append(all, ies...)
		}
		return all, true
	}
	ie, ok := err.(*InputError)
	return []*InputError{ie}, ok
}

// An item that is fine, for cases about something else.
const okItems = "items: [{id: a, type: marker}]\n"

var badFlows = []struct {
	name, src string
	want      []string // every error, in file order, without the "f.yaml:" prefix
}{
	// The file as a whole.
	{"empty", "", []string{"empty flow file: expected a mapping with keys flow and items"}},
	{"only a comment", "# nothing yet\n", []string{"empty flow file: expected a mapping with keys flow and items"}},
	{"empty document", "---\n", []string{"empty flow file: expected a mapping with keys flow and items"}},
	{"a list", "- a\n", []string{"1:1: expected a mapping with keys flow and items, found a list"}},
	{"a scalar", "hello\n", []string{`1:1: expected a mapping with keys flow and items, found "hello"`}},
	{"two documents", "flow: f\n" + okItems + "---\nflow: g\n", []string{
		"3:1: expected one YAML document, found a second one (a flow file holds one flow)"}},
	{"two documents, checked both", "flow: F\n" + okItems + "---\n", []string{
		`1:7: flow ID "F" is malformed: want [a-z][a-z0-9_]*`,
		"3:1: expected one YAML document, found a second one (a flow file holds one flow)"}},
	{"syntax error in the second document", "flow: f\n" + okItems + "--- [\n", []string{
		"3:1: did not find expected node content"}},

	// YAML syntax: the line yaml.v3 reports is kept; what it leaves out is found.
	{"mapping in a scalar", "flow: f\nitems: b: c\n", []string{`2:9: mapping values are not allowed in this context: a value holding ": " must be quoted`}},
	{"syntax error on line 1", "flow: f: g\n", []string{`1:8: mapping values are not allowed in this context: a value holding ": " must be quoted`}},
	{"tab indentation", "flow: f\nitems:\n  - id: a\n\ttype: marker\n", []string{"4:1: found a tab character that violates indentation: tabs are not allowed for indentation in YAML: use spaces"}},
	// yaml.v3 counts this one from the line before the '{': the '{' is found.
	{"unclosed flow mapping", "flow: f\nitems:\n  - {id: a, type: marker\n", []string{"3:5: did not find expected ',' or '}': a [ or { is not closed"}},
	{"tab after a list's dash", "flow: f\nitems:\n\t- id: a\n", []string{
		"3:1: found character that cannot start any token: " + tabHint}},
	{"key out of line in a list item", "flow: f\nitems:\n  - id: a\n    type: marker\n   params: {}\n", []string{
		"5:4: did not find expected '-' indicator: this line is indented unlike the lines before it (keys of one mapping, and the \"- \" of one list, line up)"}},
	{"key at a list's dash", "flow: f\nitems:\n  - id: a\n  type: marker\n", []string{
		"4:3: did not find expected '-' indicator: this line is indented unlike the lines before it (keys of one mapping, and the \"- \" of one list, line up)"}},
	{"key indented too far", "flow: f\n  items: []\n", []string{
		`2:3: mapping values are not allowed in this context: is this line indented too far, or does a value hold an unquoted ": "?`}},
	{"unclosed quote", "flow: \"f\nitems: []\n", []string{"3:1: found unexpected end of stream: a quote, [ or { is not closed"}},
	{"control character", "flow: f\nitems:\n  - id: a\n    type: \"x\x01\"\n", []string{
		"4:13: control characters are not allowed (found U+0001)"}},
	{"invalid UTF-8", "flow: f\nitems:\n  - id: a\n    type: m\xff\n", []string{"4:12: invalid leading UTF-8 octet"}},
	{"unknown anchor", "flow: f\nitems:\n  - id: a\n    type: marker\n    params: *p\n", []string{
		"5:13: unknown anchor 'p' referenced"}},

	// Top-level keys.
	{"missing flow", okItems, []string{`1:1: missing key "flow" (the flow's ID)`}},
	{"missing items", "flow: f\n", []string{`1:1: missing key "items" (the list of items)`}},
	{"empty mapping", "{}\n", []string{
		`1:1: missing key "flow" (the flow's ID)`,
		`1:1: missing key "items" (the list of items)`}},
	{"misspelt items", "flow: f\nitmes: []\n", []string{
		`1:1: missing key "items" (the list of items)`,
		`2:1: unknown key "itmes" (expected: flow, params, profiles, items) (did you mean items?)`}},
	{"key twice", "flow: f\nflow: g\n" + okItems, []string{`2:1: key "flow" is given twice (first at line 1)`}},
	{"key not a scalar", "flow: f\n[x]: 1\n" + okItems, []string{"2:1: unknown key: a list (expected: flow, params, profiles, items)"}},
	{"flow a list", "flow: [f]\n" + okItems, []string{"1:7: expected a flow ID, found a list"}},
	{"flow empty", "flow:\n" + okItems, []string{"1:6: expected a flow ID, found nothing"}},
	{"flow malformed", "flow: Hello\n" + okItems, []string{`1:7: flow ID "Hello" is malformed: want [a-z][a-z0-9_]*`}},
	{"items empty", "flow: f\nitems:\n", []string{"2:7: expected a list of items, found nothing"}},
	{"items an empty list", "flow: f\nitems: []\n", []string{"2:8: expected at least one item, found an empty list"}},
	{"items a mapping", "flow: f\nitems: {id: a}\n", []string{"2:8: expected a list of items, found a mapping"}},
	{"items a scalar", "flow: f\nitems: a\n", []string{`2:8: expected a list of items, found "a"`}},
	{"items not mappings", "flow: f\nitems:\n  - a\n  - [b]\n", []string{
		`3:5: expected an item (a mapping with keys id, type, depends_on, params), found "a"`,
		"4:5: expected an item (a mapping with keys id, type, depends_on, params), found a list"}},
	{"items alias themselves", "flow: f\nitems: &x [*x]\n", []string{
		"2:8: expected an item (a mapping with keys id, type, depends_on, params), found a list"}},

	// Item keys.
	{"unknown item key", `flow: f
items:
  - id: a
    type: marker
  - id: b
    type: marker
    dependson: [a]
`, []string{`7:5: unknown key "dependson" in item "b" (expected: id, type, depends_on, params) (did you mean depends_on?)`}},
	{"unknown key before the id", `flow: f
items:
  - colour: red
    id: b
    type: marker
`, []string{`3:5: unknown key "colour" in item "b" (expected: id, type, depends_on, params)`}},
	{"item without id", `flow: f
items:
  - type: marker
    dependson: [a]
`, []string{
		`3:5: missing key "id" in item #1`,
		`4:5: unknown key "dependson" in item #1 (expected: id, type, depends_on, params) (did you mean depends_on?)`}},
	{"item key twice", "flow: f\nitems:\n  - id: a\n    id: b\n    type: marker\n", []string{
		`4:5: key "id" is given twice in item "a" (first at line 3)`}},
	{"item key not a scalar", "flow: f\nitems:\n  - id: a\n    type: marker\n    [x]: 1\n", []string{
		`5:5: unknown key: a list in item "a" (expected: id, type, depends_on, params)`}},
	{"item without type", "flow: f\nitems:\n  - id: a\n", []string{`3:5: missing key "type" in item "a"`}},

	// IDs.
	{"duplicate id", `flow: f
items:
  - id: a
    type: marker
  - id: b
    type: marker
  - id: a
    type: marker
`, []string{`7:9: item ID "a" is used twice (first at line 3)`}},
	{"duplicate id by alias", "flow: f\nitems:\n  - &a {id: a, type: marker}\n  - *a\n", []string{
		`3:13: item ID "a" is used twice (first at line 3)`}},
	{"malformed ids", `flow: f
items:
  - id: Bad-ID
    type: marker
  - id: 1a
    type: marker
  - id: [x]
    type: marker
  - id:
    type: marker
  - id: a b
    type: marker
`, []string{
		`3:9: item ID "Bad-ID" is malformed: want [a-z][a-z0-9_]*`,
		`5:9: item ID "1a" is malformed: want [a-z][a-z0-9_]*`,
		"7:9: expected an item ID, found a list",
		"9:8: expected an item ID, found nothing",
		`11:9: item ID "a b" is malformed: want [a-z][a-z0-9_]*`}},
	{"dependency on a malformed id is not also unknown", `flow: f
items:
  - id: Bad
    type: marker
  - id: b
    type: marker
    depends_on: [Bad]
`, []string{`3:9: item ID "Bad" is malformed: want [a-z][a-z0-9_]*`}},

	// Types.
	{"types", `flow: f
items:
  - id: a
    type: bogus
  - id: b
    type: [marker]
  - id: c
    type:
`, []string{
		`4:11: unknown item type "bogus" (known types: marker, note, raw)`,
		"6:11: expected an item type, found a list",
		"8:10: expected an item type, found nothing"}},

	// Dependencies.
	{"dependencies", `flow: f
items:
  - id: a
    type: marker
    depends_on: x
  - id: b
    type: marker
    depends_on: [x, a, a, b, {c: 1}, ~]
`, []string{
		`5:17: expected a list of item IDs, found "x"`,
		`8:18: item "b" depends on "x", which is not an item of this flow`,
		`8:24: item "b" lists "a" twice in depends_on`,
		`8:27: item "b" depends on itself`,
		"8:30: expected an item ID, found a mapping",
		"8:38: expected an item ID, found nothing"}},
	{"cycle", `flow: f
items:
  - id: a
    type: marker
    depends_on: [c]
  - id: b
    type: marker
    depends_on: [a]
  - id: c
    type: marker
    depends_on: [b]
`, []string{"3:5: dependency cycle: a → c → b → a"}},
	{"cycle reached from an item outside it", `flow: f
items:
  - id: x
    type: marker
    depends_on: [c]
  - id: a
    type: marker
    depends_on: [b]
  - id: b
    type: marker
    depends_on: [c]
  - id: c
    type: marker
    depends_on: [a]
`, []string{"6:5: dependency cycle: a → b → c → a"}},

	// Params, as the item types report them.
	{"params", `flow: f
items:
  - id: a
    type: note
    depends_on: [b]
  - id: b
    type: note
    params: {text: x, colour: red, times: many}
    depends_on: [a]
  - id: c
    type: note
    params: [text]
  - id: d
    type: note
    params:
      text: one
      text: two
`, []string{
		"3:5: item a: text is required",
		"3:5: dependency cycle: a → b → a",
		`8:23: unknown param "colour" (expected one of: text, times, tags)`,
		"8:43: cannot unmarshal !!str `many` into int",
		"12:13: expected a mapping of params, found a list",
		`17:7: mapping key "text" already defined at line 16`}},
	{"params of an item with a malformed id are checked too", `flow: f
items:
  - id: Bad
    type: note
    params: {txt: x}
`, []string{
		`3:9: item ID "Bad" is malformed: want [a-z][a-z0-9_]*`,
		`5:14: unknown param "txt" (expected one of: text, times, tags) (did you mean text?)`}},
	{"type errors placed and unplaced", `flow: f
items:
  - id: a
    type: raw
    params: {fail: it broke}
  - id: b
    type: raw
    params: {fail_at: zz}
  - id: c
    type: raw
    params: {fail_wrapped: 1}
  - id: d
    type: raw
    params: {fail_context: 1}
`, []string{
		"5:13: failed: it broke",
		`8:23: bad value "zz"`,
		"11:13: second, unplaced",
		"11:28: first",
		"14:28: item d: checking: bad value"}},
	{"params alias themselves", "flow: f\nitems:\n  - id: a\n    type: note\n    params: &p {text: *p}\n", []string{
		"5: cannot unmarshal !!map into string"}},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range badFlows {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(tc.src), "/flows", testRegistry())
			if err == nil {
				t.Fatalf("Parse succeeded with flow %q, want errors:\n%s", f.ID, strings.Join(tc.want, "\n"))
			}
			if f != nil {
				t.Errorf("Parse returned a flow with its error")
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = "f.yaml:" + w
				if strings.HasPrefix(w, "empty flow file") {
					want[i] = "f.yaml: " + w
				}
			}
			if got := err.Error(); got != strings.Join(want, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
			ies, ok := inputErrors(err)
			if !ok {
				t.Fatalf("error %v is not made of *InputError only", err)
			}
			if len(ies) != len(tc.want) {
				t.Errorf("%d errors, want %d", len(ies), len(tc.want))
			}
			for _, ie := range ies {
				if ie.File != "f.yaml" {
					t.Errorf("error %q has File %q", ie, ie.File)
				}
			}
		})
	}
}

// BenchmarkParse loads a flow file of 10,000 items, each depending on the
// one before it.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("flow: bench\nitems:\n")
	for i := range 10000 {
		fmt.Fprintf(&sb, "  - id: item_%d\n    type: note\n    params: {text: \"hello %d\", times: %d}\n", i, i, i)
		if i > 0 {
			fmt.Fprintf(&sb, "    depends_on: [item_%d]\n", i-1)
		}
	}
	data := []byte(sb.String())
	reg := testRegistry()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.yaml", data, "/flows", reg); err != nil {
			b.Fatal(err)
		}
	}
}
