package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// lookAt records the file at path as discover would, with its metadata
// taken at the moment at, and the content claimed by sum: a stored state
// whose content the test controls.
func lookAt(t *testing.T, path string, at int64, content string) State {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := seenOf(path, fi, at)
	if seen.At == 0 {
		t.Skipf("%s is on a filesystem whose times are not trusted (%s)", path, runtime.GOOS)
	}
	sum := sha256.Sum256([]byte(content))
	return State{Path: path, Exists: true, Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
		Mode: FormatMode(fi.Mode()), Seen: seen}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The stored state stands for a file whose metadata it matches and whose
// times were settled when it was recorded: the file is not read. The test
// tells by recording a content the file does not hold.
func TestSeenSkipsTheRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "on disk")
	fi, _ := os.Stat(path)
	ctime := seenOf(path, fi, 1).Ctime
	stored := lookAt(t, path, ctime+int64(time.Second), "recorded")
	got, err := discover(context.Background(), path, &stored)
	if err != nil {
		t.Fatal(err)
	}
	if got != stored {
		t.Errorf("an unchanged, settled file was read: %+v", got)
	}
}

// Racy: the state was recorded in the same clock tick as the file's last
// write (or too close to it to tell), so a rewrite right after, of the
// same size and within the same tick, would leave every time as recorded.
// Such a file is always read again, and the change is seen.
func TestSeenRacyFileIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "new text")
	fi, _ := os.Stat(path)
	ctime := seenOf(path, fi, 1).Ctime
	for _, at := range []int64{ctime, ctime + int64(10*time.Millisecond), ctime + int64(racyWindow)} {
		stored := lookAt(t, path, at, "old text") // same size, same times: a rewrite in the tick
		got, err := discover(context.Background(), path, &stored)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content() == stored.Content() {
			t.Errorf("recorded %v after the write: the rewrite was not seen", time.Duration(at-ctime))
		}
		if sum := sha256.Sum256([]byte("new text")); got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("sha256 %s", got.SHA256)
		}
	}
}

// Times without digits below the millisecond may come from a filesystem
// that keeps whole seconds: a write a second later may leave them as they
// were, so they need the long window.
func TestSeenCoarseTimesNeedTheLongWindow(t *testing.T) {
	s := Seen{Size: 1, Mtime: 5 * int64(time.Second), Ctime: 5 * int64(time.Second), Ino: 1, Dev: 1, Mode: 0o100644}
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {time.Second, false}, {2 * time.Second, false}, {coarseRacyWindow + time.Millisecond, true}} {
		s.At = s.Ctime + int64(tc.after)
		if got := s.settled(); got != tc.want {
			t.Errorf("whole-second times looked at %v later: settled %v, want %v", tc.after, got, tc.want)
		}
	}
	fine := Seen{Mtime: 5*int64(time.Second) + 123456, Ctime: 5*int64(time.Second) + 123456, At: 5*int64(time.Second) + 123456 + int64(racyWindow) + 1}
	if !fine.settled() {
		t.Error("nanosecond times past the short window are not settled")
	}
	future := fine
	future.Mtime = future.At + 1 // a modification time set ahead
	if future.settled() {
		t.Error("a modification time in the future is settled")
	}
	if (Seen{}).settled() || (Seen{}).sameFile(Seen{}) {
		t.Error("the zero Seen vouches for something")
	}
}

// Any change of the metadata makes discover read the file, whatever the
// times say.
func TestSeenChangedMetadataIsRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	write(t, path, "aaaa")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	// Recorded a second after the file's last change: settled.
	settledAt := func() int64 { return seenOf(path, mustStat(t, path), 1).Ctime + int64(time.Second) }
	stored := lookAt(t, path, settledAt(), "aaaa")
	for name, change := range map[string]func(){
		// Same size, the modification time set back as it was: only the
		// ctime tells.
		"rewritten, mtime restored": func() {
			write(t, path, "bbbb")
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		},
		"replaced by rename": func() {
			tmp := filepath.Join(dir, "g")
			write(t, tmp, "cccc")
			if err := os.Chtimes(tmp, old, old); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		},
		"chmod": func() {
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
		},
	} {
		change()
		got, err := discover(context.Background(), path, &stored)
		if err != nil {
			t.Fatal(err)
		}
		if got.Content() == stored.Content() {
			t.Errorf("%s: not seen", name)
		}
		write(t, path, "aaaa")
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		stored = lookAt(t, path, settledAt(), "aaaa")
		if got, err := discover(context.Background(), path, &stored); err != nil || got != stored {
			t.Fatalf("restored file not taken as recorded: %+v, %v", got, err)
		}
	}
}

