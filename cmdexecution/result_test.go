package cmdexecution

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/progress"
)

// TestWriteOutcomeIsTheDocument checks that the streamed outcome is the
// outcome document's JSON byte for byte: IDs in order, each once (a
// removed item said last wins), states, errors, targets, output, and
// strings that JSON escapes.
func TestWriteOutcomeIsTheDocument(t *testing.T) {
	r := &Result{Command: "ensure", Execution: "20261203-101010-abcdef", Outcome: "failed <&>",
		Items: []ItemResult{
			{ID: "zeta", Status: progress.StatusApplied, Known: true, State: map[string]any{"path": "/tmp/a<b>", "n": 2}},
			{ID: "alpha", Status: progress.StatusFailed, Error: "exit status 1\n\"quoted\"", detail: &ItemDetail{Output: []string{"a", "b"}, Log: "logs/alpha.log"}},
			{ID: "mid", Status: progress.StatusWouldApply, Known: true, State: 1, detail: &ItemDetail{Target: 2}, MayChange: true, AfterApply: true},
			{ID: "gone", Status: progress.StatusNotStarted, Known: false, State: "ignored: not known"},
		},
		Removed: []ItemResult{{ID: "old", Status: progress.StatusRemoved, Removed: true}, {ID: "gone", Status: progress.StatusRemoved, Removed: true}},
	}
	want, err := json.Marshal(r.Doc())
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := r.WriteOutcome(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("streamed:\n%s\nwant:\n%s", got.Bytes(), want)
	}
	m, err := r.MarshalOutcome()
	if err != nil || !bytes.Equal(m, want) {
		t.Errorf("MarshalOutcome: %s, %v", m, err)
	}
	empty := &Result{Command: "ensure", Outcome: "complete"}
	want, _ = json.Marshal(empty.Doc())
	if m, _ := empty.MarshalOutcome(); !bytes.Equal(m, want) {
		t.Errorf("empty: %s, want %s", m, want)
	}
}

// TestItemResultJSON checks that an item result serialises as one object,
// its detail's fields in their places among its own, with or without a
// detail, and reads back as it was.
func TestItemResultJSON(t *testing.T) {
	full := ItemResult{ID: "a", Type: "file", Status: progress.StatusFailed, Known: true, State: 1.0, Summary: "1",
		Error: "boom", Unknown: true, InProgress: true, AfterApply: true, MayChange: true, Removed: true}
	d := full.Detail()
	d.Target, d.TargetSummary, d.Diff = 2.0, "2", &items.Diff{Text: "1 → 2"}
	d.Output, d.Log, d.RemovedNote = []string{"x"}, "a.log", "gone"
	for _, c := range []struct {
		it   ItemResult
		want string
	}{
		{full, `{"id":"a","type":"file","status":"failed","known":true,"state":1,"summary":"1","target":2,` +
			`"target_summary":"2","diff":{"equal":false,"text":"1 → 2"},"error":"boom","unknown":true,"in_progress":true,` +
			`"known_after_apply":true,"may_change":true,"output":["x"],"log":"a.log","removed":true,"removed_note":"gone"}`},
		{ItemResult{ID: "b", Type: "dir", Status: progress.StatusUnchanged}, `{"id":"b","type":"dir","status":"unchanged","known":false,"state":null}`},
	} {
		got, err := json.Marshal(c.it)
		if err != nil || string(got) != c.want {
			t.Errorf("got %s, %v\nwant %s", got, err, c.want)
		}
		var back ItemResult
		if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, c.it) {
			t.Errorf("read back %+v (%+v), %v; want %+v", back, back.detail, err, c.it)
		}
	}
	if (&ItemResult{}).Target() != nil || (&ItemResult{}).Diff() != nil {
		t.Error("an item without detail has a target or diff")
	}
}
