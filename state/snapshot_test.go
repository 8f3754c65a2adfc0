package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// roundTripStates are JSON texts that must come back from a snapshot as the
// same JSON value, each one a way inline JSON and YAML could disagree.
var roundTripStates = map[string]string{
	"quotes":         `{"a":"say \"hi\"","b":"it's"}`,
	"unicode":        `"héllo wörld ✓ 日本語 🎉"`,
	"newlines":       `"line1\nline2\r\n\ttab"`,
	"html raw":       `"<b>&amp;</b>"`,
	"html escaped":   `"\u003cb\u003e \u0026"`,
	"numbers":        `[0,-0,1.5,-1.5e-7,1E+21,1e5,123456789012345678901234567890,9007199254740993,1E400]`,
	"null":           `null`,
	"true":           `true`,
	"false":          `false`,
	"number":         `42`,
	"nested":         `{"a":{"b":[1,{"c":null}],"d":{}},"e":[],"f":[[[]]]}`,
	"slash escape":   `"\/path\/x"`,
	"surrogate pair": `"\ud83d\ude00"`,
	"lone surrogate": `["\ud800","\udc00x"]`,
	"del raw":        "\"a\x7fb\"",
	"nel raw":        "\"a\u0085b\"",
	"line sep raw":   "\"a\u2028b\u2029c\"",
	"bom raw":        "\"\ufeffx\"",
	"nonchar raw":    "\"\ufffe\uffff\"",
	"invalid utf8":   "\"a\xffb\xc3\"",
	"empty string":   `""`,
	"yaml syntax":    `["a: b # c","- x","&anchor *alias !tag","{not json}","[1","'q'","%x","@","` + "`" + `"]`,
	"yaml words":     `["yes","no","on","off","~","null","NaN",".inf","0x10","1_000"]`,
	"odd keys":       `{"":1,"a b":2,"null":3,"a:b":4,"#":5,"ü":6}`,
	"pretty":         "{ \"a\" : [ 1 , 2 ],\n  \"b\" : { } }",
	"controls":       `"\u0000\u0001\u001f\b\f"`,
	"escaped seps":   `"\u2028\u0085\u007f"`,
	"deep":           strings.Repeat("[", 200) + strings.Repeat("]", 200),
	"long keys":      `{"` + strings.Repeat("k", 1500) + `":{"` + strings.Repeat("é", 1000) + `":[{"` + strings.Repeat("x", 1030) + `":1}]},"v":"` + strings.Repeat("v", 3000) + `"}`,
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := newStore(t)
	update := map[string]json.RawMessage{}
	for name, text := range roundTripStates {
		update[strings.ReplaceAll(name, " ", "_")] = raw(text)
	}
	if err := s.Fold(update, update); err != nil {
		t.Fatal(err)
	}
	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, update)
	assertStates(t, "goal", rec.Goal, update)

	// What Load returns is a fixed point: written again and read back, it
	// gives the same bytes and the same file.
	if err := s.Fold(rec.Current, rec.Goal); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, s.Path())
	again := mustLoad(t, s)
	for id, state := range rec.Current {
		if !bytes.Equal(again.Current[id], state) {
			t.Errorf("%s: %s, then %s", id, state, again.Current[id])
		}
	}
	if err := s.Fold(again.Current, again.Goal); err != nil {
		t.Fatal(err)
	}
	if after := readAll(t, s.Path()); after[currentFile] != before[currentFile] {
		t.Errorf("rewrite differs:\n%s\n---\n%s", before[currentFile], after[currentFile])
	}
}

// States written by Go's encoding/json come back byte for byte, but for
// the few characters YAML cannot hold raw (DEL, C1 controls, U+FEFF,
// U+FFFE/F), which come back escaped: the same JSON value.
func TestSnapshotRoundTripExactForGoJSON(t *testing.T) {
	values := []any{
		map[string]any{"path": "out/greeting.txt", "mode": 420, "html": "<a href=\"x\">&</a>"},
		"tab\tnewline\n sep\u2028 emoji🎉 ünï",
		[]any{1.5, -2, nil, true, map[string]any{}},
		struct {
			ETag string `json:"etag"`
			Size int64  `json:"size"`
		}{`"abc"`, 1 << 40},
	}
	s := newStore(t)
	update := map[string]json.RawMessage{}
	for i, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		update[string(rune('a'+i))] = b
	}
	if err := s.Fold(update, nil); err != nil {
		t.Fatal(err)
	}
	rec := mustLoad(t, s)
	for id, want := range update {
		if got := rec.Current[id]; !bytes.Equal(got, want) {
			t.Errorf("%s = %s, want exactly %s", id, got, want)
		}
	}
}

