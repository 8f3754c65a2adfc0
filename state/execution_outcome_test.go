package state

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// TestFinishWithStreamsTheOutcome checks that a streamed outcome lands
// whole, newline-terminated, and that a writer that fails leaves neither
// outcome.json nor a temporary file, and the execution unfinished.
func TestFinishWithStreamsTheOutcome(t *testing.T) {
	dir := t.TempDir()
	r := mustCreate(t, dir, sampleExecution())
	mustOK(t, r.SetState(ExecRunning))
	broken := errors.New("encoder broke")
	err := r.FinishWith(ExecComplete, 0, func(w io.Writer) error {
		_, _ = io.WriteString(w, `{"half":`)
		return broken
	})
	if !errors.Is(err, broken) {
		t.Fatalf("FinishWith with a failing writer: %v", err)
	}
	if got := names(t, r.Path()); strings.Contains(strings.Join(got, " "), "outcome") {
		t.Errorf("after a failed outcome the record holds %v", got)
	}
	if e := mustRead(t, dir, r.ID()); e.State != ExecRunning {
		t.Errorf("state after a failed finish: %s", e.State)
	}
	mustOK(t, r.FinishWith(ExecComplete, 0, func(w io.Writer) error {
		for _, part := range []string{`{"outcome":`, `"complete",`, `"items":{}}`} {
			if _, err := io.WriteString(w, part); err != nil {
				return err
			}
		}
		return nil
	}))
	b, err := ReadOutcome(dir, r.ID())
	mustOK(t, err)
	if string(b) != `{"outcome":"complete","items":{}}`+"\n" {
		t.Errorf("outcome.json %q", b)
	}
	if e := mustRead(t, dir, r.ID()); e.State != ExecComplete {
		t.Errorf("state %s", e.State)
	}
	if _, err := os.Stat(r.Path()); err != nil {
		t.Fatal(err)
	}
}
