package items

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const paramsFlow = `flow: hello
params:
  greeting: hello
  out: out
  times: "2"
profiles:
  prod: {greeting: "hello, world", out: /srv/hello}
  dev:
    out: dev
items:
  - id: note
    type: note
    params:
      text: "${params.greeting} from ${profile} of ${flow} to ${params.out}: $${params.greeting}"
      times: ${params.times}
      tags: ["${params.out}", plain, "$${profile}"]
  - id: kept
    type: verbatim
    params: {run: "echo ${params.greeting}", env: {G: "${params.greeting}"}}
`

// verbatimParams has a param whose strings are never interpolated.
type verbatimParams struct {
	Run string            `yaml:"run" peace:"verbatim"`
	Env map[string]string `yaml:"env"`
}

func paramsRegistry() *Registry {
	reg := testRegistry()
	reg.Add(TypeOf("verbatim", func(id ID, p verbatimParams, env Env) (Item, error) {
		return Typed(id, "verbatim", &built{stub: stub{p.Run + "|" + p.Env["G"]}, env: env}), nil
	}))
	return reg
}

func TestFlowParams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []LoadOption
		text    string
		tags    []string
		kept    string
		profile string
		values  map[string]string
	}{
		{"defaults", nil,
			"hello from default of hello to out: ${params.greeting}", []string{"out", "plain", "${profile}"},
			"echo ${params.greeting}|hello", "default",
			map[string]string{"greeting": "hello", "out": "out", "times": "2"}},
		{"a profile", []LoadOption{WithProfile("prod")},
			"hello, world from prod of hello to /srv/hello: ${params.greeting}", []string{"/srv/hello", "plain", "${profile}"},
			"echo ${params.greeting}|hello, world", "prod",
			map[string]string{"greeting": "hello, world", "out": "/srv/hello", "times": "2"}},
		{"a profile that sets some", []LoadOption{WithProfile("dev")},
			"hello from dev of hello to dev: ${params.greeting}", []string{"dev", "plain", "${profile}"},
			"echo ${params.greeting}|hello", "dev",
			map[string]string{"greeting": "hello", "out": "dev", "times": "2"}},
		{"--param over the profile", []LoadOption{WithProfile("prod"), WithParams(map[string]string{"out": "x", "times": "3"})},
			"hello, world from prod of hello to x: ${params.greeting}", []string{"x", "plain", "${profile}"},
			"echo ${params.greeting}|hello, world", "prod",
			map[string]string{"greeting": "hello, world", "out": "x", "times": "3"}},
		{"a value with ${ is not read again", []LoadOption{WithParams(map[string]string{"greeting": "${params.out}"})},
			"${params.out} from default of hello to out: ${params.greeting}", []string{"out", "plain", "${profile}"},
			"echo ${params.greeting}|${params.out}", "default",
			map[string]string{"greeting": "${params.out}", "out": "out", "times": "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(paramsFlow), "/flows", paramsRegistry(), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			b := unwrapBuilt(t, f.Item("note"))
			if b.note.Text != tc.text || !slices.Equal(b.note.Tags, tc.tags) {
				t.Errorf("text %q tags %q, want %q %q", b.note.Text, b.note.Tags, tc.text, tc.tags)
			}
			if want := 2; tc.values["times"] == "2" && b.note.Times != want {
				t.Errorf("times = %d, want %d (a plain ${...} reads as its value would)", b.note.Times, want)
			}
			if k := unwrapBuilt(t, f.Item("kept")).state; k != tc.kept {
				t.Errorf("verbatim item got %q, want %q", k, tc.kept)
			}
			if f.Profile != tc.profile || !maps.Equal(f.Params, tc.values) {
				t.Errorf("flow profile %q params %v, want %q %v", f.Profile, f.Params, tc.profile, tc.values)
			}
			env := b.env
			if env.Flow != "hello" || env.Profile != tc.profile || !maps.Equal(env.Params, tc.values) || env.Dir != "/flows" {
				t.Errorf("env = %+v", env)
			}
		})
	}
}

func TestVerbatimKeys(t *testing.T) {
	type inner struct {
		Script string `yaml:"script" peace:"verbatim"`
	}
	type params struct {
		Run   string `yaml:"run" peace:"verbatim"`
		Other string `yaml:"other"`
		Cmd   string `peace:"verbatim"`
		inner `yaml:",inline"`
	}
	typ := TypeOf("v", func(id ID, p params, env Env) (Item, error) { return nil, nil })
	if want := []string{"run", "cmd", "script"}; !slices.Equal(typ.Verbatim, want) {
		t.Errorf("Verbatim = %q, want %q", typ.Verbatim, want)
	}
}

