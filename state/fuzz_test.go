package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzRecords builds the records a run over items would write, framed the
// way the writer frames them.
func fuzzRecords(items string) ([]record, []byte) {
	t0 := time.Date(2026, 11, 22, 15, 4, 5, 0, time.UTC)
	recs := []record{
		{V: FormatVersion, Kind: kindJournal, ID: "0123456789abcdef", Time: t0},
		{V: FormatVersion, Kind: kindExecStart, Exec: "e", Command: "peace ensure", Time: t0},
	}
	for i, item := range strings.Split(items, ",") {
		if i == 16 {
			break
		}
		if item == "" {
			item = "empty"
		}
		state, _ := json.Marshal(map[string]any{"i": i, "item": item})
		recs = append(recs,
			record{V: FormatVersion, Kind: kindBegin, Exec: "e", Item: item, Time: t0},
			record{V: FormatVersion, Kind: kindEnd, Exec: "e", Item: item, Outcome: "applied", State: state, Time: t0},
		)
	}
	recs = append(recs, record{V: FormatVersion, Kind: kindExecEnd, Exec: "e", Outcome: "complete", Time: t0})
	// What was written is what the frames hold (JSON encoding replaces
	// invalid UTF-8, for one).
	var data []byte
	for i := range recs {
		frame, err := frameRecord(recs[i])
		if err != nil {
			panic(err)
		}
		payload, _, _ := frameAt(frame, 0)
		if recs[i], err = decodeRecord(payload); err != nil {
			panic(err)
		}
		recs[i].off = int64(len(data))
		data = append(data, frame...)
	}
	return recs, data
}

func sameRecord(a, b record) bool {
	return a.V == b.V && a.Kind == b.Kind && a.ID == b.ID && a.Exec == b.Exec && a.Command == b.Command &&
		a.Item == b.Item && a.Outcome == b.Outcome && bytes.Equal(a.State, b.State) && a.Stage == b.Stage &&
		a.Time.Equal(b.Time) && a.off == b.off
}