// The real thing: a file rewritten with content of the same size right
// after it was recorded, over and over, often within one tick of the
// kernel's clock. Every rewrite is seen.
func TestSeenRewriteInTheSameTick(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	ctx := context.Background()
	write(t, path, "v0000")
	var stored *State
	for i := 1; i <= 300; i++ {
		s, err := discover(ctx, path, stored)
		if err != nil {
			t.Fatal(err)
		}
		stored = &s
		want := []byte("v0000")
		copy(want[1:], []byte(string(rune('0'+i/1000%10))+string(rune('0'+i/100%10))+string(rune('0'+i/10%10))+string(rune('0'+i%10))))
		write(t, path, string(want))
		got, err := discover(ctx, path, stored)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(want); got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("rewrite %d to %q not seen", i, want)
		}
		stored = &got
	}
}

// A state recorded before Seen existed still reads, and the file is read.
func TestStateWithoutSeenReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "x")
	var old State
	raw := `{"path":` + string(must(json.Marshal(path))) + `,"exists":true,"size":1,"sha256":"2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881","mode":"0644"}`
	if err := json.Unmarshal([]byte(raw), &old); err != nil {
		t.Fatal(err)
	}
	write(t, path, "y") // changed since: the old state cannot vouch for it
	got, err := discover(context.Background(), path, &old)
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 == old.SHA256 || got.Seen.At == 0 && seenOf(path, mustStat(t, path), 1).At != 0 {
		t.Errorf("read %+v", got)
	}
	data, _ := json.Marshal(State{Path: "/a"})
	if string(data) != `{"path":"/a","exists":false}` {
		t.Errorf("an absent file's state: %s", data)
	}
}

// A file read again because it was too recent, and found as recorded,
// keeps its recorded state as it was: a no-op run in the racy window
// records nothing new.
func TestSeenRacyUnchangedKeepsTheRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "same")
	ctx := context.Background()
	first, err := discover(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Seen.At == 0 {
		t.Skip("times not trusted here")
	}
	if first.Seen.settled() {
		t.Fatal("a file just written is settled")
	}
	second, err := discover(ctx, path, &first)
	if err != nil || second != first {
		t.Errorf("second look %+v, %v; want the first %+v", second, err, first)
	}
	// Once settled, a look records the new moment, and the one after that
	// does not read the file.
	defer func(real func() int64) { now = real }(now)
	now = func() int64 { return time.Now().Add(time.Minute).UnixNano() }
	third, err := discover(ctx, path, &second)
	if err != nil || third.Seen.At == second.Seen.At || third.Content() != first.Content() {
		t.Fatalf("third look %+v, %v", third, err)
	}
	write(t, path, "diff") // same size, likely the same tick as nothing: still seen by ctime
	fourth, err := discover(ctx, path, &third)
	if err != nil || fourth.SHA256 == third.SHA256 {
		t.Errorf("a rewrite after a settled record: %+v, %v", fourth, err)
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A clean looks at a file without reading it: a settled record that
// matches stands as in discover; anything else is the file's presence,
// size and mode, with no content and nothing seen to vouch for it.
func TestPresenceReadsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	write(t, path, "on disk")
	fi, _ := os.Stat(path)
	ctime := seenOf(path, fi, 1).Ctime
	settled := lookAt(t, path, ctime+int64(time.Second), "recorded")
	if got := must(discoverPresence(path, &settled)); got != settled {
		t.Errorf("an unchanged, settled file: %+v, want the record", got)
	}
	racy := lookAt(t, path, ctime, "recorded")
	want := State{Path: path, Exists: true, Size: 7, Mode: FormatMode(fi.Mode())}
	for _, stored := range []*State{nil, &racy} {
		if got := must(discoverPresence(path, stored)); got != want {
			t.Errorf("stored %v: %+v, want %+v", stored != nil, got, want)
		}
	}
	os.Remove(path)
	if got := must(discoverPresence(path, &settled)); got != (State{Path: path}) {
		t.Errorf("a removed file: %+v", got)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := discoverPresence(path, nil); err == nil {
		t.Error("a directory in the file's place is no error")
	}
}
