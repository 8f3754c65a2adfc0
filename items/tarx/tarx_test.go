package tarx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/itemtest"
	"github.com/peace-go/peace/progress"
)

// ent is an archive entry a test writes.
type ent struct {
	name string
	typ  byte // tar.TypeReg when 0
	body string
	link string
	mode int64 // 0644 (files) or 0755 (dirs) when 0
}

var mtime = time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

func file(name, body string) ent   { return ent{name: name, body: body} }
func dir(name string) ent          { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) ent { return ent{name: name, typ: tar.TypeLink, link: to} }
func withMode(e ent, m int64) ent  { e.mode = m; return e }
func archiveBytes(t testing.TB, gz bool, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	var zw *gzip.Writer
	tw := tar.NewWriter(&buf)
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	}
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case h.Typeflag == 0:
			h.Typeflag = tar.TypeReg
			fallthrough
		case h.Typeflag == tar.TypeReg:
			h.Size = int64(len(e.body))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		case h.Typeflag == tar.TypeDir && h.Mode == 0:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// fixture is one tar_x item with its archive and dest in a temp dir, and the
// recorded state kept between runs as the state store keeps it.
type fixture struct {
	t      testing.TB
	dir    string
	x      *Extract
	item   items.Item
	stored items.State
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	x := NewExtract(Params{Archive: "dl/payload.bin", Dest: "out"}, items.Env{Dir: dir})
	return &fixture{t: t, dir: dir, x: x, item: x.Item("unpack")}
}

// writeArchive replaces the archive (a new file, as a download makes).
func (f *fixture) writeArchive(gz bool, ents ...ent) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(f.x.Archive), 0o755); err != nil {
		f.t.Fatal(err)
	}
	tmp := f.x.Archive + ".new"
	if err := os.WriteFile(tmp, archiveBytes(f.t, gz, ents...), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, f.x.Archive); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run(ctx context.Context, op items.Op, tr progress.Tracker) (applied bool, err error) {
	applied, f.stored, err = itemtest.Apply(ctx, f.item, op, tr, f.stored)
	return applied, err
}

func (f *fixture) must(op items.Op, wantApplied bool) {
	f.t.Helper()
	applied, err := f.run(context.Background(), op, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if applied != wantApplied {
		f.t.Fatalf("%s: applied = %v, want %v", op, applied, wantApplied)
	}
}

// tree lists everything under root as "path" (dirs with a trailing slash,
// symlinks with their target), sorted.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case d.IsDir():
			out = append(out, rel+"/")
		case d.Type()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			out = append(out, rel+" -> "+to)
		default:
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func wantTree(t *testing.T, root string, want ...string) {
	t.Helper()
	got := tree(t, root)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tree under %s:\n%s\nwant:\n%s", root, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExtractThenNoop(t *testing.T) {
	for _, gz := range []bool{true, false} {
		name := map[bool]string{true: "tar.gz", false: "tar"}[gz]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.writeArchive(gz,
				dir("data/"),
				file("data/a.txt", "alpha"),
				withMode(file("data/run.sh", "#!/bin/sh\n"), 0o755),
				file("./top.txt", "top"),
			)
			f.must(items.OpEnsure, true)
			wantTree(t, f.x.Dest, "data/", "data/a.txt", "data/run.sh", "top.txt")
			if got := readFile(t, filepath.Join(f.x.Dest, "data/a.txt")); got != "alpha" {
				t.Fatalf("a.txt = %q", got)
			}
			fi, err := os.Stat(filepath.Join(f.x.Dest, "data/run.sh"))
			if err != nil || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(mtime) {
				t.Fatalf("run.sh: %v %v %v", fi.Mode(), fi.ModTime(), err)
			}
			f.must(items.OpEnsure, false)
		})
	}
}

func TestNoopDoesNotReadTheArchive(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("a.txt", "alpha"))
	f.must(items.OpEnsure, true)
	// Same size and time, unreadable content: a no-op still works, because
	// an unchanged archive is not read again.
	st, err := os.Stat(f.x.Archive)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0}, int(st.Size()))
	if err := os.WriteFile(f.x.Archive, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(f.x.Archive, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpEnsure, false)
}