func TestSnapshotKeys(t *testing.T) {
	keys := []string{"out_dir", "null", "true", "yes", "n", "a b", "ünï", "-x", "1", "x:y", "#c", "\"q\"", "tab\there", "line\u2028sep", "version", "states", strings.Repeat("long", 500)}
	s := newStore(t)
	update := map[string]json.RawMessage{}
	for i, k := range keys {
		update[k] = raw(strings.Repeat("1", i+1))
	}
	if err := s.Fold(update, nil); err != nil {
		t.Fatal(err)
	}
	assertStates(t, "current", mustLoad(t, s).Current, update)
}

func TestSnapshotFormat(t *testing.T) {
	s := newStore(t)
	err := s.Fold(states("b", `{"z":1,"a":[1,2]}`, "a", `"x"`, "null", `null`), states())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(s.Path(), currentFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "version: 2\nstates:\n  a: \"x\"\n  b: {\"z\":1,\"a\":[1,2]}\n  \"null\": null\n"
	want += fmt.Sprintf("checksum: crc32c-%08x\n", crc32.Checksum([]byte(want), crc32.MakeTable(crc32.Castagnoli)))
	if string(got) != want {
		t.Errorf("states_current.yaml:\n%s\nwant:\n%s", got, want)
	}
	goal, err := os.ReadFile(filepath.Join(s.Path(), goalFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := "version: 2\nstates: {}\nchecksum: crc32c-"; !strings.HasPrefix(string(goal), want) {
		t.Errorf("states_goal.yaml:\n%s", goal)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "states_current.yaml")
	for _, content := range []string{"first\n", "second, longer than the first\n", ""} {
		if err := writeFileAtomic(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content %q, want %q", got, content)
		}
		if names := dirFiles(t, dir); !slices.Equal(names, []string{"states_current.yaml"}) {
			t.Errorf("files after write: %v", names)
		}
	}
}

func TestWriteFileAtomicFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory in the way makes the rename fail.
	path := filepath.Join(dir, "states_current.yaml")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("data")); err == nil {
		t.Fatal("write over a directory succeeded")
	}
	if names := dirFiles(t, dir); !slices.Equal(names, []string{"states_current.yaml"}) {
		t.Errorf("files after failed write: %v", names)
	}
}

func TestSnapshotVersion0Migrated(t *testing.T) {
	s := newStore(t)
	if err := os.MkdirAll(s.Path(), 0o755); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "v0", currentFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Path(), currentFile), fixture, 0o600); err != nil {
		t.Fatal(err)
	}
	want := states(
		"out_dir", `{"path":"out","exists":true,"mode":493}`,
		"greeting", `{"path":"out/greeting.txt","sha256":"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03","size":6}`,
		"build", `"built"`,
		"download", `{"etag":"\"33a64df5\"","modified":"2026-11-01T10:00:00Z","bytes":21000000}`,
		"no", `null`,
	)
	rec := mustLoad(t, s)
	assertStates(t, "migrated", rec.Current, want)
	if len(rec.Notices) != 1 || !strings.Contains(rec.Notices[0], "format version 0") {
		t.Errorf("notices = %q, want one about version 0", rec.Notices)
	}
	// Load writes nothing; Recover rewrites the file as version 1.
	if got, _ := os.ReadFile(filepath.Join(s.Path(), currentFile)); !bytes.Equal(got, fixture) {
		t.Error("Load changed the version 0 file")
	}
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(s.Path(), currentFile))
	if !bytes.HasPrefix(got, fmt.Appendf(nil, "version: %d\n", FormatVersion)) {
		t.Errorf("after Recover:\n%s", got)
	}
	rec = mustLoad(t, s)
	assertStates(t, "after Recover", rec.Current, want)
	if len(rec.Notices) != 0 {
		t.Errorf("notices after migration: %q", rec.Notices)
	}
}

