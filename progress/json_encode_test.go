package progress

import (
	"encoding/json"
	"testing"
	"time"
)

// The stream's own encoder writes what encoding/json writes, byte for
// byte, whatever the event holds.
func TestAppendEventIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 3, 16, 22, 36, 109703089, time.UTC)
	events := []Event{
		{},
		{Seq: 1, Time: at, Type: ExecutionStart, Execution: "20261203-162236-2e2b4b", Command: "ensure", Flow: "w1",
			Profile: "default", Workspace: "/tmp/x/.peace", Items: []string{"a", "b"},
			Deps: map[string][]string{"b": {"a"}, "a": nil, "c": {}}},
		{Seq: 7, Time: at.In(time.FixedZone("x", 3600)), Type: ItemProgress, Item: "dl", Limit: &Limit{Kind: LimitBytes, Total: 1 << 40}, Delta: -3, Done: 12},
		{Seq: 8, Time: at, Type: ItemProgress, Limit: &Limit{Kind: LimitUnknown}},
		{Seq: 9, Time: at, Type: ItemOutput, Item: "sh", Line: "a \"quoted\" <tag> & back\\slash\t\x1b[31mred\x00 é \u2028 \xff"},
		{Seq: 10, Time: at, Type: ExecutionEnd, Outcome: "failed", Error: "boom\n", Code: 2, Stage: "cancel",
			Statuses: map[string]Status{"z": StatusFailed, "a": StatusApplied}, InFlight: []string{"x", "<y>"}},
		{Seq: 11, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Type: Notice, Message: "far"},
		{Seq: 12, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Type: Notice, Items: []string{}, InFlight: []string{}},
		{Seq: 13, Time: at.In(time.FixedZone("far", 26*3600+20*60)), Type: Notice, Message: "a zone RFC 3339 cannot write"},
	}
	for i, ev := range events {
		want, werr := json.Marshal(ev)
		got, gerr := appendEvent(nil, &ev)
		if (werr != nil) != (gerr != nil) || (werr == nil && string(got) != string(want)) {
			t.Errorf("event %d:\n got %s (%v)\nwant %s (%v)", i, got, gerr, want, werr)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("item", "line <&> \"x\"\n", int64(3), uint64(1))
	f.Add("\xff\xfe", "\u2029", int64(-1), uint64(0))
	f.Fuzz(func(t *testing.T, item, line string, n int64, seq uint64) {
		ev := Event{Seq: seq, Time: time.Unix(0, n).UTC(), Type: ItemOutput, Item: item, Line: line, Done: n,
			Deps: map[string][]string{item: {line}}, Statuses: map[string]Status{line: Status(item)}}
		want, werr := json.Marshal(ev)
		got, gerr := appendEvent(nil, &ev)
		if (werr != nil) != (gerr != nil) || (werr == nil && string(got) != string(want)) {
			t.Fatalf("got %s (%v)\nwant %s (%v)", got, gerr, want, werr)
		}
	})
}