func TestOnlyWhatDiffersIsExtracted(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("a.txt", "alpha"), file("b.txt", strings.Repeat("b", 1000)))
	f.must(items.OpEnsure, true)

	if err := os.WriteFile(filepath.Join(f.x.Dest, "a.txt"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &tracker{}
	if _, err := f.run(context.Background(), items.OpEnsure, tr); err != nil {
		t.Fatal(err)
	}
	if tr.advanced != int64(len("alpha")) {
		t.Fatalf("extracted %d bytes, want only a.txt's %d", tr.advanced, len("alpha"))
	}
	if got := readFile(t, filepath.Join(f.x.Dest, "a.txt")); got != "alpha" {
		t.Fatalf("a.txt = %q", got)
	}
}

func TestChangedArchiveIsExtracted(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("a.txt", "one"))
	f.must(items.OpEnsure, true)
	f.writeArchive(true, file("a.txt", "two, longer"), file("new.txt", "new"))
	f.must(items.OpEnsure, true)
	if got := readFile(t, filepath.Join(f.x.Dest, "a.txt")); got != "two, longer" {
		t.Fatalf("a.txt = %q", got)
	}
	wantTree(t, f.x.Dest, "a.txt", "new.txt")
	f.must(items.OpEnsure, false)
}

func TestFormatByContentNotName(t *testing.T) {
	for _, gz := range []bool{true, false} {
		f := newFixture(t)
		f.x.Archive = filepath.Join(f.dir, map[bool]string{true: "x.tar", false: "x.tar.gz"}[gz])
		f.writeArchive(gz, file("a.txt", "alpha"))
		f.must(items.OpEnsure, true)
		wantTree(t, f.x.Dest, "a.txt")
	}
}

func TestOtherFormatsAreNamed(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Dir(f.x.Archive), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.x.Archive, []byte("BZh91AY&SY..."), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := f.run(context.Background(), items.OpEnsure, nil)
	if err == nil || !strings.Contains(err.Error(), "bzip2-compressed") {
		t.Fatalf("error = %v", err)
	}
	if err := os.WriteFile(f.x.Archive, []byte(strings.Repeat("not a tar at all ", 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(context.Background(), items.OpEnsure, nil); err == nil {
		t.Fatal("text accepted as an archive")
	}
}

func TestLinksInsideDest(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true,
		dir("lib/"),
		file("lib/libx.so.1", "elf"),
		symlink("lib/libx.so", "libx.so.1"),
		symlink("current", "lib"),
		symlink("up", "lib/.."),
		hardlink("lib/libx.copy", "lib/libx.so.1"),
	)
	f.must(items.OpEnsure, true)
	wantTree(t, f.x.Dest, "current -> lib", "lib/", "lib/libx.copy", "lib/libx.so -> libx.so.1", "lib/libx.so.1", "up -> lib/..")
	a, _ := os.Stat(filepath.Join(f.x.Dest, "lib/libx.so.1"))
	b, _ := os.Stat(filepath.Join(f.x.Dest, "lib/libx.copy"))
	if !os.SameFile(a, b) {
		t.Fatal("hard link is a copy")
	}
	f.must(items.OpEnsure, false)

	// Rewriting a file rewrites its hard links, in the same run.
	if err := os.WriteFile(filepath.Join(f.x.Dest, "lib/libx.so.1"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpEnsure, true)
	f.must(items.OpEnsure, false)
}

func TestHostileArchivesAreRefused(t *testing.T) {
	cases := []struct {
		name  string
		ents  []ent
		entry string // the entry the error names
	}{
		{"dotdot", []ent{file("good.txt", "ok"), file("../evil.txt", "x")}, "../evil.txt"},
		{"dotdot inside", []ent{file("a/../../evil.txt", "x")}, "a/../../evil.txt"},
		{"absolute", []ent{file("/tmp/evil.txt", "x")}, "/tmp/evil.txt"},
		{"symlink out", []ent{symlink("link", "../outside")}, "link"},
		{"symlink absolute", []ent{symlink("link", "/etc")}, "link"},
		{"symlink through symlink", []ent{symlink("a", "."), symlink("b", "a/../..")}, "b"},
		{"symlink escape by resolution", []ent{dir("d/"), symlink("d/self", "."), symlink("esc", "d/self/../..")}, "esc"},
		{"write through a symlink", []ent{symlink("up", ".."), file("up/evil.txt", "x")}, "up"},
		{"write through its own symlink", []ent{dir("sub/"), symlink("sub/up", ".."), file("sub/up/top.txt", "x")}, "sub/up/top.txt"},
		{"write through an inside symlink", []ent{dir("lib/"), symlink("current", "lib"), file("current/x.txt", "x")}, "current/x.txt"},
		{"directory through a symlink", []ent{dir("lib/"), symlink("current", "lib"), dir("current/d/")}, "current/d"},
		{"hard link through a symlink", []ent{file("lib/a", "a"), symlink("current", "lib"), hardlink("h", "current/a")}, "h"},
		{"symlink loop", []ent{symlink("a", "b"), symlink("b", "a")}, "a"},
		{"hardlink out", []ent{hardlink("h", "../outside")}, "h"},
		{"hardlink absolute", []ent{hardlink("h", "/etc/passwd")}, "h"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.writeArchive(true, c.ents...)
			_, err := f.run(context.Background(), items.OpEnsure, nil)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("error = %v, want a refusal", err)
			}
			if !strings.Contains(err.Error(), `entry "`+c.entry+`"`) {
				t.Fatalf("error %q does not name entry %q", err, c.entry)
			}
			// Nothing was written: not in dest, not beside it.
			wantTree(t, f.dir, "dl/", "dl/payload.bin")
		})
	}
}

func TestApplyValidatesBeforeWriting(t *testing.T) {
	// A target handed to Apply directly is checked as a whole first.
	f := newFixture(t)
	f.writeArchive(true, file("good.txt", "ok"), symlink("bad", "../../x"))
	src, err := f.x.source()
	if err != nil {
		t.Fatal(err)
	}
	target := State{Source: &src, Entries: []Entry{
		{Path: "bad", Type: TypeSymlink, Link: "../../x"},
		{Path: "good.txt", Type: TypeFile, Size: 2, Mode: "0644", ModTime: mtime},
	}}
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	_, err = f.item.Apply(context.Background(), fc, State{}, target)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `entry "bad"`) {
		t.Fatalf("error = %v", err)
	}
	wantTree(t, f.dir, "dl/", "dl/payload.bin")
}