func TestSnapshotNewerVersionRefused(t *testing.T) {
	for _, file := range []string{currentFile, goalFile} {
		t.Run(file, func(t *testing.T) {
			s := newStore(t)
			if err := os.MkdirAll(s.Path(), 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Path(), file)
			content := fmt.Sprintf("version: %d\nstates:\n  a: {\"new\": \"shape\"}\n", FormatVersion+1)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func() error{
				"Load":    func() error { _, err := s.Load(); return err },
				"Recover": func() error { _, err := s.Recover(); return err },
				"Fold":    func() error { return s.Fold(states("a", "1"), nil) },
			} {
				err := call()
				var verr *VersionError
				if !errors.As(err, &verr) {
					t.Fatalf("%s: error %v, want *VersionError", name, err)
				}
				if verr.Path != path || verr.Found != FormatVersion+1 || verr.Supported != FormatVersion {
					t.Errorf("%s: %+v", name, verr)
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("version %d", FormatVersion+1)) {
					t.Errorf("%s: message %q", name, err)
				}
			}
			if got := readAll(t, s.Path()); len(got) != 1 || got[file] != content {
				t.Errorf("state dir changed: %q", got)
			}
		})
	}
}

func TestSnapshotCorruptMovedAside(t *testing.T) {
	bad := map[string]string{
		"yaml syntax":    "version: 1\nstates: {a: [unclosed\n",
		"empty":          "",
		"not a mapping":  "- a\n- b\n",
		"bad version":    "version: one\nstates: {}\n",
		"states a list":  "version: 1\nstates: [a, b]\n",
		"duplicate item": "version: 1\nstates:\n  a: 1\n  a: 2\n",
		"alias bomb":     "version: 1\nstates:\n  a: &a [1,1,1,1,1,1,1,1,1,1]\n  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
	}
	for name, content := range bad {
		for _, file := range []string{currentFile, goalFile} {
			t.Run(name+"/"+file, func(t *testing.T) {
				s := newStore(t)
				if err := os.MkdirAll(s.Path(), 0o755); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(s.Path(), file)
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				checkCorrupt(t, s, path, content)
				// The next run starts clean.
				if rec := mustLoad(t, s); len(rec.Current)+len(rec.Goal) != 0 {
					t.Errorf("after moving aside: %+v", rec)
				}
			})
		}
	}
}

// checkMovedAside checks a CorruptError and that the bad file was kept byte
// for byte under its new name.
func checkMovedAside(t *testing.T, cerr *CorruptError, path, content string) {
	t.Helper()
	if cerr.Path != path || !strings.HasPrefix(cerr.MovedTo, path+".corrupt-") {
		t.Errorf("CorruptError %+v", cerr)
	}
	msg := cerr.Error()
	hint := "peace status"
	if filepath.Base(path) == lockFile {
		hint = path // set aside by Unlock, which the user asked for
	}
	for _, want := range []string{path, cerr.MovedTo, cerr.Reason, hint} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", path, err)
	}
	got, err := os.ReadFile(cerr.MovedTo)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != content {
		t.Errorf("moved-aside content %q, want %q", got, content)
	}
}

func TestMoveAsideNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, currentFile)
	seen := map[string]bool{}
	for i := range 3 {
		content := strings.Repeat("x", i+1)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		moved, err := moveAside(path)
		if err != nil {
			t.Fatal(err)
		}
		if seen[moved] {
			t.Fatalf("%s used twice", moved)
		}
		seen[moved] = true
		if got, _ := os.ReadFile(moved); string(got) != content {
			t.Errorf("%s holds %q, want %q", moved, got, content)
		}
	}
}

func TestFoldRejectsBadStates(t *testing.T) {
	s := newStore(t)
	for name, update := range map[string]map[string]json.RawMessage{
		"invalid JSON": states("a", `{"a":`),
		"two values":   states("a", `1 2`),
		"bad item ID":  {"\xff": raw("1")},
		"too deep":     states("a", strings.Repeat("[", maxDepth+1)+strings.Repeat("]", maxDepth+1)),
	} {
		if err := s.Fold(update, nil); err == nil {
			t.Errorf("%s: Fold succeeded", name)
		}
		if err := s.Fold(nil, update); err == nil {
			t.Errorf("%s: Fold of goal succeeded", name)
		}
	}
	if names := dirFiles(t, s.Path()); len(names) != 0 {
		t.Errorf("files written: %v", names)
	}
}

