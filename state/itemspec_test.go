package state

import (
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func specParams(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func TestItemSpecsRoundTrip(t *testing.T) {
	s := Open(t.TempDir())
	got, err := s.ItemSpecs(true)
	if err != nil || len(got) != 0 {
		t.Fatalf("no file: got %v, %v; want no specs", got, err)
	}
	in := map[string]ItemSpec{
		"greeting": {Type: "file", Params: specParams(t, "{path: out/greeting.txt, content: \"hello\\n\"}"), DependsOn: []string{"out_dir"}},
		"out_dir":  {Type: "dir", Params: specParams(t, "{path: out}")},
	}
	if err := s.WriteItemSpecs(in); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(s.Path(), itemSpecsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), "version: 1\n") || !strings.Contains(string(data), "\nchecksum: crc32c-") {
		t.Errorf("items.yaml lacks its version or checksum line:\n%s", data)
	}
	out, err := s.ItemSpecs(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out["greeting"].Type != "file" || out["out_dir"].Type != "dir" {
		t.Fatalf("read back %+v", out)
	}
	var p struct{ Path, Content string }
	if err := out["greeting"].Params.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Path != "out/greeting.txt" || p.Content != "hello\n" {
		t.Errorf("params read back as %+v", p)
	}
	if d := out["greeting"].DependsOn; len(d) != 1 || d[0] != "out_dir" {
		t.Errorf("depends_on read back as %v", d)
	}
	// Writing the same specs again leaves the file as it is.
	before, _ := os.Stat(filepath.Join(s.Path(), itemSpecsFile))
	if err := s.WriteItemSpecs(out); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(s.Path(), itemSpecsFile))
	after, _ := os.Stat(filepath.Join(s.Path(), itemSpecsFile))
	if string(again) != string(data) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("an unchanged write rewrote the file:\n%s", again)
	}
}

func TestItemSpecsCorruptIsKept(t *testing.T) {
	good, err := encodeItemSpecs(map[string]ItemSpec{"a": {Type: "dir", Params: specParams(t, "{path: a}")}})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"byte changed":     strings.Replace(string(good), "path: a", "path: b", 1),
		"cut short":        string(good[:len(good)-12]),
		"no checksum":      "version: 1\nitems: {}\n",
		"no version":       string(mustSum(t, "items: {}\n")),
		"version zero":     string(mustSum(t, "version: 0\nitems: {}\n")),
		"not yaml":         string(mustSum(t, "version: 1\nitems: [\n")),
		"item has no type": string(mustSum(t, "version: 1\nitems: {a: {params: {}}}\n")),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := Open(dir)
			path := filepath.Join(dir, itemSpecsFile)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			// A reader reports it and leaves it.
			_, err := s.ItemSpecs(false)
			var cerr *CorruptError
			if !errors.As(err, &cerr) || cerr.MovedTo != "" {
				t.Fatalf("reader: got %v, want a corrupt error leaving the file", err)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Fatal("a reader changed the corrupt file")
			}
			// A writer moves it aside, never deletes it, and starts empty.
			specs, err := s.ItemSpecs(true)
			if !errors.As(err, &cerr) || cerr.MovedTo == "" || len(specs) != 0 {
				t.Fatalf("writer: got %v, %v; want a corrupt error with the file moved aside", specs, err)
			}
			if b, err := os.ReadFile(cerr.MovedTo); err != nil || string(b) != content {
				t.Fatalf("the corrupt file was not kept as %s: %v", cerr.MovedTo, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the corrupt file is still in place: %v", err)
			}
		})
	}
}

func TestItemSpecsNewerVersionRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, itemSpecsFile)
	content := mustSum(t, "version: 99\nitems: {}\n")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir).ItemSpecs(true)
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Found != 99 || verr.Supported != ItemSpecsVersion {
		t.Fatalf("got %v, want a version error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != string(content) {
		t.Fatal("a newer file was changed")
	}
}

