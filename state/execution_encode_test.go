package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"
)

// encodeExecution writes what json.MarshalIndent writes.
func TestEncodeExecutionAsEncodingJSON(t *testing.T) {
	ended := time.Date(2026, 1, 2, 3, 4, 6, 789, time.FixedZone("x", 3600))
	code := -3
	full := Execution{
		ID: "20260102-030405-3f9a2c", Command: "ensure --dry-run", Flow: "hello", Profile: "default",
		Workspace: "/abs/<dir> & \"q\"\\\n\tü\u2028", PID: 1234, Host: "box", State: ExecInterrupted,
		Started: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Ended: &ended, ExitCode: &code,
		Params:  map[string]string{"b": "x\x00y", "a": "", "é": "\xff"},
		Items:   map[string]string{"out_dir": "applied", "a_1": "failed", "z": "queued"},
		Actions: Actions{Stop: true, Kill: true}, LastSeq: 42, ProcStart: "boot 17", Version: ExecutionFormatVersion,
	}
	cases := map[string]Execution{
		"full":   full,
		"sample": sampleExecution(),
		"zero":   {},
		"empty maps": {ID: "x", Params: map[string]string{}, Items: map[string]string{},
			Started: time.Unix(0, 0).UTC()},
	}
	for name, e := range cases {
		want, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		got, err := encodeExecution(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n%s\nwant\n%s", name, got, want)
		}
	}
	// A time encoding/json refuses is refused too.
	if _, err := encodeExecution(Execution{Started: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("year 10000 encoded")
	}
}

func FuzzEncodeExecution(f *testing.F) {
	f.Add("hello", "applied", "/abs/.peace", int64(3))
	f.Add("<&>", "\u2028\x7f", "\xff\xfe", int64(-1))
	f.Fuzz(func(t *testing.T, key, value, ws string, n int64) {
		e := sampleExecution()
		e.Workspace, e.LastSeq, e.PID = ws, n, int(n)
		e.Items = map[string]string{key: value, value: key}
		e.Params = map[string]string{ws: key}
		want, err := json.MarshalIndent(e, "", "  ")
		if err != nil {
			t.Skip()
		}
		got, err := encodeExecution(e)
		if err != nil || !bytes.Equal(got, append(want, '\n')) {
			t.Fatalf("got %q (%v)\nwant %q", got, err, want)
		}
	})
}

// A record's items, set one by one — statuses past the codes it keeps,
// IDs it did not start with, a status set back — are written as
// json.MarshalIndent writes the same map, in pieces or whole, and read
// back as that map.
func TestRecordItemsAsEncodingJSON(t *testing.T) {
	e := sampleExecution()
	e.Items = map[string]string{}
	for i := range 400 {
		e.Items[fmt.Sprintf("i%03d", i)] = "queued"
	}
	r := mustCreate(t, t.TempDir(), e)
	defer r.Close()
	want := maps.Clone(e.Items)
	set := func(id, status string) {
		r.SetItem(id, status)
		if status != "" || want[id] != "" {
			want[id] = status
		}
	}
	for i := range 400 {
		set(fmt.Sprintf("i%03d", i), fmt.Sprintf("s%d", i)) // 400 statuses: more than the codes
	}
	set("i007", "queued")
	set("i300", "s1")
	set("a_new", "running")
	set("z_new", "")       // no status, no entry, as in a map
	set("i500", "applied") // between the IDs it started with
	set("i500", "s300")
	got := r.Execution()
	if !maps.Equal(got.Items, want) {
		t.Fatalf("items differ: %d, want %d", len(got.Items), len(want))
	}
	wantJSON, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON = append(wantJSON, '\n')
	var streamed bytes.Buffer
	r.mu.Lock()
	err = writeExecution(&streamed, r.e, r.items)
	r.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	whole, err := encodeExecution(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(streamed.Bytes(), wantJSON) || !bytes.Equal(whole, wantJSON) {
		t.Errorf("streamed\n%s\nwhole\n%s\nwant\n%s", streamed.Bytes(), whole, wantJSON)
	}
}

// CreateExecutionOf queues the items it is given unless e.Items gives
// them a status, and writes them as encoding/json writes that map.
func TestCreateExecutionOf(t *testing.T) {
	dir := t.TempDir()
	e := sampleExecution()
	e.Items = map[string]string{"b": "running"}
	r, err := CreateExecutionOf(dir, e, []string{"c", "a", "b", "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := map[string]string{"a": "queued", "b": "running", "c": "queued"}
	if got := r.Execution().Items; !maps.Equal(got, want) {
		t.Errorf("items %v, want %v", got, want)
	}
	if got := mustRead(t, dir, r.ID()).Items; !maps.Equal(got, want) {
		t.Errorf("read back: items %v, want %v", got, want)
	}
	if e.Items["a"] != "" {
		t.Errorf("the caller's map changed: %v", e.Items)
	}
}
