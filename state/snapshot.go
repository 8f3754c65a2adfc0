package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/internal/durable"
)

// A snapshot file looks like this (states_goal.yaml has no unknown list, no
// groups and no folded_journal):
//
//	version: 2
//	folded_journal: {id: "4f1c…", bytes: 1234}
//	states:
//	  greeting: {"path":"out/greeting.txt","sha256":"…"}
//	  out_dir: {"path":"out","exists":true}
//	unknown:
//	  - build
//	groups:
//	  build: [{"pgid":4242,"start":"…"}]
//	checksum: crc32c-1a2b3c4d
//
// The checksum (CRC-32C of every byte before its line) ends the file: a
// snapshot cut short, with a line missing or a byte changed, is corrupt even
// when it still parses (P3). Version 1 files had no checksum and no groups;
// version 0 files were a plain mapping of item ID to state. A file without
// its version line that is not in the version 0 layout is corrupt, not old.
//
// Each state is its compact JSON text, which is valid YAML flow style, so
// encoding is a copy rather than a conversion. JSON and YAML disagree on a
// few details (YAML has no \/ escape, no surrogate escapes, and treats DEL,
// C1 controls and U+2028/9 specially), so safeJSON rewrites the rare text that
// hits them into an equivalent JSON text YAML reads the same way, and
// appendYAMLFlow marks the rare key longer than YAML allows a plain key.
//
// folded_journal names the journal records already folded into this snapshot,
// so that a crash after the snapshot is written but before the journal is
// reset does not replay them over newer values.

// maxDepth bounds the nesting of a state: YAML readers refuse flow nesting
// deeper than 10,000 levels, and no sensible state comes near it.
const maxDepth = 5000

// snapshot is one decoded snapshot file.
type snapshot struct {
	states  map[string]json.RawMessage // nil: not read yet (see readSnapshot)
	unknown []string                   // only in states_current.yaml
	groups  map[string][]ProcessGroup  // only in states_current.yaml
	folded  foldMark                   // only in states_current.yaml
	from    int                        // the format version the file was written in
	raw     []byte                     // the file as read; nil when there was none
	// canonical says the file is in exactly the form encodeSnapshot
	// writes, read by decodeCanonical.
	canonical bool
}

// foldMark says which journal, up to which byte, a snapshot already holds.
type foldMark struct {
	journal string
	bytes   int64
}

// snapshotMigrations[v] turns a version v document into a version v+1 one.
var snapshotMigrations = []func(root *yaml.Node) (*yaml.Node, error){
	0: migrateSnapshotV0,
	1: migrateSnapshotV1,
}

// laterKeys are the top-level keys of version 1 and later: a file holding
// one of them but no version line lost that line; it is not version 0.
var laterKeys = []string{"states", "unknown", "folded_journal", "groups", "checksum"}

// migrateSnapshotV1 reads a version 1 document as version 2, which only
// added what version 1 lacked (groups, and the checksum already checked).
func migrateSnapshotV1(root *yaml.Node) (*yaml.Node, error) {
	if v := mappingValue(root, "version"); v != nil {
		v.Value = "2"
	}
	return root, nil
}

// migrateSnapshotV0 reads the first layout, a plain mapping of item ID to
// state with no version, as the states of a version 1 file.
func migrateSnapshotV0(root *yaml.Node) (*yaml.Node, error) {
	states := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "version" {
			continue
		}
		states.Content = append(states.Content, root.Content[i], root.Content[i+1])
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "version"},
		{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "states"},
		states,
	}}, nil
}

// readSnapshot reads the snapshot at path (a missing file is an empty
// snapshot; one that does not parse is a *CorruptError; a newer version a
// *VersionError, left alone). A command reads both snapshots when it
// recovers and again when it folds, and they have rarely changed in
// between: the store remembers what the last parse of each file found
// besides its states, with the file's checksum, not its states (a map of
// every item is not held for the whole of a run). Without withStates, a
// file read as it was last parsed comes back with nil states, to be read
// with snapshot.loadStates only if they are needed; otherwise the states
// are there, and the caller's own.
func (s *Store) readSnapshot(path string, withStates bool) (snapshot, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return snapshot{states: map[string]json.RawMessage{}, from: FormatVersion}, nil
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("read state: %w", err)
	}
	sum := sha256.Sum256(data)
	s.cacheMu.Lock()
	cached, ok := s.parsed[path]
	s.cacheMu.Unlock()
	if ok && cached.sum == sum {
		snap := cached.snapshot
		snap.unknown = slices.Clone(cached.unknown) // callers change what they get
		snap.raw = data
		if withStates {
			if err := snap.loadStates(path); err != nil {
				return snapshot{}, err
			}
		}
		return snap, nil
	}
	snap, err := parseSnapshot(path, data, withStates)
	if err != nil {
		return snapshot{}, err
	}
	head := snap
	head.states, head.raw = nil, nil
	head.unknown = slices.Clone(snap.unknown)
	s.cacheMu.Lock()
	if s.parsed == nil {
		s.parsed = map[string]parsedSnapshot{}
	}
	s.parsed[path] = parsedSnapshot{snapshot: head, sum: sum}
	s.cacheMu.Unlock()
	return snap, nil
}

