package cmdblock

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/peace-go/peace/internal/durable"
)

// syncRecorder is a memRecorder that takes the directory fsyncs an apply
// left (SyncRecorder).
type syncRecorder struct {
	memRecorder
	dirs map[string][]string
}

func (r *syncRecorder) EndSynced(item, outcome string, state json.RawMessage, dirs []string) error {
	r.mu.Lock()
	r.dirs[item] = dirs
	r.mu.Unlock()
	return r.End(item, outcome, state)
}

// The directory fsyncs an apply asks for through its context reach the
// item's end record, which makes them durable first; a failed apply's end
// record, which records no state, takes none.
func TestApplyLeavesDirSyncsToTheEndRecord(t *testing.T) {
	w := newWorld()
	f, its := flowOf(t, w, "a:", "b:")
	dir := t.TempDir()
	for id, it := range its {
		it.apply = func(ctx context.Context) error {
			if err := durable.SyncDirContext(ctx, dir); err != nil {
				return err
			}
			if id == "b" {
				return fmt.Errorf("b fails")
			}
			return durable.SyncDirContext(ctx, dir) // asked twice, synced once
		}
	}
	env, ev, _ := newEnv(f, 2, FinishCurrent)
	env.KeepGoing = true
	rec := &syncRecorder{memRecorder: memRecorder{events: ev}, dirs: map[string][]string{}}
	env.Recorder = rec
	ensure(env)
	if got := rec.dirs["a"]; !slices.Equal(got, []string{dir}) {
		t.Errorf("a's end record took directory fsyncs %v, want [%s]", got, dir)
	}
	if got, ok := rec.dirs["b"]; ok {
		t.Errorf("the failed b's end record took directory fsyncs %v", got)
	}
	if !slices.Contains(rec.records, "end:b:failed:") {
		t.Errorf("records %v", rec.records)
	}
}