func TestParamsAliasedBetweenItems(t *testing.T) {
	// The anchor is interpolated for each item on its own: a verbatim use
	// keeps it as written, another use gets the value.
	f, err := Parse("f.yaml", []byte(`flow: f
params: {p: value}
items:
  - id: a
    type: verbatim
    params: {run: &r "x ${params.p}", env: {G: *r}}
  - id: b
    type: note
    params: {text: *r}
`), "/flows", paramsRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if got := unwrapBuilt(t, f.Item("a")).state; got != "x ${params.p}|x ${params.p}" {
		t.Errorf("a = %q", got)
	}
	if got := unwrapBuilt(t, f.Item("b")).note.Text; got != "x value" {
		t.Errorf("b = %q", got)
	}
}

func TestRefPosition(t *testing.T) {
	var doc yaml.Node
	src := "a: x ${y}\nb: \"x ${y}\"\nc: 'x ${y}'\nd: |\n  x ${y}\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for i, want := range [][2]int{{1, 6}, {2, 7}, {3, 7}, {4, 4}} {
		n := m.Content[2*i+1]
		line, col := refPosition(n, strings.Index(n.Value, "${"))
		if line != want[0] || col != want[1] {
			t.Errorf("%s: %d:%d, want %d:%d", m.Content[2*i].Value, line, col, want[0], want[1])
		}
	}
}

var badParamFlows = []struct {
	name string
	opts []LoadOption
	src  string
	want []string
}{
	{"params not a mapping", nil, "flow: f\nparams: [a]\n" + okItems, []string{
		"2:9: expected a mapping of flow params (name: default value), found a list"}},
	{"param names and values", nil, "flow: f\nparams:\n  Bad: x\n  ok: [1]\n  ok: y\n  '': z\n" + okItems, []string{
		`3:3: flow param name "Bad" is malformed: want [a-z][a-z0-9_]*`,
		`4:7: flow param "ok": expected a string, found a list`,
		`5:3: flow param "ok" is given twice (first at line 4)`,
		`6:3: flow param name "" is malformed: want [a-z][a-z0-9_]*`}},
	{"profiles", nil, `flow: f
params: {greeting: hi}
profiles:
  prod: {greting: x, greeting: [y]}
  dev: x
  Bad: {}
  prod: {}
` + okItems, []string{
		`4:10: profile "prod" sets "greting", which is not a flow param (declare it with a default under params) (did you mean greeting?)`,
		`4:32: flow param "greeting": expected a string, found a list`,
		`5:8: profile "dev": expected a mapping of flow params (name: value), found "x"`,
		`6:3: profile name "Bad" is malformed: want [a-z][a-z0-9_]*`,
		`7:3: profile "prod" is given twice (first at line 4)`}},
	{"profiles not a mapping", nil, "flow: f\nprofiles: x\n" + okItems, []string{
		`2:11: expected a mapping of profiles (profile: {param: value}), found "x"`}},
	{"a profile not in profiles", []LoadOption{WithProfile("prd")}, "flow: f\nparams: {a: b}\nprofiles:\n  prod: {}\n  dev: {}\n" + okItems, []string{
		`4:3: profile "prd" is not one of this flow's profiles (default, prod, dev) (did you mean prod?)`}},
	{"an unknown --param", []LoadOption{WithParams(map[string]string{"gretting": "x", "zzz": "y"})},
		"flow: f\nparams: {greeting: hi, out: o}\n" + okItems, []string{
			`--param gretting: the flow has no param "gretting" (params: greeting, out) (did you mean greeting?)`,
			`--param zzz: the flow has no param "zzz" (params: greeting, out)`}},
	{"--param without params", []LoadOption{WithParams(map[string]string{"x": "1"})}, "flow: f\n" + okItems, []string{
		`--param x: the flow has no param "x" (it declares no params)`}},
	{"references", nil, `flow: f
params: {greeting: hi}
items:
  - id: a
    type: note
    params:
      text: "${params.greting} ${param.greeting} ${prof} ${"
      tags: ["${params.}", "${items.a}", "${items.a.state}", "${items.x.state}", "${items..state}"]
  - id: b
    type: note
    params: {text: "${items.a.state.x..y}"}
`, []string{
		`7:14: item "a": unknown flow param in ${params.greting} (params: greeting) (did you mean greeting?)`,
		`7:32: item "a": unknown reference ${param.greeting}: flow params are ${params.NAME}`,
		`7:50: item "a": unknown reference ${prof}: expected ${params.NAME}, ${profile}, ${flow} or ${items.ID.state[.FIELD]} (a literal ${ is written $${)`,
		`7:58: item "a": unclosed ${: expected ${params.NAME}, ${profile}, ${flow} or ${items.ID.state[.FIELD]} (a literal ${ is written $${)`,
		`8:15: item "a": malformed reference ${params.}: expected ${params.NAME}`,
		`8:29: item "a": malformed reference ${items.a}: expected ${items.ID.state} or ${items.ID.state.FIELD}`,
		`8:43: item "a" refers to its own state in ${items.a.state}`,
		`8:63: item "a" refers to ${items.x.state}: "x" is not an item of this flow`,
		`8:83: item "a": malformed reference ${items..state}: expected ${items.ID.state} or ${items.ID.state.FIELD}`,
		`11:21: item "b": malformed reference ${items.a.state.x..y}: a field name is empty`}},
}

func TestParamErrors(t *testing.T) {
	for _, tc := range badParamFlows {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("f.yaml", []byte(tc.src), "/flows", paramsRegistry(), tc.opts...)
			if err == nil {
				t.Fatalf("Parse succeeded with flow %q, want errors:\n%s", f.ID, strings.Join(tc.want, "\n"))
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = "f.yaml:" + w
				if strings.HasPrefix(w, "--param") {
					want[i] = "f.yaml: " + w
				}
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