// parsedSnapshot is what the store remembers of a snapshot file it
// parsed: all but its states and bytes, and the checksum of those bytes.
type parsedSnapshot struct {
	snapshot
	sum [sha256.Size]byte
}

// loadStates parses the states of a snapshot that readSnapshot left
// without them; the file's bytes parsed before, so an error here means
// they changed in memory, which they do not.
func (snap *snapshot) loadStates(path string) error {
	if snap.states != nil {
		return nil
	}
	if snap.raw == nil {
		snap.states = map[string]json.RawMessage{}
		return nil
	}
	full, err := parseSnapshot(path, snap.raw, true)
	if err != nil {
		return err
	}
	snap.states = full.states
	return nil
}

// eachState hands each state of the snapshot to each (the ID is each's only
// during the call), in no set order:
// those of its map when it has one, otherwise as they are read from the
// file, which holds no map of them in memory when it is canonical.
func (snap *snapshot) eachState(path string, each func(id []byte, state json.RawMessage)) error {
	switch {
	case snap.states != nil:
		for id, state := range snap.states {
			each([]byte(id), state)
		}
	case snap.raw == nil:
	case snap.canonical:
		// Parsed before: its bytes are those of a canonical file, so the
		// states handed on are all of them, read as they were then.
		body, _, err := checkSum(snap.raw)
		if err != nil {
			return corrupt(path, err.Error())
		}
		if _, ok := decodeCanonicalEach(body, each); !ok {
			return corrupt(path, "it no longer reads as it did")
		}
	default:
		if err := snap.loadStates(path); err != nil {
			return err
		}
		return snap.eachState(path, each)
	}
	return nil
}

// parseSnapshot decodes data read from path; without withStates, the
// states of a canonical file are checked and left in data (snap.states is
// nil), not put in a map.
func parseSnapshot(path string, data []byte, withStates bool) (snapshot, error) {
	var skip func([]byte, json.RawMessage)
	if !withStates {
		skip = func([]byte, json.RawMessage) {}
	}
	snap, err := decodeSnapshotEach(data, skip)
	var verr *VersionError
	switch {
	case errors.As(err, &verr):
		verr.Path = path
		return snapshot{}, verr
	case err != nil:
		return snapshot{}, corrupt(path, err.Error())
	}
	snap.raw = data
	return snap, nil
}

// decodeSnapshot parses a snapshot of any supported version. Its errors,
// other than *VersionError (with Path unset), describe why data is corrupt.
func decodeSnapshot(data []byte) (snapshot, error) {
	return decodeSnapshotEach(data, nil)
}

// decodeSnapshotEach is decodeSnapshot handing each state of a canonical
// file to each, when it is not nil, rather than keeping them in a map (see
// decodeCanonicalEach); other files are read into a map all the same.
func decodeSnapshotEach(data []byte, each func(id []byte, state json.RawMessage)) (snapshot, error) {
	body, summed, err := checkSum(data)
	if err != nil {
		return snapshot{}, err
	}
	snap, ok := decodeCanonicalEach(body, each)
	if !ok {
		if snap, err = decodeSnapshotYAML(body); err != nil {
			return snap, err
		}
	}
	if snap.from >= 2 && !summed {
		return snapshot{}, errors.New("its checksum line is missing: it was cut short or edited")
	}
	return snap, nil
}

const checksumPrefix = "checksum: crc32c-"

// appendChecksum ends a snapshot with the checksum of everything before.
func appendChecksum(data []byte) []byte {
	sum := crc32.Checksum(data, castagnoli)
	data = append(data, checksumPrefix...)
	data = append(data, fmt.Sprintf("%08x", sum)...)
	return append(data, '\n')
}

