package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/internal/durable"
)

// The item specs file, items.yaml, keeps each recorded item's type, its
// params as the flow file resolved them and its dependencies, so that an
// item which left the flow can still be built and cleaned:
//
//	version: 1
//	ids_sum: sha256-…
//	specs_sum: sha256-…
//	items:
//	  greeting:
//	    type: file
//	    params: {path: out/greeting.txt, content: "hello\n"}
//	    depends_on: [out_dir]
//	checksum: crc32c-1a2b3c4d
//
// Like the snapshots, it ends in the CRC-32C of every byte before its
// checksum line; a file cut short or edited is corrupt (P7), and one
// without its version line is corrupt too, not old (P6).
//
// Its first lines carry two digests, of its item IDs and of all it says
// of them (SumItemSpecs): a run reads them, not the items, to tell that the
// file names only the flow's items and that it would not change, so a run
// with nothing new neither decodes nor encodes it. They are optional: a
// file written without them (by an older peace) is decoded as before and
// gets them when next written, and an older peace reading one ignores them.
const (
	itemSpecsFile = "items.yaml"
	// ItemSpecsVersion is the format version of items.yaml.
	ItemSpecsVersion = 1
)

// ItemSpec is what builds a recorded item again: its type, its params as
// resolved when it was last recorded, and the items it depended on.
type ItemSpec struct {
	Type      string
	Params    *yaml.Node // a mapping; nil for none
	DependsOn []string
}

// itemSpecsDoc is items.yaml as YAML.
type itemSpecsDoc struct {
	Version  *int                   `yaml:"version"`
	IDsSum   string                 `yaml:"ids_sum,omitempty"`
	SpecsSum string                 `yaml:"specs_sum,omitempty"`
	Items    map[string]itemSpecDoc `yaml:"items"`
}

type itemSpecDoc struct {
	Type      string    `yaml:"type"`
	Params    yaml.Node `yaml:"params,omitempty"`
	DependsOn []string  `yaml:"depends_on,flow,omitempty"`
}

func (s *Store) itemSpecsPath() string { return filepath.Join(s.dir, itemSpecsFile) }

// ItemSpecs reads items.yaml: item ID → spec. A missing file is no specs
// (a workspace older than the file). A corrupt file is a *CorruptError: a
// writer (holding the lock) moves it aside and gets no specs with the
// error, so it can say so and carry on; a reader leaves it where it is. A
// newer version is a *VersionError, and the file is left as it is.
func (s *Store) ItemSpecs(writer bool) (map[string]ItemSpec, error) {
	path := s.itemSpecsPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]ItemSpec{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read item specs: %w", err)
	}
	specs, err := decodeItemSpecs(path, data)
	if err != nil {
		var cerr *CorruptError
		if writer && errors.As(err, &cerr) {
			return map[string]ItemSpec{}, setAside(err)
		}
		return nil, err
	}
	return specs, nil
}

// ItemSpecsSums is what items.yaml says of itself in its first lines,
// read without decoding its items.
type ItemSpecsSums struct {
	// Missing: there is no items.yaml, so no specs.
	Missing bool
	// IDs and Specs are the file's digests (SumItemSpecs); both are empty
	// when it has none, or when it fails its checksum or is of another
	// version: then only ItemSpecs can say what it holds.
	IDs, Specs string
}

// ItemSpecsSums reads the digests at the head of items.yaml, after checking
// the whole file against its checksum. It never fails: a file it cannot
// vouch for has no sums, and ItemSpecs tells what is wrong with it.
func (s *Store) ItemSpecsSums() ItemSpecsSums {
	data, err := os.ReadFile(s.itemSpecsPath())
	if errors.Is(err, os.ErrNotExist) {
		return ItemSpecsSums{Missing: true}
	}
	if err != nil {
		return ItemSpecsSums{}
	}
	return headSums(data)
}

// headSums reads the sums from the first lines of an items.yaml that passes
// its checksum and is of this version, written the way WriteItemSpecs
// writes it.
func headSums(data []byte) ItemSpecsSums {
	body, summed, err := checkSum(data)
	if err != nil || !summed {
		return ItemSpecsSums{}
	}
	rest, ok := bytes.CutPrefix(body, []byte(fmt.Sprintf("version: %d\n", ItemSpecsVersion)))
	if !ok {
		return ItemSpecsSums{}
	}
	line := func(key string) string {
		l, r, found := bytes.Cut(rest, []byte{'\n'})
		v, ok := bytes.CutPrefix(l, []byte(key+": "+sumPrefix))
		if !found || !ok {
			return ""
		}
		rest = r
		return sumPrefix + string(v)
	}
	ids := line("ids_sum")
	specs := line("specs_sum")
	if ids == "" || specs == "" {
		return ItemSpecsSums{}
	}
	return ItemSpecsSums{IDs: ids, Specs: specs}
}

