package file

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/peace-go/peace/items"
)

// writtenStates are states as peace records them: json.Marshal of what
// discovery finds of real files, and of hand-made states at the edges.
func writtenStates(t testing.TB) [][]byte {
	dir := t.TempDir()
	var states []State
	for _, name := range []string{"plain", "spaces in name", "ünïcødé ✓", "quote\"back\\slash", "<tag>&amp", "tab\tnewline\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("content of "+name), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Discover(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, s)
		pres, err := discoverPresence(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		states = append(states, pres)
	}
	absent, err := Discover(context.Background(), filepath.Join(dir, "absent"))
	if err != nil {
		t.Fatal(err)
	}
	states = append(states, absent,
		State{},
		State{Exists: true},
		State{Path: "/x", Exists: true, Size: math.MaxInt64, SHA256: strings.Repeat("ab", 32), Mode: "0644",
			Seen: Seen{Size: math.MinInt64, Mtime: -1, Ctime: 1, Ino: math.MaxUint64, Dev: 0, Mode: math.MaxUint32, At: math.MaxInt64}},
		State{Path: "/y", Exists: true, Size: -5, Seen: Seen{At: 1}},
		State{Path: "\u2028\u2029\x7f", Mode: "0600"},
	)
	var out [][]byte
	for _, s := range states {
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// sameAsJSON fails unless decodeState gives what json.Unmarshal gives.
func sameAsJSON(t *testing.T, data []byte) {
	t.Helper()
	var want State
	wantErr := json.Unmarshal(data, &want)
	got, err := decodeState(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("decode %q: error %v, encoding/json says %v", data, err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decode %q:\n got %#v\nwant %#v", data, got, want)
	}
}

func TestDecodeStateWritten(t *testing.T) {
	for _, b := range writtenStates(t) {
		sameAsJSON(t, b)
		// The fast path reads all of them but the strings json.Marshal
		// escapes.
		_, fast := decodeCanonical(b)
		if escaped := strings.Contains(string(b), `\`); fast == escaped {
			t.Errorf("fast path read %s: %v, want %v", b, fast, !escaped)
		}
	}
}

func TestDecodeStateOtherForms(t *testing.T) {
	for _, in := range []string{
		``, `null`, `{}`, `[]`, `"x"`, `1`, `{`, `}`, `{"path":"a","exists":true}x`,
		`{"path":"a","exists":true} `, ` {"path":"a","exists":true}`, `{"path":"a","exists":true}}`,
		`{"exists":true,"path":"a"}`, `{"Path":"a","exists":true}`, `{"path":"a","exists":1}`,
		`{"path":"a","exists":true,"path":"b"}`, `{"path":"a","path":"b","exists":true}`,
		`{"path":"a","exists":true,"size":0}`, `{"path":"a","exists":true,"size":-0}`,
		`{"path":"a","exists":true,"size":01}`, `{"path":"a","exists":true,"size":1.0}`,
		`{"path":"a","exists":true,"size":1e3}`, `{"path":"a","exists":true,"size":"1"}`,
		`{"path":"a","exists":true,"size":9223372036854775807}`, `{"path":"a","exists":true,"size":9223372036854775808}`,
		`{"path":"a","exists":true,"size":-9223372036854775808}`, `{"path":"a","exists":true,"size":-9223372036854775809}`,
		`{"path":"a","exists":true,"size":99999999999999999999999}`, `{"path":"a","exists":true,"size":-}`,
		`{"path":"a","exists":false,"seen":null}`, `{"path":"a","exists":false,"seen":{}}`,
		`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":4,"dev":5,"mode":4294967295,"at_ns":7}}`,
		`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":4,"dev":5,"mode":4294967296,"at_ns":7}}`,
		`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":-4,"dev":5,"mode":6,"at_ns":7}}`,
		`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":18446744073709551616,"dev":5,"mode":6,"at_ns":7}}`,
		`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":4,"dev":5,"mode":6}}`,
		"{\"path\":\"\xff\",\"exists\":true}", "{\"path\":\"\xed\xa0\x80\",\"exists\":true}",
		"{\"path\":\"a\x01\",\"exists\":true}", `{"path":"\u00e9","exists":true}`, `{"path":"a","exists":tru}`,
		`{"path":"a","exists":true,"sha256":null}`, `{"path":"a","exists":true,"mode":7}`,
	} {
		sameAsJSON(t, []byte(in))
	}
}

func FuzzDecodeState(f *testing.F) {
	for _, b := range writtenStates(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"path":"a","exists":false,"seen":{"size":1,"mtime_ns":2,"ctime_ns":3,"ino":4,"dev":5,"mode":6,"at_ns":7}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsJSON(t, data)
	})
}

// TestItemDecodeState is the item's DecodeState, which restores a run's
// recorded states: the hand decoder's value, and encoding/json's error.
func TestItemDecodeState(t *testing.T) {
	it, err := New("f", Params{Path: "f", Content: "x"}, items.Env{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range writtenStates(t) {
		var want State
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		got, err := it.DecodeState(b)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeState(%s) = %#v, %v; want %#v", b, got, err, want)
		}
	}
	var s State
	want := json.Unmarshal([]byte(`{"path":1}`), &s)
	if _, err := it.DecodeState([]byte(`{"path":1}`)); err == nil || err.Error() != "item f: decode state: "+want.Error() {
		t.Fatalf("DecodeState of a number as path: error %v, want one wrapping %v", err, want)
	}
}