// checkSum splits the checksum line off the end of data and checks it,
// returning what it covers. A file without one (versions 0 and 1, or one
// cut short) is returned whole, with summed false.
func checkSum(data []byte) (body []byte, summed bool, err error) {
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return data, false, nil
	}
	start := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	line := data[start : len(data)-1]
	if !bytes.HasPrefix(line, []byte("checksum:")) {
		return data, false, nil
	}
	hex, ok := bytes.CutPrefix(line, []byte(checksumPrefix))
	want, perr := strconv.ParseUint(string(hex), 16, 32)
	if !ok || len(hex) != 8 || perr != nil {
		return nil, false, fmt.Errorf("its checksum line %q is not one peace writes", line)
	}
	if got := crc32.Checksum(data[:start], castagnoli); got != uint32(want) {
		return nil, false, fmt.Errorf("its content does not match its checksum (crc32c %08x, recorded %08x)", got, want)
	}
	return data[:start], true, nil
}

// decodeSnapshotYAML reads a snapshot with a YAML parser: any version, any
// layout a person may have edited it into.
func decodeSnapshotYAML(data []byte) (snapshot, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return snapshot{}, err
	}
	if len(doc.Content) == 0 {
		return snapshot{}, errors.New("the file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return snapshot{}, fmt.Errorf("line %d: expected a mapping", root.Line)
	}
	version := 0
	if v := mappingValue(root, "version"); v != nil {
		n, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || err != nil || n < 0 {
			return snapshot{}, fmt.Errorf("line %d: version must be a whole number", v.Line)
		}
		version = n
	} else {
		for _, k := range laterKeys {
			if mappingValue(root, k) != nil {
				return snapshot{}, fmt.Errorf("it has no version line, yet holds %q, which version 0 files never did", k)
			}
		}
	}
	if version > FormatVersion {
		return snapshot{}, &VersionError{Found: version, Supported: FormatVersion}
	}
	for v := version; v < FormatVersion; v++ {
		var err error
		if root, err = snapshotMigrations[v](root); err != nil {
			return snapshot{}, fmt.Errorf("migrate from version %d: %w", v, err)
		}
	}
	snap, err := decodeSnapshotV2(root, len(data))
	snap.from = version
	return snap, err
}

func decodeSnapshotV2(root *yaml.Node, size int) (snapshot, error) {
	snap := snapshot{states: map[string]json.RawMessage{}}
	conv := nodeConverter{budget: 4*size + 1024}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i], root.Content[i+1]
		switch key.Value {
		case "states":
			if isNull(val) {
				continue
			}
			if val.Kind != yaml.MappingNode {
				return snap, fmt.Errorf("line %d: states must be a mapping of item ID to state", val.Line)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				k, v := val.Content[j], val.Content[j+1]
				if k.Kind != yaml.ScalarNode {
					return snap, fmt.Errorf("line %d: an item ID must be a plain string", k.Line)
				}
				if _, dup := snap.states[k.Value]; dup {
					return snap, fmt.Errorf("line %d: item %q is recorded twice", k.Line, k.Value)
				}
				state, err := conv.appendJSON(nil, v, 0)
				if err != nil {
					return snap, fmt.Errorf("line %d: state of %q: %w", v.Line, k.Value, err)
				}
				snap.states[k.Value] = safeJSON(state) // kept as normalizeState keeps states
			}
		case "unknown":
			if isNull(val) {
				continue
			}
			if val.Kind != yaml.SequenceNode {
				return snap, fmt.Errorf("line %d: unknown must be a list of item IDs", val.Line)
			}
			for _, n := range val.Content {
				if n.Kind != yaml.ScalarNode {
					return snap, fmt.Errorf("line %d: an item ID must be a plain string", n.Line)
				}
				snap.unknown = append(snap.unknown, n.Value)
			}
		case "groups":
			if isNull(val) {
				continue
			}
			if val.Kind != yaml.MappingNode {
				return snap, fmt.Errorf("line %d: groups must be a mapping of item ID to process groups", val.Line)
			}
			snap.groups = map[string][]ProcessGroup{}
			for j := 0; j+1 < len(val.Content); j += 2 {
				k, v := val.Content[j], val.Content[j+1]
				text, err := conv.appendJSON(nil, v, 0)
				if err != nil {
					return snap, fmt.Errorf("line %d: groups of %q: %w", v.Line, k.Value, err)
				}
				g, err := decodeGroups(text)
				if k.Kind != yaml.ScalarNode || err != nil {
					return snap, fmt.Errorf("line %d: groups of %q must be a list of {pgid, start}", v.Line, k.Value)
				}
				snap.groups[k.Value] = g
			}
		case "folded_journal":
			id, n := mappingValue(val, "id"), mappingValue(val, "bytes")
			if val.Kind != yaml.MappingNode || id == nil || n == nil {
				return snap, fmt.Errorf("line %d: folded_journal must have an id and bytes", val.Line)
			}
			b, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil || b < 0 {
				return snap, fmt.Errorf("line %d: folded_journal bytes must be a whole number", n.Line)
			}
			snap.folded = foldMark{journal: id.Value, bytes: b}
		}
	}
	slices.Sort(snap.unknown)
	snap.unknown = slices.Compact(snap.unknown)
	return snap, nil
}