func TestSymlinkAlreadyInDestCannotLeadOut(t *testing.T) {
	f := newFixture(t)
	outside := filepath.Join(f.dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.x.Dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.x.Dest, "sub")); err != nil {
		t.Fatal(err)
	}
	f.writeArchive(true, file("sub/evil.txt", "x"))
	_, err := f.run(context.Background(), items.OpEnsure, nil)
	if err == nil || !strings.Contains(err.Error(), `entry "sub/evil.txt"`) {
		t.Fatalf("error = %v", err)
	}
	wantTree(t, outside)
}

func TestGoalWithoutArchive(t *testing.T) {
	f := newFixture(t)
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	_, err := f.item.Goal(context.Background(), fc)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "does not exist yet") {
		t.Fatalf("error = %v", err)
	}
	// Current needs no archive: nothing is known to be extracted.
	cur, err := f.item.Current(context.Background(), fc)
	if err != nil || len(cur.(State).Entries) != 0 {
		t.Fatalf("current = %+v, %v", cur, err)
	}
}

func TestCleanRemovesOnlyWhatTheArchivePutThere(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true,
		dir("data/"), file("data/a.txt", "a"),
		dir("shared/"), file("shared/b.txt", "b"),
		file("deep/er/c.txt", "c"),
		symlink("link", "data/a.txt"),
	)
	f.must(items.OpEnsure, true)
	mine := filepath.Join(f.x.Dest, "shared", "mine.txt")
	if err := os.WriteFile(mine, []byte("not the archive's"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.x.Dest, "other.txt"), []byte("neither"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &tracker{}
	if applied, err := f.run(context.Background(), items.OpClean, tr); err != nil || !applied {
		t.Fatalf("clean: %v %v", applied, err)
	}
	wantTree(t, f.x.Dest, "other.txt", "shared/", "shared/mine.txt")
	f.must(items.OpClean, false)
	// The record is what clean uses when the archive is gone.
	f.must(items.OpEnsure, true)
	if err := os.Remove(f.x.Archive); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpClean, true)
	wantTree(t, f.x.Dest, "other.txt", "shared/", "shared/mine.txt")
}