func TestFoldDeletes(t *testing.T) {
	s := newStore(t)
	if err := s.Fold(states("a", "1", "b", "2"), states("a", "10", "b", "20")); err != nil {
		t.Fatal(err)
	}
	if err := s.Fold(map[string]json.RawMessage{"a": nil, "c": raw("3")}, map[string]json.RawMessage{"b": nil}); err != nil {
		t.Fatal(err)
	}
	rec := mustLoad(t, s)
	assertStates(t, "current", rec.Current, states("b", "2", "c", "3"))
	assertStates(t, "goal", rec.Goal, states("a", "10"))
}

func TestLoadMissingIsEmpty(t *testing.T) {
	s := newStore(t)
	rec := mustLoad(t, s)
	if len(rec.Current) != 0 || len(rec.Goal) != 0 || len(rec.Unknown) != 0 || len(rec.Notices) != 0 {
		t.Errorf("%+v", rec)
	}
	if rec.Current == nil || rec.Goal == nil {
		t.Error("nil maps")
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("Load created the state directory")
	}
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("Recover of nothing created the state directory")
	}
}

func TestIsJSONNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "-12", "1.5", "0.0", "1e5", "1E+5", "-1.5e-7", "123456789012345678901234567890"} {
		if !isJSONNumber(s) || !json.Valid([]byte(s)) {
			t.Errorf("%q: want a number", s)
		}
	}
	for _, s := range []string{"", "-", "01", "+1", ".5", "1.", "1e", "1e+", "0x10", "1_000", "Infinity", "NaN", " 1", "1 "} {
		if isJSONNumber(s) {
			t.Errorf("%q: not a JSON number", s)
		}
	}
}

// The canonical shortcut reads every file encodeSnapshot writes (but those
// with keys YAML needs marked) and agrees with the YAML reading of it.
func TestCanonicalMatchesYAML(t *testing.T) {
	all := map[string]json.RawMessage{}
	for name, text := range roundTripStates {
		norm, err := normalizeState([]byte(text))
		must(t, err)
		all[strings.ReplaceAll(name, " ", "_")] = norm
	}
	cases := map[string]map[string]json.RawMessage{"all": all, "none": {}}
	for id, state := range all {
		cases[id] = map[string]json.RawMessage{id: state, "null": raw("1"), "ü k": raw(`"v"`)}
	}
	for name, st := range cases {
		data := encodeSnapshot(st, []string{"a", "null", "ü"}, map[string][]ProcessGroup{"a": {{Pgid: 7, Start: "b:1"}}, "ü": {{Pgid: 8}, {Pgid: 9, Start: "b:2"}}}, foldMark{journal: "ab12", bytes: 99})
		fast, ok := decodeCanonical(summed(t, data))
		if long := name == "all" || name == "long_keys"; ok == long {
			t.Errorf("%s: shortcut taken: %v", name, ok)
		}
		if !ok {
			continue
		}
		slow, err := decodeSnapshotYAML(summed(t, data))
		must(t, err)
		sameSnapshot(t, fast, slow)
		for id, state := range st {
			if !bytes.Equal(fast.states[id], state) {
				t.Errorf("%s: %s read back as %s", name, state, fast.states[id])
			}
		}
	}
	for _, odd := range []string{
		"version: 2\nstates:\n  a: {\"x\": 1}\n",
		"version: 2\nstates:\n  a: 1 # comment\n",
		"version: 2\nstates:\n  a: 1\n  a: 2\n",
		"version: 2\nstates:\n  a: 1",
		"version: 2\r\nstates: {}\r\n",
		"version: 2\nstates:\n  \"a\": 1\n",
		"version: 2\nstates:\n  a: \"\\/\"\n",
		"version: 2\nstates: {}\nunknown:\n  - b\n  - a\n",
		"version: 2\nstates: {}\nextra: 1\n",
		"version: 3\nstates: {}\n",
		"version: 2\nfolded_journal: {id: x, bytes: 01}\nstates: {}\n",
	} {
		if _, ok := decodeCanonical([]byte(odd)); ok {
			t.Errorf("shortcut taken for %q", odd)
		}
	}
}

// summed checks the checksum that ends a snapshot and returns what it covers.
func summed(t *testing.T, data []byte) []byte {
	t.Helper()
	body, ok, err := checkSum(data)
	if err != nil || !ok {
		t.Fatalf("checksum: %v, %v", ok, err)
	}
	return body
}

