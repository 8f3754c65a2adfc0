package tarx

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
)

// Names that are not UTF-8 (here Latin-1 "é" as the byte 0xe9, and 0xff)
// survive the record: the second ensure finds everything in place.
func TestNonUTF8NamesRoundTrip(t *testing.T) {
	for _, format := range []tar.Format{tar.FormatGNU, tar.FormatPAX} {
		t.Run(format.String(), func(t *testing.T) {
			f := newFixture(t)
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range []*tar.Header{
				{Name: "caf\xe9/", Typeflag: tar.TypeDir, Mode: 0o755},
				{Name: "caf\xe9/\xff.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
				{Name: "plain.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
				{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "caf\xe9/\xff.txt"},
				{Name: "caf\xe9/hard", Typeflag: tar.TypeLink, Linkname: "caf\xe9/\xff.txt"},
			} {
				h.ModTime, h.Format = mtime, format
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				if h.Size > 0 {
					tw.Write([]byte("abc"))
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(f.x.Archive), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.x.Archive, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			f.must(items.OpEnsure, true)
			if got := readFile(t, filepath.Join(f.x.Dest, "caf\xe9", "\xff.txt")); got != "abc" {
				t.Fatalf("content %q", got)
			}
			raw, err := json.Marshal(f.stored)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsRune(raw, '\uFFFD') || !bytes.Contains(raw, []byte(`"path":"plain.txt"`)) || !bytes.Contains(raw, []byte(`"path_base64":"Y2Fm6S//LnR4dA=="`)) {
				t.Fatalf("recorded %s", raw)
			}
			f.must(items.OpEnsure, false)
			// As a fresh process would: only the record, no cached scan.
			f.x = NewExtract(Params{Archive: f.x.Archive, Dest: f.x.Dest}, items.Env{})
			f.item = f.x.Item("unpack")
			f.must(items.OpEnsure, false)
			f.must(items.OpClean, true)
			wantTree(t, f.x.Dest)
		})
	}
}

func TestStateJSON(t *testing.T) {
	// Records written before base64 names still read.
	old := `{"source":{"size":10,"mtime":"2026-02-03T04:05:06Z"},"entries":[{"path":"a","type":"file","size":1,"mode":"0644","mtime":"2026-02-03T04:05:06Z"},{"path":"l","type":"symlink","link":"a"}]}`
	var s State
	if err := json.Unmarshal([]byte(old), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Entries) != 2 || s.Entries[0].Path != "a" || s.Entries[1].Link != "a" || s.Source.Size != 10 {
		t.Fatalf("%+v", s)
	}
	// UTF-8 names are written as before, byte for byte.
	again, _ := json.Marshal(s)
	if string(again) != old {
		t.Fatalf("\n%s\nwant\n%s", again, old)
	}
	// Any bytes round-trip.
	for _, name := range []string{"\xff", "a/\xc3", "ok/é", "\x80\x80/x"} {
		in := State{Entries: []Entry{{Path: name, Type: TypeSymlink, Link: name + "/t"}}}
		raw, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out State
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		if out.Entries[0] != in.Entries[0] {
			t.Fatalf("%q: %s read back as %+v", name, raw, out.Entries[0])
		}
		if strings.Contains(name, "é") != strings.Contains(string(raw), `"path":"ok/é"`) {
			t.Fatalf("%q: %s", name, raw)
		}
	}
	// The clean state is "entries": [], an empty state's entries null.
	for in, want := range map[string]State{`{"entries":[]}`: {Entries: []Entry{}}, `{"entries":null}`: {}} {
		var out State
		if err := json.Unmarshal([]byte(in), &out); err != nil || (out.Entries == nil) != (want.Entries == nil) {
			t.Fatalf("%s: %+v %v", in, out, err)
		}
		if raw, _ := json.Marshal(out); string(raw) != in {
			t.Fatalf("%s written back as %s", in, raw)
		}
	}
	if err := json.Unmarshal([]byte(`{"entries":[{"path":"a","path_base64":"YQ==","type":"file"}]}`), new(State)); err == nil {
		t.Fatal("two names accepted")
	}
}

func TestStateString(t *testing.T) {
	many := State{}
	for range 2000 {
		many.Entries = append(many.Entries, Entry{Type: TypeFile, Size: 10240})
	}
	many.Entries = append(many.Entries, Entry{Type: TypeDir}, Entry{Type: TypeSymlink, Link: "x"})
	for s, want := range map[*State]string{
		{}:                   "no entries",
		{Entries: []Entry{}}: "no entries",
		{Entries: []Entry{{Type: TypeFile, Size: 5}}}: "1 entry, 5 B",
		&many: "2002 entries, 19.5 MiB",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d entries: %q, want %q", len(s.Entries), got, want)
		}
	}
}
