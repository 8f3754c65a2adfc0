package cmdexecution

import (
	"bytes"
	"encoding/json"
	"testing"

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
			{ID: "alpha", Status: progress.StatusFailed, Error: "exit status 1\n\"quoted\"", Output: []string{"a", "b"}, Log: "logs/alpha.log"},
			{ID: "mid", Status: progress.StatusWouldApply, Known: true, State: 1, Target: 2, MayChange: true, AfterApply: true},
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
