package server_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pickFlow is two items, top needing base, and one that needs neither.
// base's clean fails while top's file is there: a clean of base must
// clean top first.
const pickFlow = `flow: pick
items:
  - id: base
    type: sh_cmd
    params:
      current: "cat base.txt 2>/dev/null || echo absent"
      goal: {value: done}
      ensure: "echo done > base.txt"
      clean: "test ! -f top.txt && rm -f base.txt"
      clean_state: {value: absent}
  - id: top
    type: sh_cmd
    depends_on: [base]
    params:
      current: "cat top.txt 2>/dev/null || echo absent"
      goal: {value: done}
      ensure: "echo done > top.txt"
      clean: "rm -f top.txt"
      clean_state: {value: absent}
  - id: other
    type: sh_cmd
    params:
      current: "cat other.txt 2>/dev/null || echo absent"
      goal: {value: done}
      ensure: "echo done > other.txt"
      clean: "rm -f other.txt"
      clean_state: {value: absent}
`

func exists(t testing.TB, dir, name string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

func keys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// covers checks that execution id's record, outcome and events speak of
// the items want only.
func covers(t testing.TB, ts *testServer, id string, want ...string) {
	t.Helper()
	slices.Sort(want)
	var e execution
	ts.do("GET", "/api/v1/executions/"+id, nil, &e)
	if got := keys(e.Items); !slices.Equal(got, want) {
		t.Errorf("execution %s (%s) has items %v, want %v", id, e.Command, got, want)
	}
	var doc struct {
		Outcome string
		Items   map[string]json.RawMessage
		States  map[string]json.RawMessage
	}
	if code := ts.do("GET", "/api/v1/executions/"+id+"/outcome", nil, &doc); code != 200 {
		t.Errorf("outcome of %s: %d", id, code)
	}
	got := slices.Sorted(maps.Keys(doc.Items))
	if doc.Items == nil {
		got = slices.Sorted(maps.Keys(doc.States))
	}
	if !slices.Equal(got, want) {
		t.Errorf("outcome of %s (%s) has items %v, want %v", id, e.Command, got, want)
	}
	readSSE(t, ts.base, ts.token, "/api/v1/executions/"+id+"/events", "", func(ev sseEvent) bool {
		if ev.Event != "" {
			return true
		}
		var pe struct {
			Type  string
			Item  string
			Items []string
		}
		_ = json.Unmarshal([]byte(ev.Data), &pe)
		if pe.Item != "" && !slices.Contains(want, pe.Item) {
			t.Errorf("execution %s: event %s of item %s, which it should not touch", id, pe.Type, pe.Item)
		}
		if pe.Type == "execution_start" && !slices.Equal(slices.Sorted(slices.Values(pe.Items)), want) {
			t.Errorf("execution %s starts with items %v, want %v", id, pe.Items, want)
		}
		return true
	})
}

// TestItemsSelection: a POST with items acts on them and what they need
// (clean: and what needs them), as --item does, and its record, events
// and outcome cover those items only.
func TestItemsSelection(t *testing.T) {
	dir := writeFlow(t, pickFlow)
	ts := startServer(t, dir)

	e := ts.post(map[string]any{"command": "ensure", "items": []string{"top"}})
	if x := ts.waitState(e.ID, "complete", "failed", "interrupted"); x.State != "complete" {
		t.Fatalf("ensure top: %s", x.State)
	}
	if !exists(t, dir, "base.txt") || !exists(t, dir, "top.txt") || exists(t, dir, "other.txt") {
		t.Errorf("ensure of top: base %v top %v other %v, want base and top only",
			exists(t, dir, "base.txt"), exists(t, dir, "top.txt"), exists(t, dir, "other.txt"))
	}
	covers(t, ts, e.ID, "base", "top")

	whole := ts.post(map[string]any{"command": "ensure"})
	ts.waitState(whole.ID, "complete")
	if !exists(t, dir, "other.txt") {
		t.Fatal("a whole ensure left other out")
	}

	c := ts.post(map[string]any{"command": "clean", "items": []string{"base"}})
	if x := ts.waitState(c.ID, "complete", "failed", "interrupted"); x.State != "complete" {
		t.Errorf("clean base: %s (%v)", x.State, x.Items)
	}
	if exists(t, dir, "base.txt") || exists(t, dir, "top.txt") || !exists(t, dir, "other.txt") {
		t.Errorf("clean of base: base %v top %v other %v, want other only",
			exists(t, dir, "base.txt"), exists(t, dir, "top.txt"), exists(t, dir, "other.txt"))
	}
	covers(t, ts, c.ID, "base", "top")

	// Kept in memory (status), the same: other only.
	st := ts.post(map[string]any{"command": "status", "items": []string{"other"}})
	ts.waitState(st.ID, "complete")
	covers(t, ts, st.ID, "other")

	// The command line sees what the API did: base and top clean, other
	// still recorded.
	out, _, code := peace(t, dir, "status", "--stored", "--format", "json")
	var stored struct{ States map[string]any }
	if err := json.Unmarshal([]byte(out), &stored); code != 0 || err != nil {
		t.Fatalf("status --stored: %d %v %s", code, err, out)
	}
	if stored.States["other"] == nil {
		t.Errorf("stored states %v: other is not recorded", stored.States)
	}

	var body struct{ Error, Code, Field string }
	if code := ts.do("POST", "/api/v1/executions", `{"command": "ensure", "items": ["top", "bsae"]}`, &body); code != 400 ||
		body.Field != "items[1]" || !strings.Contains(body.Error, `"bsae"`) || !strings.Contains(body.Error, "base") {
		t.Errorf("unknown item: %d %+v, want 400 naming items[1] and suggesting base", code, body)
	}
}

// TestItemsLock: an execution of some items holds the profile's lock like
// any other: the server and the command line are refused while it runs.
func TestItemsLock(t *testing.T) {
	dir := writeFlow(t, slowFlow)
	ts := startServer(t, dir)
	e := ts.post(map[string]any{"command": "ensure", "items": []string{"first"}})
	waitItem(t, ts, e.ID, "first", "running")
	for _, body := range []map[string]any{
		{"command": "ensure"},
		{"command": "clean", "items": []string{"second"}},
	} {
		var conflict struct{ Code, Execution string }
		if code := ts.do("POST", "/api/v1/executions", body, &conflict); code != http.StatusConflict || conflict.Execution != e.ID {
			t.Errorf("%v while %s runs: %d %+v, want 409 naming it", body, e.ID, code, conflict)
		}
	}
	if _, stderr, code := peace(t, dir, "ensure"); code != 3 || !strings.Contains(stderr, e.ID) {
		t.Errorf("peace ensure while %s runs: exit %d, want 3 naming it: %s", e.ID, code, stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if x := ts.waitState(e.ID, "complete", "failed", "interrupted"); x.State != "complete" {
		t.Fatalf("ensure first: %s", x.State)
	}
	if !exists(t, dir, "first.txt") || exists(t, dir, "second.txt") {
		t.Errorf("ensure of first: first %v second %v, want first only", exists(t, dir, "first.txt"), exists(t, dir, "second.txt"))
	}
	covers(t, ts, e.ID, "first")
}

// sayFlow writes the greeting param, as its sh_cmd reads it from the
// environment, to said.txt.
const sayFlow = `flow: say
params:
  greeting: hello
profiles:
  prod: {greeting: from prod}
items:
  - id: said
    type: sh_cmd
    params:
      current: "cat said.txt 2>/dev/null || echo absent"
      goal: "echo \"$PEACE_PARAM_GREETING\""
      ensure: "echo \"$PEACE_PARAM_GREETING\" > said.txt"
      clean: "rm -f said.txt"
      clean_state: {value: absent}
  - id: other
    type: sh_cmd
    params:
      current: "cat other.txt 2>/dev/null || echo absent"
      goal: {value: done}
      ensure: "echo done > other.txt"
      clean: "rm -f other.txt"
      clean_state: {value: absent}
`

// TestParams: a POST's params reach the items' commands (PEACE_PARAM_*)
// over the profile's values, and are kept in the record; an unknown param
// is a 400 naming it.
func TestParams(t *testing.T) {
	dir := writeFlow(t, sayFlow)
	ts := startServer(t, dir, withLoad(dir))
	said := func() string {
		data, _ := os.ReadFile(filepath.Join(dir, "said.txt"))
		return strings.TrimSpace(string(data))
	}

	e := ts.post(map[string]any{"command": "ensure", "params": map[string]string{"greeting": "from the api"}, "items": []string{"said"}})
	if x := ts.waitState(e.ID, "complete", "failed", "interrupted"); x.State != "complete" || x.Params["greeting"] != "from the api" {
		t.Errorf("ensure with params: %s, params %v", x.State, x.Params)
	}
	if got := said(); got != "from the api" {
		t.Errorf("said.txt %q, want the request's greeting", got)
	}
	if exists(t, dir, "other.txt") {
		t.Error("an ensure of said made other too")
	}
	covers(t, ts, e.ID, "said")

	// The profile's value, then the request's over it.
	p := ts.post(map[string]any{"command": "ensure", "profile": "prod"})
	ts.waitState(p.ID, "complete")
	if got := said(); got != "from prod" {
		t.Errorf("said.txt %q after an ensure of prod, want its value", got)
	}
	p = ts.post(map[string]any{"command": "ensure", "profile": "prod", "params": map[string]string{"greeting": "over prod"}})
	ts.waitState(p.ID, "complete")
	if got := said(); got != "over prod" {
		t.Errorf("said.txt %q after an ensure of prod with params, want the request's", got)
	}
	// The profile's own executions are untouched by a request's params.
	d := ts.post(map[string]any{"command": "ensure"})
	ts.waitState(d.ID, "complete")
	if got := said(); got != "hello" {
		t.Errorf("said.txt %q after a plain ensure, want the default", got)
	}

	var body struct{ Error, Code, Field string }
	if code := ts.do("POST", "/api/v1/executions", `{"command": "ensure", "params": {"nope": "x"}}`, &body); code != 400 ||
		body.Field != "params" || !strings.Contains(body.Error, "nope") {
		t.Errorf("unknown param: %d %+v, want 400 naming it", code, body)
	}
}
