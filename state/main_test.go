package state

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
)

// Some tests re-run this test binary as a helper process (a run to kill, a
// lock holder); helperEnv selects what the helper does.
const (
	helperEnv    = "PEACE_STATE_TEST_HELPER"
	helperDirEnv = "PEACE_STATE_TEST_DIR"
)

func TestMain(m *testing.M) {
	ArmCrashPoints()
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h, os.Getenv(helperDirEnv)))
	}
	os.Exit(m.Run())
}

func runHelper(name, dir string) int {
	s := Open(dir)
	var err error
	switch name {
	case "journal-writer":
		err = helperJournalWriter(s)
	case "fold":
		err = helperFold(s)
	case "lock-holder":
		err = helperLockHolder(s, false)
	case "lock-taker":
		err = helperLockHolder(s, true)
	case "unlock":
		err = helperUnlock(s)
	default:
		err = fmt.Errorf("unknown helper %q", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helperJournalWriter records items from 8 goroutines at once, printing each
// item once its End has returned, until it is killed.
func helperJournalWriter(s *Store) error {
	j, err := s.OpenJournal("killed", "peace ensure")
	if err != nil {
		return err
	}
	var n atomic.Int64
	var out sync.Mutex
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				i := n.Add(1)
				item := fmt.Sprintf("item_%05d", i)
				if err := j.Begin(item); err != nil {
					errs <- err
					return
				}
				if err := j.End(item, "applied", killState(i)); err != nil {
					errs <- err
					return
				}
				out.Lock()
				fmt.Printf("ok %s\n", item)
				out.Unlock()
			}
		}()
	}
	return <-errs
}

func killState(i int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":"%0100d"}`, i, i))
}

// helperFold applies one item and folds, for the crash point tests.
func helperFold(s *Store) error {
	j, err := s.OpenJournal("fold", "peace ensure")
	if err != nil {
		return err
	}
	if err := j.Begin("x"); err != nil {
		return err
	}
	if err := j.End("x", "applied", json.RawMessage(`"applied"`)); err != nil {
		return err
	}
	if err := j.Close("complete"); err != nil {
		return err
	}
	return s.Fold(
		map[string]json.RawMessage{"x": json.RawMessage(`"rediscovered"`), "z": json.RawMessage(`"new"`)},
		map[string]json.RawMessage{"x": json.RawMessage(`"g1"`)},
	)
}

// helperLockHolder takes the lock (after a "go" line on stdin when
// waitForGo), prints "won" or "locked", and holds what it won until stdin
// closes.
func helperLockHolder(s *Store, waitForGo bool) error {
	in := bufio.NewReader(os.Stdin)
	if waitForGo {
		fmt.Println("ready")
		if _, err := in.ReadString('\n'); err != nil {
			return err
		}
	}
	l, _, err := s.Lock(context.Background(), "peace helper", 0, nil)
	var locked *LockedError
	if errors.As(err, &locked) {
		fmt.Println("locked")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Println("won")
	io.Copy(io.Discard, in)
	return l.Release()
}

// helperUnlock runs Unlock and prints "removed" or "locked".
func helperUnlock(s *Store) error {
	_, err := s.Unlock()
	var locked *LockedError
	if errors.As(err, &locked) {
		fmt.Println("locked")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Println("removed")
	return nil
}

// helper starts this test binary as the named helper on dir.
func helper(t *testing.T, name, dir string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperDirEnv+"="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// newStore returns a store in a fresh temp workspace.
func newStore(t testing.TB) *Store {
	t.Helper()
	return Open(Dir(t.TempDir(), "default", "hello"))
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// states builds a state map from item/JSON pairs.
func states(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = raw(kv[i+1])
	}
	return m
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(a, b []byte) bool {
	decode := func(s []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(s))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	va, ea := decode(a)
	vb, eb := decode(b)
	return ea == nil && eb == nil && reflect.DeepEqual(va, vb)
}

// assertStates fails unless got holds exactly want, compared as JSON values.
func assertStates(t *testing.T, what string, got, want map[string]json.RawMessage) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s: %s missing, want %s", what, id, w)
		} else if !sameJSON(g, w) {
			t.Errorf("%s: %s = %s, want %s", what, id, g, w)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s: unexpected %s = %s", what, id, g)
		}
	}
}

// dirFiles returns the names in dir, sorted.
func dirFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// readAll returns the content of every file in dir by name.
func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, name := range dirFiles(t, dir) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m[name] = string(b)
	}
	return m
}

func mustLoad(t *testing.T, s *Store) *Recorded {
	t.Helper()
	rec, err := s.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return rec
}