// WriteItemSpecs replaces items.yaml with specs, atomically (temp file,
// fsync, rename, directory fsync). A file that would not change is not
// rewritten, and is told by its digests without encoding specs. Call it
// only while holding the lock.
func (s *Store) WriteItemSpecs(specs map[string]ItemSpec) error {
	path := s.itemSpecsPath()
	ids, sum := SumItemSpecs(specs)
	old, err := os.ReadFile(path)
	if err == nil {
		if h := headSums(old); h.IDs == ids && h.Specs == sum {
			return nil
		}
	}
	data, err := encodeItemSpecs(specs)
	if err != nil {
		return err
	}
	if bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("write item specs: %w", err)
	}
	if err := durable.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write item specs: %w", err)
	}
	return nil
}

func encodeItemSpecs(specs map[string]ItemSpec) ([]byte, error) {
	v := ItemSpecsVersion
	doc := itemSpecsDoc{Version: &v, Items: make(map[string]itemSpecDoc, len(specs))}
	doc.IDsSum, doc.SpecsSum = SumItemSpecs(specs)
	for id, sp := range specs {
		d := itemSpecDoc{Type: sp.Type, DependsOn: sp.DependsOn}
		if sp.Params != nil {
			d.Params = *sp.Params
		}
		doc.Items[id] = d
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode item specs: %w", err)
	}
	return appendChecksum(body), nil
}

func decodeItemSpecs(path string, data []byte) (map[string]ItemSpec, error) {
	// The snapshots' checksum line, the same way.
	body, summed, err := checkSum(data)
	if err != nil {
		return nil, corrupt(path, err.Error())
	}
	if !summed {
		return nil, corrupt(path, "its checksum line is missing: it was cut short or edited")
	}
	var doc itemSpecsDoc
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, corrupt(path, err.Error())
	}
	switch {
	case doc.Version == nil:
		return nil, corrupt(path, "its version line is missing")
	case *doc.Version > ItemSpecsVersion:
		return nil, &VersionError{Path: path, Found: *doc.Version, Supported: ItemSpecsVersion}
	case *doc.Version < 1:
		return nil, corrupt(path, fmt.Sprintf("it has version %d, which peace never wrote", *doc.Version))
	}
	specs := make(map[string]ItemSpec, len(doc.Items))
	for id, d := range doc.Items {
		if d.Type == "" {
			return nil, corrupt(path, fmt.Sprintf("item %s has no type", id))
		}
		sp := ItemSpec{Type: d.Type, DependsOn: d.DependsOn}
		if d.Params.Kind != 0 {
			p := d.Params
			sp.Params = &p
		}
		specs[id] = sp
	}
	return specs, nil
}

// sumPrefix starts every digest items.yaml carries.
const sumPrefix = "sha256-"

// SumItemIDs is the digest of a set of item IDs, in any order: the ids_sum
// of an items.yaml that holds the specs of exactly these items.
func SumItemIDs(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	var b []byte
	for _, id := range ids {
		b = appendString(b, id)
	}
	return sumOf(b)
}

// SumItemSpecs is the digest of specs' IDs (SumItemIDs) and of all that
// specs say: each item's type, dependencies and params, node by node (kind,
// resolved tag, value; not the style or comments they are written in).
func SumItemSpecs(specs map[string]ItemSpec) (ids, content string) {
	keys := slices.Sorted(maps.Keys(specs))
	var b []byte
	for _, id := range keys {
		sp := specs[id]
		b = appendString(b, id)
		b = appendString(b, sp.Type)
		b = appendInt(b, len(sp.DependsOn))
		for _, d := range sp.DependsOn {
			b = appendString(b, d)
		}
		b = appendNode(b, sp.Params, 0)
	}
	return SumItemIDs(keys), sumOf(b)
}

func sumOf(b []byte) string {
	h := sha256.Sum256(b)
	return sumPrefix + hex.EncodeToString(h[:])
}

func appendInt(b []byte, n int) []byte {
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}

func appendString(b []byte, s string) []byte {
	return append(appendInt(b, len(s)), s...)
}

// appendNode appends n; an alias is followed (to a bounded depth, as
// params that alias themselves never build an item).
func appendNode(b []byte, n *yaml.Node, depth int) []byte {
	if n == nil || depth > 100 {
		return appendInt(b, -1)
	}
	if n.Kind == yaml.AliasNode {
		return appendNode(b, n.Alias, depth+1)
	}
	b = appendInt(b, int(n.Kind))
	b = appendString(b, n.ShortTag())
	b = appendString(b, n.Value)
	b = appendInt(b, len(n.Content))
	for _, c := range n.Content {
		b = appendNode(b, c, depth+1)
	}
	return b
}
