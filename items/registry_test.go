package items

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// paramsNode parses src and returns the value of its "params" key.
func paramsNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "params" {
			return top.Content[i+1]
		}
	}
	t.Fatalf("no params in %q", src)
	return nil
}

type shared struct {
	Mode string `yaml:"mode"`
}

type strictParams struct {
	Path    string            `yaml:"path"`
	Count   int               `yaml:"count"`
	Enabled bool              `yaml:",omitempty"` // yaml.v3 names it "enabled"
	Env     map[string]string `yaml:"env"`
	Skipped string            `yaml:"-"`
	hidden  string            // unexported fields are not keys
	shared  `yaml:",inline"`
}

func TestDecodeStrict(t *testing.T) {
	n := paramsNode(t, `
params:
  path: out/x
  count: 3
  enabled: true
  env: {A: b}
  mode: "0644"
`)
	var p strictParams
	if err := DecodeStrict(n, &p); err != nil {
		t.Fatal(err)
	}
	if p.Path != "out/x" || p.Count != 3 || !p.Enabled || p.Env["A"] != "b" || p.Mode != "0644" || p.hidden != "" {
		t.Errorf("decoded %+v", p)
	}
}

func TestDecodeStrictErrors(t *testing.T) {
	const known = "path, count, enabled, env, mode"
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "params:\n  path: x\n  pth: y\n", []string{
			`3:3: unknown param "pth" (expected one of: ` + known + `) (did you mean path?)`}},
		{"every unknown key, and type errors too", "params:\n  pth: y\n  count: many\n  Skipped: s\n  hidden: h\n", []string{
			`2:3: unknown param "pth" (expected one of: ` + known + `) (did you mean path?)`,
			`4:3: unknown param "Skipped" (expected one of: ` + known + `)`,
			`5:3: unknown param "hidden" (expected one of: ` + known + `)`,
			"3:10: cannot unmarshal !!str `many` into int"}},
		{"several type errors", "params:\n  count: many\n  enabled: maybe\n", []string{
			"2:10: cannot unmarshal !!str `many` into int",
			"3:12: cannot unmarshal !!str `maybe` into bool"}},
		{"repeated key", "params:\n  path: a\n  path: b\n", []string{
			`3:3: mapping key "path" already defined at line 2`}},
		{"a list", "params: [path]\n", []string{"1:9: expected a mapping of params, found a list"}},
		{"a scalar", "params: path\n", []string{`1:9: expected a mapping of params, found "path"`}},
		{"flow mapping", "params: {path: x, colour: red}\n", []string{
			`1:19: unknown param "colour" (expected one of: ` + known + `)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p strictParams
			err := DecodeStrict(paramsNode(t, tc.src), &p)
			if err == nil {
				t.Fatalf("no error, want %v", tc.want)
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			ies, ok := inputErrors(err)
			if !ok {
				t.Errorf("error is not made of *InputError only: %#v", err)
			}
			if _, bare := err.(*InputError); len(ies) == 1 && !bare {
				t.Errorf("a single error is %T, want a bare *InputError", err)
			}
		})
	}
}

func TestDecodeStrictNullAndAlias(t *testing.T) {
	var p strictParams
	if err := DecodeStrict(paramsNode(t, "params:\n"), &p); err != nil || p.Path != "" {
		t.Errorf("null params: %+v, %v", p, err)
	}
	n := paramsNode(t, "base: &b {path: shared}\nparams: *b\n")
	if n.Kind != yaml.AliasNode {
		t.Fatalf("params node is kind %v, want an alias", n.Kind)
	}
	if err := DecodeStrict(n, &p); err != nil || p.Path != "shared" {
		t.Errorf("aliased params: %+v, %v", p, err)
	}
	// Anything but a struct decodes as yaml.v3 would.
	var m map[string]any
	if err := DecodeStrict(paramsNode(t, "params: {anything: 1}\n"), &m); err != nil || m["anything"] != 1 {
		t.Errorf("map: %v, %v", m, err)
	}
}

// octal is a param type that checks itself and says exactly where it is wrong.
type octal int

func (o *octal) UnmarshalYAML(n *yaml.Node) error {
	for _, c := range n.Value {
		if c < '0' || c > '7' {
			return ErrorAt(n, "%q is not an octal number", n.Value)
		}
	}
	return nil
}

func TestDecodeStrictKeepsInputErrorsOfParamTypes(t *testing.T) {
	var p struct {
		Path string `yaml:"path"`
		Mode octal  `yaml:"mode"`
	}
	err := DecodeStrict(paramsNode(t, "params:\n  path: x\n  mode: 0999\n"), &p)
	if want := `3:9: "0999" is not an octal number`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

type requiredParams struct {
	Path string `yaml:"path"`
}

func (p *requiredParams) Validate() error {
	if p.Path == "" {
		return errors.New("param path is required")
	}
	return nil
}

func TestTypeOf(t *testing.T) {
	var gotEnv Env
	var gotParams requiredParams
	typ := TypeOf("needs_path", func(id ID, p requiredParams, env Env) (Item, error) {
		gotEnv, gotParams = env, p
		return stubItem(id), nil
	})
	if typ.Name != "needs_path" {
		t.Errorf("Name = %q", typ.Name)
	}
	it, err := typ.New("a", paramsNode(t, "params: {path: x}\n"), Env{Dir: "/flows"})
	if err != nil || it.ID() != "a" || gotParams.Path != "x" || gotEnv.Dir != "/flows" {
		t.Fatalf("New = %v, %v; params %+v env %+v", it, err, gotParams, gotEnv)
	}

	// Validate runs after decoding, and its error is placed at the params.
	_, err = typ.New("a", paramsNode(t, "x: 1\nparams:\n  other: 2\n"), Env{})
	if want := `3:3: unknown param "other" (expected one of: path)`; err == nil || err.Error() != want {
		t.Errorf("unknown param: %v, want %s", err, want)
	}
	_, err = typ.New("a", paramsNode(t, "x: 1\nparams: {}\n"), Env{})
	if want := "2:9: item a: param path is required"; err == nil || err.Error() != want {
		t.Errorf("missing param: %v, want %s", err, want)
	}
	// Without params (Go callers may pass nil) Validate still runs.
	for _, n := range []*yaml.Node{nil, {}} {
		_, err = typ.New("a", n, Env{})
		var ie *InputError
		if !errors.As(err, &ie) || ie.Msg != "item a: param path is required" || ie.Line != 0 {
			t.Errorf("New with params %v: %#v", n, err)
		}
	}
}

func TestRegistry(t *testing.T) {
	mk := func(name string, tag string) Type {
		return Type{Name: name, New: func(id ID, _ *yaml.Node, _ Env) (Item, error) {
			return Typed(id, tag, stub{}), nil
		}}
	}
	r := NewRegistry(mk("sh_cmd", "1"), mk("dir", "1"), mk("file", "1"))
	if got := r.Names(); !slices.Equal(got, []string{"dir", "file", "sh_cmd"}) {
		t.Errorf("Names = %v", got)
	}
	if _, ok := r.Lookup("tar_x"); ok {
		t.Error("Lookup found an unregistered type")
	}
	r.Add(mk("tar_x", "1"))
	r.Add(mk("dir", "2"))
	if got := r.Names(); !slices.Equal(got, []string{"dir", "file", "sh_cmd", "tar_x"}) {
		t.Errorf("Names after Add = %v", got)
	}
	typ, ok := r.Lookup("dir")
	if !ok {
		t.Fatal("dir not found")
	}
	if it, _ := typ.New("a", nil, Env{}); it.Type() != "2" {
		t.Errorf("Add did not replace dir: got type %q", it.Type())
	}
	if got := NewRegistry().Names(); len(got) != 0 {
		t.Errorf("empty registry Names = %v", got)
	}
}

func TestInputErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    InputError
		want string
	}{
		{InputError{File: "f.yaml", Line: 3, Col: 5, Msg: "m"}, "f.yaml:3:5: m"},
		{InputError{File: "f.yaml", Line: 3, Msg: "m"}, "f.yaml:3: m"},
		{InputError{File: "f.yaml", Msg: "m"}, "f.yaml: m"},
		{InputError{Line: 3, Col: 5, Msg: "m"}, "3:5: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
	n := &yaml.Node{Line: 7, Column: 2}
	var ie *InputError
	if err := ErrorAt(n, "bad %s", "thing"); !errors.As(err, &ie) || ie.Line != 7 || ie.Col != 2 || ie.Msg != "bad thing" {
		t.Errorf("ErrorAt = %#v", err)
	}
}