func TestCancelLeavesNoPartialFile(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(false, file("big.bin", strings.Repeat("x", 4<<20)), file("after.txt", "later"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &tracker{onAdvance: func(int64) { cancel() }}
	_, err := f.run(ctx, items.OpEnsure, tr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v", err)
	}
	wantTree(t, f.x.Dest)
	f.must(items.OpEnsure, true)
	wantTree(t, f.x.Dest, "after.txt", "big.bin")
}

func TestProgressInBytes(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("a", strings.Repeat("a", 1000)), file("b", strings.Repeat("b", 2345)), dir("d/"))
	fc := items.FnCtx{Op: items.OpEnsure, Progress: progress.NoTracker}
	cur, _ := f.item.Current(context.Background(), fc)
	goal, err := f.item.Goal(context.Background(), fc)
	if err != nil {
		t.Fatal(err)
	}
	chk, err := f.item.ApplyCheck(context.Background(), fc, cur, goal)
	if err != nil || chk != items.Required(progress.Bytes(3345)) {
		t.Fatalf("apply check = %+v, %v", chk, err)
	}
	d, _ := f.item.Diff(cur, goal)
	if d.Text != "3 to add (a, …)" {
		t.Fatalf("diff = %q", d.Text)
	}
	tr := &tracker{}
	if _, err := f.item.Apply(context.Background(), items.FnCtx{Op: items.OpEnsure, Progress: tr}, cur, goal); err != nil {
		t.Fatal(err)
	}
	if tr.advanced != 3345 {
		t.Fatalf("advanced %d", tr.advanced)
	}
}

type tracker struct {
	mu        sync.Mutex
	advanced  int64
	onAdvance func(int64)
}

func (t *tracker) SetLimit(progress.Limit) {}
func (t *tracker) Message(string)          {}
func (t *tracker) Output(string)           {}
func (t *tracker) Advance(n int64) {
	t.mu.Lock()
	t.advanced += n
	total, f := t.advanced, t.onAdvance
	t.mu.Unlock()
	if f != nil {
		f(total)
	}
}

func TestCancelAmongSmallFiles(t *testing.T) {
	f := newFixture(t)
	var ents []ent
	for i := range 300 {
		ents = append(ents, file(fmt.Sprintf("d/f%03d", i), strings.Repeat("s", 5000)))
	}
	f.writeArchive(true, ents...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &tracker{onAdvance: func(total int64) {
		if total >= 50*5000 {
			cancel()
		}
	}}
	_, err := f.run(ctx, items.OpEnsure, tr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v", err)
	}
	for _, p := range tree(t, f.x.Dest) {
		if strings.Contains(p, ".peace-tmp-") {
			t.Fatalf("temporary file left: %s", p)
		}
	}
	f.must(items.OpEnsure, true)
	f.must(items.OpEnsure, false)
}

func TestSomethingInTheWay(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("a.txt", "alpha"), file("b.txt", "beta"))
	if err := os.MkdirAll(filepath.Join(f.x.Dest, "b.txt", "mine"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := f.run(context.Background(), items.OpEnsure, nil)
	if err == nil || !strings.Contains(err.Error(), `entry "b.txt"`) {
		t.Fatalf("error = %v", err)
	}
	// a.txt may or may not be written before the failure stops the rest.
	for _, p := range tree(t, f.x.Dest) {
		if p != "a.txt" && p != "b.txt/" && p != "b.txt/mine/" {
			t.Errorf("unexpected %s", p)
		}
	}
	if _, err := os.Stat(filepath.Join(f.x.Dest, "b.txt", "mine")); err != nil {
		t.Fatal(err)
	}
}

// An archive that writes through a symlink it makes itself ("sub/up -> ..",
// then "sub/up/top.txt") is refused before anything is written, so clean
// has nothing to leave behind and the record matches the world.
func TestWriteThroughOwnSymlinkThenClean(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, dir("sub/"), symlink("sub/up", ".."), file("sub/up/top.txt", "x"), file("ok.txt", "ok"))
	_, err := f.run(context.Background(), items.OpEnsure, nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `entry "sub/up/top.txt"`) {
		t.Fatalf("error = %v", err)
	}
	wantTree(t, f.dir, "dl/", "dl/payload.bin")
	if applied, err := f.run(context.Background(), items.OpClean, nil); err != nil || applied {
		t.Fatalf("clean: applied %v, %v", applied, err)
	}
	wantTree(t, f.dir, "dl/", "dl/payload.bin")
	fc := items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker, Stored: f.stored}
	cur, err := f.item.Current(context.Background(), fc)
	if err != nil || len(cur.(State).Entries) != 0 {
		t.Fatalf("current = %+v, %v", cur, err)
	}
}

// A symlink already in dest, inside it, is not followed either: the entry
// below it is refused and nothing lands where the link points.
func TestSymlinkInDestIsNotFollowed(t *testing.T) {
	f := newFixture(t)
	other := filepath.Join(f.x.Dest, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("other", filepath.Join(f.x.Dest, "sub")); err != nil {
		t.Fatal(err)
	}
	f.writeArchive(true, file("a.txt", "a"), file("sub/x.txt", "x"), dir("sub/d/"))
	_, err := f.run(context.Background(), items.OpEnsure, nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `"sub" is a symlink`) {
		t.Fatalf("error = %v", err)
	}
	// a.txt may have been written before the refusal; nothing went below.
	for _, p := range tree(t, f.x.Dest) {
		if p != "a.txt" && p != "other/" && p != "sub -> other" {
			t.Errorf("unexpected %s", p)
		}
	}
	// What is behind the link is not the archive's: current does not see
	// it and clean does not touch it.
	if err := os.WriteFile(filepath.Join(other, "x.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	fc := items.FnCtx{Op: items.OpClean, Progress: progress.NoTracker}
	cur, err := f.item.Current(context.Background(), fc)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cur.(State).Entries {
		if strings.HasPrefix(e.Path, "sub/") {
			t.Fatalf("current lists %s, behind a symlink", e.Path)
		}
	}
	f.stored = State{Entries: []Entry{{Path: "a.txt", Type: TypeFile}, {Path: "sub/x.txt", Type: TypeFile}, {Path: "sub/d", Type: TypeDir}}}
	if _, err := f.run(context.Background(), items.OpClean, nil); err != nil {
		t.Fatal(err)
	}
	wantTree(t, f.x.Dest, "other/", "other/x.txt", "sub -> other")
}

// Temporary files of a run killed while replacing files do not keep clean
// from removing the archive's directories, and are swept by the next
// ensure.
func TestStaleTempsAreSwept(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, dir("d/"), file("d/a.txt", "alpha"), file("top.txt", "top"))
	f.must(items.OpEnsure, true)
	stale := []string{
		filepath.Join(f.x.Dest, "d", ".a.txt.peace-tmp-3kq9"),
		filepath.Join(f.x.Dest, ".top.txt.peace-tmp-zz"),
	}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mine := filepath.Join(f.x.Dest, ".notes.peace-tmp-1") // not a temp of the archive's
	if err := os.WriteFile(mine, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// An ensure that rewrites d/a.txt sweeps beside it.
	if err := os.WriteFile(filepath.Join(f.x.Dest, "d", "a.txt"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpEnsure, true)
	if _, err := os.Lstat(stale[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ensure left %s", stale[0])
	}
	// Clean removes the directory that holds only a stale temp.
	if err := os.WriteFile(stale[0], []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpClean, true)
	wantTree(t, f.x.Dest, ".notes.peace-tmp-1")
	// A directory left with nothing but a stale temp still needs a clean.
	f.must(items.OpEnsure, true)
	f.must(items.OpClean, true)
	if err := os.MkdirAll(filepath.Join(f.x.Dest, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale[0], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.stored = State{Entries: []Entry{{Path: "d", Type: TypeDir, Mode: "0755"}, {Path: "d/a.txt", Type: TypeFile}}}
	if err := os.Remove(f.x.Archive); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpClean, true)
	wantTree(t, f.x.Dest, ".notes.peace-tmp-1")
}

// When a killed run's temporary file is all that is left of the archive's
// files, clean still removes it: it would keep dest from being removed.
func TestCleanWithOnlyAStaleTempLeft(t *testing.T) {
	f := newFixture(t)
	f.writeArchive(true, file("top.txt", "top"), file("d/a.txt", "a"))
	f.must(items.OpEnsure, true)
	for _, p := range []string{"top.txt", "d/a.txt", "d"} {
		if err := os.Remove(filepath.Join(f.x.Dest, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.x.Dest, ".top.txt.peace-tmp-9"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.must(items.OpClean, true)
	wantTree(t, f.x.Dest)
	f.must(items.OpClean, false)
}
