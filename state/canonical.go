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
// The states are in the order encodeSnapshot writes them, of item ID: a
// file whose IDs are not is not canonical (this also finds an ID listed
// twice, with no map of those seen).
func decodeCanonical(data []byte) (snap snapshot, ok bool) {
	return decodeCanonicalEach(data, nil)
}

// decodeCanonicalEach is decodeCanonical handing each state to each rather
// than keeping a map of them (snap.states is nil), when each is not nil:
// no string is made of its ID, which is each's only during the call.
// States reach each as they are read: only once ok is known true were
// they those of a canonical file.
func decodeCanonicalEach(data []byte, each func(id []byte, state json.RawMessage)) (snap snapshot, ok bool) {
	snap = snapshot{from: FormatVersion, canonical: true}
	if each == nil {
		// One state a line: sized once, the map is not grown a state at a time.
		snap.states = make(map[string]json.RawMessage, bytes.Count(data, []byte("\n")))
		each = func(id []byte, state json.RawMessage) { snap.states[string(id)] = state }
	}
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
	switch string(line) {
	case "states: {}":
		line, ok = r.next()
	case "states:":
		var prev []byte
		first := true
		for {
			line, ok = r.next()
			rest, found := bytes.CutPrefix(line, []byte("  "))
			if !ok || !found {
				break
			}
			id, rest, keyOK := cutKeyBytes(rest)
			state, found := bytes.CutPrefix(rest, []byte(": "))
			if !keyOK || !found || hasLongKey(state) || !yamlSafe(state) {
				return snap, false // long keys inside are marked with "? "
			}
			if !first && bytes.Compare(id, prev) <= 0 {
				return snap, false // not in order, or listed twice
			}
			prev, first = id, false
			if !compactJSON(state) {
				return snap, false
			}
			// The state is kept where it was read, in the file's bytes: no
			// copy per state. Its capacity ends with it, so an append
			// cannot reach the next line.
			each(id, state[:len(state):len(state)])
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
	b, rest, ok := cutKeyBytes(s)
	return string(b), rest, ok
}

// cutKeyBytes is cutKey with the ID as bytes: those of s for a plain one,
// with no copy.
func cutKeyBytes(s []byte) (id []byte, rest []byte, ok bool) {
	if len(s) > 0 && s[0] == '"' {
		end := 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(s) || end+1 > maxImplicitKey {
			return nil, nil, false
		}
		quoted := s[:end+1]
		var str string
		if !yamlSafe(quoted) || json.Unmarshal(quoted, &str) != nil || plainKey(str) {
			return nil, nil, false
		}
		return []byte(str), s[end+1:], true
	}
	end := 0
	for end < len(s) && (s[end] >= 'a' && s[end] <= 'z' || s[end] >= '0' && s[end] <= '9' || s[end] == '_') {
		end++
	}
	if !plainKey(string(s[:end])) || end > maxImplicitKey {
		return nil, nil, false
	}
	return s[:end:end], s[end:], true
}

// compactJSON reports whether s is one JSON value with no space outside its
// strings: what json.Compact leaves unchanged. It reads each byte once and
// allocates nothing, which matters on a snapshot of many states.
func compactJSON(s []byte) bool {
	v := jsonScan{s: s}
	return v.value(0) && v.i == len(s)
}

type jsonScan struct {
	s []byte
	i int
}

func (v *jsonScan) value(depth int) bool {
	if v.i >= len(v.s) || depth > maxDepth {
		return false
	}
	switch c := v.s[v.i]; {
	case c == '{':
		v.i++
		if v.i < len(v.s) && v.s[v.i] == '}' {
			v.i++
			return true
		}
		for {
			if v.i >= len(v.s) || v.s[v.i] != '"' || !v.str() {
				return false
			}
			if v.i >= len(v.s) || v.s[v.i] != ':' {
				return false
			}
			v.i++
			if !v.value(depth + 1) {
				return false
			}
			if v.i >= len(v.s) {
				return false
			}
			if v.s[v.i] == '}' {
				v.i++
				return true
			}
			if v.s[v.i] != ',' {
				return false
			}
			v.i++
		}
	case c == '[':
		v.i++
		if v.i < len(v.s) && v.s[v.i] == ']' {
			v.i++
			return true
		}
		for {
			if !v.value(depth + 1) {
				return false
			}
			if v.i >= len(v.s) {
				return false
			}
			if v.s[v.i] == ']' {
				v.i++
				return true
			}
			if v.s[v.i] != ',' {
				return false
			}
			v.i++
		}
	case c == '"':
		return v.str()
	case c == 't':
		return v.lit("true")
	case c == 'f':
		return v.lit("false")
	case c == 'n':
		return v.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		start := v.i
		for v.i < len(v.s) {
			c := v.s[v.i]
			if c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' && (c < '0' || c > '9') {
				break
			}
			v.i++
		}
		return isJSONNumber(string(v.s[start:v.i]))
	}
	return false
}

// str reads a string starting at its opening quote.
func (v *jsonScan) str() bool {
	v.i++
	for v.i < len(v.s) {
		c := v.s[v.i]
		switch {
		case c == '"':
			v.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if v.i+1 >= len(v.s) {
				return false
			}
			switch v.s[v.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.i += 2
			case 'u':
				if v.i+6 > len(v.s) {
					return false
				}
				for _, h := range v.s[v.i+2 : v.i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				v.i += 6
			default:
				return false
			}
		default:
			v.i++
		}
	}
	return false
}

func (v *jsonScan) lit(word string) bool {
	if !bytes.HasPrefix(v.s[v.i:], []byte(word)) {
		return false
	}
	v.i += len(word)
	return true
}