// FuzzJournalRead: any bytes at all. The reader never panics, and every
// record it returns is an intact frame, byte for byte, at its offset.
func FuzzJournalRead(f *testing.F) {
	_, data := fuzzRecords("a,b,c")
	f.Add(data)
	f.Add(data[:len(data)-7])
	f.Add(append(slices.Clone(data), 0xff, 'J', 3, 0, 0))
	f.Add([]byte{})
	f.Add([]byte("version: 1\nstates: {}\n"))
	f.Add(appendFrame(nil, []byte(`{"v":2,"kind":"begin","item":"a"}`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, end, damage := scanFrames(data)
		off := 0
		for _, fr := range frames {
			if fr.off != off {
				t.Fatalf("frame at %d, want %d", fr.off, off)
			}
			framed := appendFrame(nil, fr.payload)
			if !bytes.Equal(data[off:off+len(framed)], framed) {
				t.Fatalf("frame at %d is not in the input", off)
			}
			off += len(framed)
		}
		if off != end {
			t.Fatalf("frames end at %d, scan says %d", off, end)
		}
		scan, err := parseJournal(data)
		var verr *VersionError
		switch {
		case errors.As(err, &verr):
			if verr.Found <= FormatVersion {
				t.Fatalf("version error for version %d", verr.Found)
			}
		case err != nil:
		default:
			if damage != "" {
				t.Fatalf("damage accepted: %s", damage)
			}
			if len(scan.records) != len(frames) || scan.end+int64(scan.torn) != int64(len(data)) {
				t.Fatalf("%d records of %d frames, end %d + torn %d of %d bytes",
					len(scan.records), len(frames), scan.end, scan.torn, len(data))
			}
			for i, r := range scan.records {
				want, _ := decodeRecord(frames[i].payload)
				want.off = int64(frames[i].off)
				if !sameRecord(r, want) {
					t.Fatalf("record %d differs from its frame", i)
				}
			}
		}
	})
}

// FuzzJournalDamage: a journal the writer wrote, cut short and with one
// byte changed. The reader returns a prefix of what was written, never a
// record it did not write; cutting alone is a torn tail, never an error; and
// damage before the last intact record is corruption.
func FuzzJournalDamage(f *testing.F) {
	f.Add("a,b,c", uint16(0), uint16(0), byte(0))
	f.Add("a,b,c", uint16(40), uint16(0), byte(0))
	f.Add("a,b,c", uint16(0), uint16(30), byte(1))
	f.Add("out_dir,greeting,build", uint16(200), uint16(150), byte(0x80))
	f.Add("x", uint16(0), uint16(3), byte(0xff))
	f.Fuzz(func(t *testing.T, items string, cut, at uint16, flip byte) {
		written, data := fuzzRecords(items)
		whole := len(data)
		if c := int(cut); c > 0 && c < len(data) {
			data = data[:len(data)-c]
		}
		flipped := -1
		if flip != 0 && len(data) > 0 {
			flipped = int(at) % len(data)
			data[flipped] ^= flip
		}
		scan, err := parseJournal(data)
		if err != nil {
			if flipped < 0 {
				t.Fatalf("cut journal: %v", err)
			}
			return
		}
		if len(scan.records) > len(written) {
			t.Fatalf("%d records read, %d written", len(scan.records), len(written))
		}
		for i, r := range scan.records {
			if !sameRecord(r, written[i]) {
				t.Fatalf("record %d was never written: %+v", i, r)
			}
		}
		if flipped >= 0 && int64(flipped) < scan.end {
			t.Fatalf("damage at byte %d inside the intact records", flipped)
		}
		// Damage is only ever accepted as a torn tail: no whole record the
		// writer wrote may follow it.
		for i, w := range written {
			end := int64(whole)
			if i+1 < len(written) {
				end = written[i+1].off
			}
			if flipped >= 0 && w.off > int64(flipped) && end <= int64(len(data)) {
				t.Fatalf("damage at byte %d accepted, but the record at %d follows intact", flipped, w.off)
			}
		}
	})
}

// FuzzSnapshotDecode: any bytes at all. The decoder never panics; what it
// accepts is valid JSON per item, and writing it back and reading it again
// gives exactly the same states.
func FuzzSnapshotDecode(f *testing.F) {
	f.Add([]byte("version: 1\nstates:\n  a: {\"x\":1}\n  b: \"s\"\nunknown:\n  - c\n"))
	f.Add([]byte("version: 1\nfolded_journal: {id: \"ab\", bytes: 12}\nstates: {}\n"))
	f.Add([]byte("out_dir:\n  path: out\n  mode: 0o755\nbuild: built\nno: ~\n"))
	f.Add([]byte("version: 2\nstates: {}\n"))
	f.Add([]byte("version: 1\nstates:\n  a: &x [1, 2]\n  b: *x\n  c: !!str 12\n  d: .inf\n  e: 1E400\n"))
	f.Add([]byte("version: 1\nstates:\n  a: |\n    multi\n    line\n  b: 2026-11-22\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := decodeSnapshot(data)
		var verr *VersionError
		if errors.As(err, &verr) {
			if verr.Found <= FormatVersion {
				t.Fatalf("version error for version %d", verr.Found)
			}
			return
		}
		if err != nil {
			return
		}
		for id, state := range snap.states {
			if !json.Valid(state) {
				t.Fatalf("state of %q is not JSON: %s", id, state)
			}
		}
		// The canonical shortcut, where it applies, reads what YAML reads.
		if _, ok := decodeCanonical(data); ok {
			slow, err := decodeSnapshotYAML(data)
			if err != nil {
				t.Fatalf("shortcut accepted what YAML refuses: %v", err)
			}
			sameSnapshot(t, snap, slow)
		}
		again, err := decodeSnapshot(encodeSnapshot(snap.states, snap.unknown, snap.groups, snap.folded))
		if err != nil {
			t.Fatalf("re-read: %v\n%s", err, encodeSnapshot(snap.states, snap.unknown, snap.groups, snap.folded))
		}
		if len(again.states) != len(snap.states) {
			t.Fatalf("%d states, then %d", len(snap.states), len(again.states))
		}
		for id, state := range snap.states {
			if !bytes.Equal(again.states[id], state) {
				t.Fatalf("state of %q: %s, then %s", id, state, again.states[id])
			}
		}
		if !slices.Equal(again.unknown, snap.unknown) || again.folded != snap.folded {
			t.Fatalf("unknown %q / %+v, then %q / %+v", snap.unknown, snap.folded, again.unknown, again.folded)
		}
	})
}

// FuzzSnapshotRoundTrip: any JSON state under any item ID comes back from a
// snapshot as the same JSON value.
func FuzzSnapshotRoundTrip(f *testing.F) {
	for name, text := range roundTripStates {
		f.Add(name, []byte(text))
	}
	f.Add("null", []byte(`{"a":[1,2,{"b":null}],"c":"\ud83d"}`))
	f.Fuzz(func(t *testing.T, id string, state []byte) {
		if id == "" || !utf8.ValidString(id) || !json.Valid(state) {
			return
		}
		norm, err := normalizeState(state)
		if err != nil {
			return // nested too deep
		}
		data := encodeSnapshot(map[string]json.RawMessage{id: norm}, []string{id}, nil, foldMark{})
		snap, err := decodeSnapshot(data)
		if err != nil {
			t.Fatalf("decode: %v\n%s", err, data)
		}
		if got, ok := snap.states[id]; !ok || !sameJSON(got, state) {
			t.Fatalf("%q: wrote %s, read %s\n%s", id, state, got, data)
		}
		if !slices.Equal(snap.unknown, []string{id}) {
			t.Fatalf("unknown %q, want [%q]", snap.unknown, id)
		}
	})
}

// sameSnapshot fails unless a and b hold the same JSON values.
func sameSnapshot(t *testing.T, a, b snapshot) {
	t.Helper()
	if len(a.states) != len(b.states) {
		t.Fatalf("%d states, %d states", len(a.states), len(b.states))
	}
	for id, state := range a.states {
		if !sameJSON(state, b.states[id]) {
			t.Fatalf("%q: %s, %s", id, state, b.states[id])
		}
	}
	if !slices.Equal(a.unknown, b.unknown) || a.folded != b.folded || a.from != b.from {
		t.Fatalf("unknown %q, %q; folded %+v, %+v; from %d, %d", a.unknown, b.unknown, a.folded, b.folded, a.from, b.from)
	}
}

// A record decoded without reflection is what json.Unmarshal decodes, and
// one it does not take is left to json.Unmarshal.
func FuzzRecordDecode(f *testing.F) {
	at := time.Date(2026, 12, 3, 16, 1, 2, 345678900, time.UTC)
	for _, r := range []record{
		{V: 2, Kind: kindJournal, ID: "0123abcd", Time: at},
		{V: 2, Kind: kindExecStart, Exec: "20261203-160102-abcdef", Command: "ensure -j 8", Time: at},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f1", Outcome: "applied", State: json.RawMessage(`{"a":[1,{"b":"}"}],"c":"\"x"}`), Time: at},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f1", Outcome: "applied", State: json.RawMessage(`"s"`), Time: at},
		{V: 2, Kind: kindEnd, Exec: "x", Item: "f1", Outcome: "applied", State: json.RawMessage(`12`), Time: at},
		{V: 2, Kind: kindGroup, Exec: "x", Item: "f1", Pgid: 4242, Start: "boot:123", Time: at},
	} {
		p, _ := json.Marshal(r)
		f.Add(p)
	}
	for _, s := range []string{
		`{"v":1,"kind":"begin","item":"a","time":"2026-12-03T16:01:02Z","v":2}`,
		`{"v":01,"kind":"begin"}`, `{"v":1.0,"kind":"begin"}`, `{"v":-0,"kind":"begin"}`,
		`{"V":1,"Kind":"begin"}`, `{"v":1,"kind":"begin","state":{"a":1}`, `{"v":1, "kind":"begin"}`,
		`{"v":1,"kind":"begin","state":[1,2}`, `{"v":1,"kind":"begin","state":nul}`,
		`{"v":99999999999999999999,"kind":"begin"}`, `{"v":1,"kind":"a\tb"}`, `{}`, `{"v":1,}`,
		`{"v":1,"kind":"begin","time":"2026-13-03T16:01:02Z"}`, `{"v":1,"kind":"begin"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		got, ok := parseRecord(p)
		if !ok {
			return
		}
		var want record
		if err := json.Unmarshal(p, &want); err != nil {
			t.Fatalf("%s: taken without reflection, but json.Unmarshal says %v", p, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded\n%+v\njson.Unmarshal's\n%+v", p, got, want)
		}
	})
}