// checkCorrupt checks that the bad file at path (holding content) is
// reported corrupt: left as it is by a reader, set aside by a writer, after
// which the store reads as empty of it.
func checkCorrupt(t *testing.T, s *Store, path, content string) {
	t.Helper()
	_, err := s.Load()
	var cerr *CorruptError
	if !errors.As(err, &cerr) {
		t.Fatalf("Load: %v, want *CorruptError", err)
	}
	if cerr.Path != path || cerr.MovedTo != "" || !strings.Contains(err.Error(), "peace status") {
		t.Errorf("Load: %+v: %v", cerr, err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != content {
		t.Fatalf("Load changed %s: %q, %v", path, got, err)
	}
	_, err = s.Recover()
	if !errors.As(err, &cerr) {
		t.Fatalf("Recover: %v, want *CorruptError", err)
	}
	checkMovedAside(t, cerr, path, content)
	if _, err := s.Load(); err != nil {
		t.Errorf("Load after the file was set aside: %v", err)
	}
}

// A snapshot damaged in a way that still parses is corrupt, not read:
// cut at a line, without its version line, with a byte of a value changed.
func TestSnapshotDamageIsCorrupt(t *testing.T) {
	good := func(t *testing.T) (*Store, string, []byte) {
		s := newStore(t)
		must(t, s.Fold(states("a", `{"path":"out/a.txt","size":1234}`, "b", `"built"`, "c", `[1,2,3]`),
			states("a", `{"path":"out/a.txt","size":1234}`, "b", `"built"`)))
		data, err := os.ReadFile(s.currentPath())
		must(t, err)
		return s, s.currentPath(), data
	}
	_, _, sample := good(t)
	lines := bytes.SplitAfter(sample, []byte("\n"))
	damage := map[string]func([]byte) []byte{
		"no version line": func(b []byte) []byte { return bytes.Replace(b, []byte("version: 2\n"), nil, 1) },
		"flipped byte":    func(b []byte) []byte { return bytes.Replace(b, []byte("1234"), []byte("1235"), 1) },
		"flipped key":     func(b []byte) []byte { return bytes.Replace(b, []byte("  b:"), []byte("  d:"), 1) },
		"line removed":    func(b []byte) []byte { return bytes.Replace(b, lines[3], nil, 1) },
		"bad checksum":    func(b []byte) []byte { return append(b[:len(b)-2:len(b)-2], "x\n"...) },
		"line appended":   func(b []byte) []byte { return append(slices.Clip(b), "  z: 1\n"...) },
	}
	for n := 1; n < len(lines)-1; n++ { // the last is empty
		damage[fmt.Sprintf("cut after line %d", n)] = func(b []byte) []byte {
			return bytes.Join(bytes.SplitAfter(b, []byte("\n"))[:n], nil)
		}
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			s, path, data := good(t)
			bad := f(slices.Clone(data))
			if bytes.Equal(bad, data) {
				t.Fatal("no damage done")
			}
			must(t, os.WriteFile(path, bad, 0o600))
			checkCorrupt(t, s, path, string(bad))
		})
	}
}

// A version 1 file (no checksum, no groups) is still read, and rewritten in
// the current version; without its version line it is corrupt, not
// "version 0".
func TestSnapshotVersion1Migrated(t *testing.T) {
	s := newStore(t)
	must(t, os.MkdirAll(s.Path(), 0o755))
	v1 := "version: 1\nfolded_journal: {id: ab12, bytes: 7}\nstates:\n  a: {\"x\":1}\nunknown:\n  - b\n"
	must(t, os.WriteFile(s.currentPath(), []byte(v1), 0o600))
	rec := mustLoad(t, s)
	assertStates(t, "v1", rec.Current, states("a", `{"x":1}`))
	if !slices.Equal(rec.Unknown, []string{"b"}) || len(rec.Notices) != 1 || !strings.Contains(rec.Notices[0], "format version 1") {
		t.Errorf("unknown %q, notices %q", rec.Unknown, rec.Notices)
	}
	_, err := s.Recover()
	must(t, err)
	got, err := os.ReadFile(s.currentPath())
	must(t, err)
	summed(t, got)
	if !bytes.HasPrefix(got, []byte("version: 2\n")) {
		t.Errorf("after Recover:\n%s", got)
	}

	headless := strings.TrimPrefix(v1, "version: 1\n")
	must(t, os.WriteFile(s.currentPath(), []byte(headless), 0o600))
	checkCorrupt(t, s, s.currentPath(), headless)
}