// mappingValue returns the value under key in mapping m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// nodeConverter turns YAML nodes into compact JSON. Plain scalars that are
// JSON numbers keep their exact text, so numbers round-trip without loss.
type nodeConverter struct {
	budget int // nodes left to visit; aliases can otherwise expand without end
}

func (c *nodeConverter) appendJSON(dst []byte, n *yaml.Node, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
	}
	if c.budget--; c.budget < 0 {
		return nil, errors.New("too large once aliases are expanded")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return append(dst, "null"...), nil
		}
		return c.appendJSON(dst, n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, errors.New("an alias without its anchor")
		}
		return c.appendJSON(dst, n.Alias, depth+1)
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, e := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = c.appendJSON(dst, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k.Value)
			dst = append(dst, ':')
			var err error
			if dst, err = c.appendJSON(dst, n.Content[i+1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	case yaml.ScalarNode:
		return appendScalarJSON(dst, n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
}

func appendScalarJSON(dst []byte, n *yaml.Node) ([]byte, error) {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return appendJSONString(dst, n.Value), nil
	}
	// An untagged plain scalar in JSON's number grammar is a number, even
	// one beyond float64 (1E400) that YAML resolves as a string.
	if n.Style&yaml.TaggedStyle == 0 && isJSONNumber(n.Value) {
		return append(dst, n.Value...), nil
	}
	switch n.ShortTag() {
	case "!!null":
		return append(dst, "null"...), nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return strconv.AppendBool(dst, b), nil
	case "!!int", "!!float":
		// YAML spellings JSON lacks: 0x1f, 0o17, +1, .5, .inf.
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		if f, ok := v.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return appendJSONString(dst, n.Value), nil
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(dst, b...), nil
	}
	return appendJSONString(dst, n.Value), nil
}

// appendJSONString appends s as a JSON string, escaped exactly as
// encoding/json does, so states written by Go round-trip byte for byte.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// normalizeState checks that raw is one JSON document and returns it compact
// and in the form safeJSON gives, the form in which every state is kept.
func normalizeState(raw []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("state is not valid JSON: %w", err)
	}
	compact := buf.Bytes()
	if d := jsonDepth(compact); d > maxDepth {
		return nil, fmt.Errorf("state nests %d levels deep, more than %d", d, maxDepth)
	}
	return safeJSON(compact), nil
}

