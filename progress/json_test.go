package progress_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/peace-go/peace/progress"
	"github.com/peace-go/peace/progress/progresstest"
)

func TestJSONScenario(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := progress.NewJSONAt(&out, clock.Now)
	e := progress.NewEmitter(v)
	e.SetClock(clock.Now)
	progresstest.Scenario(e, clock, nil)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	progresstest.RequireNoEscapes(t, out.String())
	requireJSONLines(t, out.String())
	golden.RequireEqual(t, out.Bytes())
}

// requireJSONLines checks the line protocol: every line parses, the first
// is the version record, every other has seq, time and type, and seq
// strictly increases.
func requireJSONLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var records []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	var last float64
	for n := 0; sc.Scan(); n++ {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d does not parse: %v: %s", n+1, err, sc.Text())
		}
		records = append(records, rec)
		if n == 0 {
			if rec["type"] != "version" || rec["version"] != float64(progress.Version) {
				t.Fatalf("first line is not the version record: %s", sc.Text())
			}
			continue
		}
		seq, ok := rec["seq"].(float64)
		if !ok || seq <= last {
			t.Fatalf("line %d: seq %v after %v", n+1, rec["seq"], last)
		}
		last = seq
		if _, ok := rec["time"].(string); !ok {
			t.Fatalf("line %d has no time: %s", n+1, sc.Text())
		}
		if _, ok := rec["type"].(string); !ok {
			t.Fatalf("line %d has no type: %s", n+1, sc.Text())
		}
	}
	if len(records) == 0 {
		t.Fatal("no lines")
	}
	return records
}

// TestJSONFatalOnly is what a usage error looks like when JSON was asked
// for: the version record, then the fatal event.
func TestJSONFatalOnly(t *testing.T) {
	clock := progresstest.NewClock()
	var out bytes.Buffer
	v := progress.NewJSONAt(&out, clock.Now)
	v.Emit(progress.Event{Type: progress.Fatal, Message: "unknown flag: --jbos", Code: 2})
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"version","version":1,"time":"2026-01-02T03:04:05Z"}` + "\n" +
		`{"seq":1,"time":"2026-01-02T03:04:05Z","type":"fatal","message":"unknown flag: --jbos","code":2}` + "\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestJSONStreams checks each event is written when it is emitted, not at
// Close.
func TestJSONStreams(t *testing.T) {
	var out bytes.Buffer
	v := progress.NewJSON(&out)
	v.Emit(progress.Event{Type: progress.LockWait, Message: "held by pid 7"})
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("after one event: %d lines written, want 2", n)
	}
	if !strings.Contains(out.String(), `"type":"lock_wait"`) {
		t.Errorf("lock wait not written: %s", out.String())
	}
	v.Close()
}

func TestJSONSeqFromSeveralSources(t *testing.T) {
	var out bytes.Buffer
	v := progress.NewJSON(&out)
	v.Emit(progress.Event{Type: progress.Notice, Seq: 5})
	v.Emit(progress.Event{Type: progress.Notice})         // no seq: gets 6
	v.Emit(progress.Event{Type: progress.Notice, Seq: 3}) // from another source: gets 7
	v.Emit(progress.Event{Type: progress.Notice, Seq: 10})
	v.Close()
	var seqs []float64
	for _, rec := range requireJSONLines(t, out.String())[1:] {
		seqs = append(seqs, rec["seq"].(float64))
	}
	if fmt.Sprint(seqs) != "[5 6 7 10]" {
		t.Errorf("seqs = %v", seqs)
	}
}

func TestJSONConcurrent(t *testing.T) {
	var out progresstest.Buffer
	v := progress.NewJSON(&out)
	e := progress.NewEmitter(v)
	const goroutines, each = 32, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := e.ItemTracker("x", "ensure", fmt.Sprintf("item_%d", g))
			for range each {
				tr.Advance(1)
				tr.Message("\x1b[2K\rstill going")
			}
		}()
	}
	wg.Wait()
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	progresstest.RequireNoEscapes(t, out.String())
	if got := len(requireJSONLines(t, out.String())); got != 1+goroutines*each*2 {
		t.Errorf("got %d lines, want %d", got, 1+goroutines*each*2)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestJSONReportsWriteErrors(t *testing.T) {
	v := progress.NewJSONAt(failingWriter{}, time.Now)
	v.Emit(progress.Event{Type: progress.Notice, Message: "x"})
	if err := v.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the write error", err)
	}
}
