package state

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// decodeCanonical reads a snapshot in exactly the form encodeSnapshot writes
// (current version, one state per line, each a compact JSON text that YAML
// reads as JSON does) without a YAML parser, which is many times slower.
// For anything else, even one odd line, ok is false and the caller parses
// the file as YAML: this is a shortcut, never a second reading of the format.
func decodeCanonical(data []byte) (snap snapshot, ok bool) {
	snap = snapshot{states: map[string]json.RawMessage{}, from: FormatVersion}
	r := lineReader{data: data}
	if line, ok := r.next(); !ok || string(line) != "version: "+strconv.Itoa(FormatVersion) {
		return snap, false
	}
	line, ok := r.next()
	if !ok {
		return snap, false
	}
	if rest, found := bytes.CutPrefix(line, []byte("folded_journal: {id: ")); found {
		id, rest, keyOK := cutKey(rest)
		rest, found = bytes.CutPrefix(rest, []byte(", bytes: "))
		digits, found2 := bytes.CutSuffix(rest, []byte("}"))
		if !keyOK || !found || !found2 {
			return snap, false
		}
		n, err := strconv.ParseInt(string(digits), 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != string(digits) {
			return snap, false
		}
		snap.folded = foldMark{journal: id, bytes: n}
		if line, ok = r.next(); !ok {
			return snap, false
		}
	}
	var compact bytes.Buffer
	switch string(line) {
	case "states: {}":
		line, ok = r.next()
	case "states:":
		for {
			line, ok = r.next()
			rest, found := bytes.CutPrefix(line, []byte("  "))
			if !ok || !found {
				break
			}
			id, rest, keyOK := cutKey(rest)
			state, found := bytes.CutPrefix(rest, []byte(": "))
			if !keyOK || !found || hasLongKey(state) || !yamlSafe(state) {
				return snap, false // long keys inside are marked with "? "
			}
			if _, dup := snap.states[id]; dup {
				return snap, false
			}
			compact.Reset()
			if json.Compact(&compact, state) != nil || !bytes.Equal(compact.Bytes(), state) {
				return snap, false
			}
			snap.states[id] = bytes.Clone(state)
		}
	default:
		return snap, false
	}
	if ok && string(line) == "unknown:" {
		for {
			line, ok = r.next()
			rest, found := bytes.CutPrefix(line, []byte("  - "))
			if !ok || !found {
				break
			}
			id, rest, keyOK := cutKey(rest)
			if !keyOK || len(rest) > 0 {
				return snap, false
			}
			if n := len(snap.unknown); n > 0 && snap.unknown[n-1] >= id {
				return snap, false // not sorted and unique as written
			}
			snap.unknown = append(snap.unknown, id)
		}
	}
	if ok && string(line) == "groups:" {
		snap.groups = map[string][]ProcessGroup{}
		for {
			line, ok = r.next()
			rest, found := bytes.CutPrefix(line, []byte("  "))
			if !ok || !found {
				break
			}
			id, rest, keyOK := cutKey(rest)
			text, found := bytes.CutPrefix(rest, []byte(": "))
			if !keyOK || !found || !yamlSafe(text) {
				return snap, false
			}
			if _, dup := snap.groups[id]; dup {
				return snap, false
			}
			g, err := decodeGroups(text)
			if err != nil {
				return snap, false
			}
			snap.groups[id] = g
		}
	}
	return snap, !ok && r.clean()
}

// lineReader splits data into lines that must each end in '\n'.
type lineReader struct {
	data []byte
	bad  bool
}

func (r *lineReader) next() ([]byte, bool) {
	if len(r.data) == 0 {
		return nil, false
	}
	i := bytes.IndexByte(r.data, '\n')
	if i < 0 {
		r.bad = true // the last line lacks its newline
		return nil, false
	}
	line := r.data[:i]
	r.data = r.data[i+1:]
	if bytes.IndexByte(line, '\r') >= 0 {
		r.bad = true
		return nil, false
	}
	return line, true
}

// clean reports whether every line was read and well terminated.
func (r *lineReader) clean() bool { return !r.bad && len(r.data) == 0 }

// cutKey reads an item ID at the start of s as appendYAMLKey writes it:
// plain, or a JSON string YAML reads the same way.
func cutKey(s []byte) (id string, rest []byte, ok bool) {
	if len(s) > 0 && s[0] == '"' {
		end := 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) || end+1 > maxImplicitKey {
			return "", nil, false
		}
		quoted := s[:end+1]
		if !yamlSafe(quoted) || json.Unmarshal(quoted, &id) != nil || plainKey(id) {
			return "", nil, false
		}
		return id, s[end+1:], true
	}
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= '0' && s[end] <= '9' || s[end] == '_') {
		end++
	}
	if !plainKey(string(s[:end])) || end > maxImplicitKey {
		return "", nil, false
	}
	return string(s[:end]), s[end:], true
}