// jsonDepth returns the deepest nesting of arrays and objects in valid JSON.
func jsonDepth(s []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			if depth++; depth > deepest {
				deepest = depth
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return deepest
}

// safeJSON returns valid compact JSON s, or an equivalent text, such that
// YAML reads it as the same value: \/ becomes /, surrogate pair escapes
// become the character (a lone one U+FFFD, as JSON decoders do), invalid
// UTF-8 becomes U+FFFD, and raw characters YAML forbids or reads as line
// breaks are escaped. Most states need none of this and are returned as is.
func safeJSON(s []byte) []byte {
	if yamlSafe(s) {
		return s
	}
	out := make([]byte, 0, len(s)+16)
	inString := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case !inString:
			if c == '"' {
				inString = true
			}
			out = append(out, c)
			i++
		case c == '"':
			inString = false
			out = append(out, c)
			i++
		case c == '\\' && i+1 < len(s):
			switch s[i+1] {
			case '/':
				out = append(out, '/')
				i += 2
			case 'u':
				r, n := decodeEscape(s[i:])
				switch {
				case n == 0: // not an escape JSON allows; keep as is
					out = append(out, s[i:i+2]...)
					i += 2
				case r >= 0xd800 && r <= 0xdbff:
					if lo, m := decodeEscape(s[i+n:]); m > 0 && lo >= 0xdc00 && lo <= 0xdfff {
						out = utf8.AppendRune(out, 0x10000+(r-0xd800)<<10+(lo-0xdc00))
						i += n + m
					} else {
						out = append(out, `\ufffd`...)
						i += n
					}
				case r >= 0xdc00 && r <= 0xdfff:
					out = append(out, `\ufffd`...)
					i += n
				default:
					out = append(out, s[i:i+n]...)
					i += n
				}
			default:
				out = append(out, s[i:i+2]...)
				i += 2
			}
		case c < utf8.RuneSelf:
			if c == 0x7f {
				out = append(out, `\u007f`...)
			} else {
				out = append(out, c)
			}
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			switch {
			case r == utf8.RuneError && n <= 1:
				out = append(out, `\ufffd`...)
			case yamlUnsafe(r):
				out = fmt.Appendf(out, `\u%04x`, r)
			default:
				out = append(out, s[i:i+n]...)
			}
			i += n
		}
	}
	return out
}

// yamlSafe reports whether a YAML reader reads JSON text s as a JSON reader
// does, so that safeJSON has nothing to rewrite. Only string content can
// fail this; JSON has no backslashes or non-ASCII bytes elsewhere.
func yamlSafe(s []byte) bool {
	return yamlSafeFrom(s, plainASCII(s))
}

// plainASCII is how many bytes at the start of s, a multiple of eight, are
// certainly ASCII below DEL and no backslash: yamlSafe need not look at
// them one by one (the common state is all such bytes).
func plainASCII(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		// A byte of 0x7f or more sets its high bit here (a carry comes
		// only from 0xff, itself such a byte); a backslash becomes a zero
		// byte in b, which the second test finds.
		b := x ^ ('\\' * ones)
		if (x|(x+ones))&highs != 0 || (b-ones)&^b&highs != 0 {
			break
		}
	}
	return i
}

// yamlSafeFrom is yamlSafe looking from byte i, the bytes before it known
// to be safe.
func yamlSafeFrom(s []byte, i int) bool {
	for i < len(s) {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			switch s[i+1] {
			case '/':
				return false
			case 'u':
				r, n := decodeEscape(s[i:])
				if n == 0 || (r >= 0xd800 && r <= 0xdfff) {
					return false
				}
				i += n
				continue
			}
			i += 2
		case c == 0x7f:
			return false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if (r == utf8.RuneError && n <= 1) || yamlUnsafe(r) {
				return false
			}
			i += n
		}
	}
	return true
}

// decodeEscape decodes a \uXXXX escape at the start of s, returning the code
// unit and 6, or 0, 0 if s does not start with one.
func decodeEscape(s []byte) (rune, int) {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return 0, 0
	}
	v, err := strconv.ParseUint(string(s[2:6]), 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 6
}

// yamlUnsafe reports characters a YAML reader refuses or reads as a line
// break inside a quoted scalar.
func yamlUnsafe(r rune) bool {
	return r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 ||
		r == 0xfeff || r == 0xfffe || r == 0xffff
}

// decodeGroups reads the process groups of one item, as encodeSnapshot
// writes them.
func decodeGroups(text []byte) ([]ProcessGroup, error) {
	var g []ProcessGroup
	if err := json.Unmarshal(text, &g); err != nil {
		return nil, err
	}
	for _, pg := range g {
		if pg.Pgid <= 0 {
			return nil, fmt.Errorf("process group %d", pg.Pgid)
		}
	}
	return g, nil
}