// mustSum ends body with the checksum line a valid file has.
func mustSum(t *testing.T, body string) []byte {
	t.Helper()
	return []byte(body + checksumPrefix + sum8(body) + "\n")
}

func sum8(body string) string {
	return fmt.Sprintf("%08x", crc32.Checksum([]byte(body), castagnoli))
}

func TestItemSpecsSums(t *testing.T) {
	s := Open(t.TempDir())
	path := filepath.Join(s.Path(), itemSpecsFile)
	if got := s.ItemSpecsSums(); !got.Missing {
		t.Fatalf("no file: got %+v, want missing", got)
	}
	a := map[string]ItemSpec{"a": {Type: "file", Params: specParams(t, "{path: a.txt, content: x}"), DependsOn: []string{"d"}}}
	if err := s.WriteItemSpecs(a); err != nil {
		t.Fatal(err)
	}
	ids, sum := SumItemSpecs(a)
	if got := s.ItemSpecsSums(); got.Missing || got.IDs != ids || got.Specs != sum || ids != SumItemIDs([]string{"a"}) {
		t.Fatalf("sums read back as %+v, want %s %s", got, ids, sum)
	}

	// Anything a spec says changes its sum, and the file is rewritten;
	// how a param is written (its style) does not.
	changed := map[string]map[string]ItemSpec{
		"param value": {"a": {Type: "file", Params: specParams(t, "{path: a.txt, content: y}"), DependsOn: []string{"d"}}},
		"param tag":   {"a": {Type: "file", Params: specParams(t, "{path: a.txt, content: 1}"), DependsOn: []string{"d"}}},
		"type":        {"a": {Type: "dir", Params: specParams(t, "{path: a.txt, content: x}"), DependsOn: []string{"d"}}},
		"depends_on":  {"a": {Type: "file", Params: specParams(t, "{path: a.txt, content: x}")}},
		"no params":   {"a": {Type: "file", DependsOn: []string{"d"}}},
	}
	for name, b := range changed {
		if _, bsum := SumItemSpecs(b); bsum == sum {
			t.Errorf("%s: the sum did not change", name)
		}
	}
	same := map[string]ItemSpec{"a": {Type: "file", Params: specParams(t, "path: \"a.txt\"\ncontent: 'x'\n"), DependsOn: []string{"d"}}}
	if _, ssum := SumItemSpecs(same); ssum != sum {
		t.Error("the same params written in another style changed the sum")
	}
	b := changed["param value"]
	if err := s.WriteItemSpecs(b); err != nil {
		t.Fatal(err)
	}
	got, err := s.ItemSpecs(false)
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ Content string }
	if err := got["a"].Params.Decode(&p); err != nil || p.Content != "y" {
		t.Fatalf("a changed spec was not written: %+v, %v", p, err)
	}

	// A file written without sums (an older peace) is read as before, has
	// no sums, and gets them when written again, though its specs are the
	// same.
	old := mustSum(t, "version: 1\nitems:\n    a:\n        type: file\n        params: {path: a.txt, content: x}\n        depends_on: [d]\n")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := s.ItemSpecsSums(); got.Missing || got.IDs != "" || got.Specs != "" {
		t.Fatalf("a file without sums: got %+v, want none", got)
	}
	specs, err := s.ItemSpecs(true)
	if err != nil || specs["a"].Type != "file" {
		t.Fatalf("a file without sums read as %+v, %v", specs, err)
	}
	if err := s.WriteItemSpecs(specs); err != nil {
		t.Fatal(err)
	}
	if got := s.ItemSpecsSums(); got.IDs != ids || got.Specs != sum {
		t.Fatalf("rewritten with sums %+v, want %s %s", got, ids, sum)
	}

	// Sums are not trusted in a file that fails its checksum.
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), "a.txt", "b.txt", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := s.ItemSpecsSums(); got.IDs != "" || got.Specs != "" {
		t.Fatalf("a corrupt file's sums were trusted: %+v", got)
	}
}