// encodeSnapshot writes the snapshot file for states (each normalized, see
// normalizeState), unknown item IDs, their process groups and the fold mark,
// ending in its checksum. Keys are sorted, so equal states give equal files.
func encodeSnapshot(states map[string]json.RawMessage, unknown []string, groups map[string][]ProcessGroup, folded foldMark) []byte {
	snapshotEncodes.Add(1)
	keys := make([]string, 0, len(states))
	size := 64
	for k, v := range states {
		keys = append(keys, k)
		size += len(k) + len(v) + 5
	}
	slices.Sort(keys)
	out := make([]byte, 0, size)
	out = append(out, "version: "...)
	out = strconv.AppendInt(out, FormatVersion, 10)
	out = append(out, '\n')
	if folded.journal != "" {
		out = append(out, "folded_journal: {id: "...)
		out = appendYAMLKey(out, folded.journal)
		out = append(out, ", bytes: "...)
		out = strconv.AppendInt(out, folded.bytes, 10)
		out = append(out, "}\n"...)
	}
	if len(keys) == 0 {
		out = append(out, "states: {}\n"...)
	} else {
		out = append(out, "states:\n"...)
		for _, k := range keys {
			out = appendMapKey(out, k)
			out = appendYAMLFlow(out, safeJSON(states[k]))
			out = append(out, '\n')
		}
	}
	if len(unknown) > 0 {
		out = append(out, "unknown:\n"...)
		for _, k := range unknown {
			out = append(out, "  - "...)
			out = appendYAMLKey(out, k)
			out = append(out, '\n')
		}
	}
	if len(groups) > 0 {
		out = append(out, "groups:\n"...)
		for _, k := range slices.Sorted(maps.Keys(groups)) {
			text, _ := json.Marshal(groups[k]) // ints and strings always marshal
			out = appendMapKey(out, k)
			out = append(out, safeJSON(text)...)
			out = append(out, '\n')
		}
	}
	return appendChecksum(out)
}

// snapshotEncodes counts encodeSnapshot calls: a fold with nothing to
// change must not pay for one, and tests check that it does not.
var snapshotEncodes atomic.Int64

// appendMapKey starts the entry for item ID k in a block mapping, indented
// by two spaces, up to where its value goes.
func appendMapKey(out []byte, k string) []byte {
	out = append(out, "  "...)
	if plainKey(k) && len(k) <= maxImplicitKey { // the common case, without allocating
		out = append(out, k...)
		return append(out, ": "...)
	}
	if key := appendYAMLKey(nil, k); len(key) > maxImplicitKey {
		out = append(out, "? "...)
		out = append(out, key...)
		return append(out, "\n  : "...)
	}
	out = append(out, appendYAMLKey(nil, k)...)
	return append(out, ": "...)
}

// maxImplicitKey is the longest mapping key written plainly. YAML limits a
// key not marked with "? " to 1024 characters; a longer one is marked.
const maxImplicitKey = 1000

// appendYAMLFlow appends JSON text s (as safeJSON gives it) as YAML flow:
// the same text, except that an object key longer than maxImplicitKey is
// marked explicit with "? ".
func appendYAMLFlow(dst, s []byte) []byte {
	if len(s) <= maxImplicitKey {
		return append(dst, s...)
	}
	for i := 0; i < len(s); {
		if s[i] != '"' {
			dst = append(dst, s[i])
			i++
			continue
		}
		end, long := stringAt(s, i)
		if long {
			dst = append(dst, "? "...)
		}
		dst = append(dst, s[i:end]...)
		i = end
	}
	return dst
}

// hasLongKey reports whether compact JSON text s has an object key that
// appendYAMLFlow would mark explicit: only then does its YAML reading need
// the YAML parser.
func hasLongKey(s []byte) bool {
	if len(s) <= maxImplicitKey {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			end, long := stringAt(s, i)
			if long {
				return true
			}
			i = end - 1
		}
	}
	return false
}

// stringAt scans the JSON string starting at s[i] == '"' and returns where
// it ends and whether it is an object key longer than maxImplicitKey.
func stringAt(s []byte, i int) (end int, longKey bool) {
	end = i + 1
	for end < len(s) && s[end] != '"' {
		if s[end] == '\\' {
			end++
		}
		end++
	}
	end = min(end+1, len(s))
	// In compact JSON only a key is followed by a colon.
	return end, end-i > maxImplicitKey && end < len(s) && s[end] == ':'
}

// appendYAMLKey writes an item ID plainly when YAML reads it back as that
// same string in every common reader, and as a quoted string otherwise.
func appendYAMLKey(dst []byte, k string) []byte {
	if plainKey(k) {
		return append(dst, k...)
	}
	return append(dst, safeJSON(appendJSONString(nil, k))...)
}

func plainKey(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	switch k {
	case "null", "true", "false", "yes", "no", "on", "off", "y", "n":
		return false
	}
	return true
}

// writeFileAtomic replaces path with data so that a reader, or the file
// after a crash, has the old content or the new, never a mix or nothing
// (durable.WriteFile).
func writeFileAtomic(path string, data []byte) error {
	if err := durable.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}
