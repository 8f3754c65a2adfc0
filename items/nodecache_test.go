package items

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// mapCache is a NodeCache in memory that counts its calls.
type mapCache struct {
	m          map[string][]byte
	gets, puts int
}

func newMapCache() *mapCache { return &mapCache{m: map[string][]byte{}} }

func (c *mapCache) Get(key string) []byte { c.gets++; return c.m[key] }
func (c *mapCache) Put(key string, data []byte) {
	c.puts++
	c.m[key] = bytes.Clone(data)
}

// nodesFlow has every node field yaml.v3 fills: anchors, aliases, comments
// everywhere, every scalar style, tags, flow and block collections.
const nodesFlow = `# head of the document
flow: nodes # after the ID
params:
  greeting: &g "hello"   # a quoted anchor
  other: 'single'
profiles:
  loud: {greeting: HELLO}
# before the items
items:
  - &base
    id: a
    type: note
    params:
      text: |
        literal
        block
      tags: !!seq [x, "y", 'z']
  - id: b
    type: note
    depends_on: [a]
    params:
      text: >-
        folded
        text
      times: 0x10
  - id: c
    type: note
    params:
      text: *g
      tags: ["${params.greeting}", "${profile}", plain, 1.5, true]
  - {id: d, type: marker}
  - {id: e, type: note, params: {text: "from ${items.c.state}"}}
  # foot of the list
`

// parseDoc is the tree yaml.v3 makes of data, and whether data is one
// document it parses.
func parseDoc(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, false
	}
	if err := dec.Decode(&next); err != io.EOF {
		return nil, false
	}
	return &doc, true
}

// nodeSamples are flow files, good and bad, and the fuzz corpus of Parse.
func nodeSamples(t *testing.T) map[string][]byte {
	t.Helper()
	samples := map[string][]byte{"goodFlow": []byte(goodFlow), "nodesFlow": []byte(nodesFlow)}
	for _, tc := range badFlows {
		samples["bad/"+tc.name] = []byte(tc.src)
	}
	corpus, _ := filepath.Glob("testdata/fuzz/FuzzParse/*")
	for _, p := range corpus {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		samples["corpus/"+filepath.Base(p)] = b
	}
	return samples
}

func TestNodesRoundTrip(t *testing.T) {
	n := 0
	for name, data := range nodeSamples(t) {
		doc, ok := parseDoc(data)
		if !ok {
			if name == "nodesFlow" || name == "goodFlow" {
				t.Fatalf("%s does not parse", name)
			}
			continue
		}
		n++
		sum := flowSum(data)
		enc, ok := encodeNodes(doc, sum)
		if !ok {
			t.Fatalf("%s: not encoded", name)
		}
		got, ok := decodeNodes(enc, sum)
		if !ok {
			t.Fatalf("%s: its own encoding does not decode", name)
		}
		if !reflect.DeepEqual(got, doc) {
			t.Errorf("%s: decoded tree differs from the parsed one", name)
		}
		if _, ok := decodeNodes(enc, flowSum(append(data, ' '))); ok {
			t.Errorf("%s: decoded for other bytes", name)
		}
	}
	if n < 10 {
		t.Fatalf("only %d samples parse", n)
	}
	// The anchors and aliases are the decoded tree's own nodes.
	data := []byte(nodesFlow)
	doc, _ := parseDoc(data)
	enc, _ := encodeNodes(doc, flowSum(data))
	got, _ := decodeNodes(enc, flowSum(data))
	var alias *yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			alias = n
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(got)
	if alias == nil || alias.Alias == nil || alias.Alias.Anchor != "g" || alias.Alias.Value != "hello" {
		t.Fatalf("alias = %+v", alias)
	}
	if alias.Alias == doc.Content[0].Content[3].Content[1] {
		t.Fatal("alias points into the tree that was encoded")
	}
	if got.Content[0].Content[3].Content[1] != alias.Alias {
		t.Fatal("alias does not point at its anchor's node")
	}
}

func TestNodesDamaged(t *testing.T) {
	data := []byte(goodFlow)
	doc, _ := parseDoc(data)
	sum := flowSum(data)
	enc, _ := encodeNodes(doc, sum)
	for i := 0; i < len(enc); i++ {
		if _, ok := decodeNodes(enc[:i], sum); ok {
			t.Fatalf("decoded when cut to %d of %d bytes", i, len(enc))
		}
		flipped := bytes.Clone(enc)
		flipped[i] ^= 0x10
		if _, ok := decodeNodes(flipped, sum); ok {
			t.Fatalf("decoded with byte %d changed", i)
		}
	}
	// Another format version, checksum made right: not taken.
	other := bytes.Clone(enc[:len(enc)-4])
	if other[len(nodesMagic)] != nodesVersion {
		t.Fatal("version not where expected")
	}
	other[len(nodesMagic)] = nodesVersion + 1
	other = appendCRC(other)
	if _, ok := decodeNodes(other, sum); ok {
		t.Fatal("decoded another format version")
	}
}

func appendCRC(b []byte) []byte { return append(b, crcBytes(b)...) }

func crcBytes(b []byte) []byte {
	return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, nodesCRC))
}

// sameFlow fails unless a and b have the same items, dependencies, specs
// and params.
func sameFlow(t *testing.T, name string, a, b *Flow) {
	t.Helper()
	if !reflect.DeepEqual(a.IDs(), b.IDs()) || a.ID != b.ID || a.Profile != b.Profile || !reflect.DeepEqual(a.Params, b.Params) {
		t.Fatalf("%s: flows differ: %v %v", name, a.IDs(), b.IDs())
	}
	for _, id := range a.IDs() {
		if !reflect.DeepEqual(a.Deps(id), b.Deps(id)) {
			t.Errorf("%s: deps of %s differ", name, id)
		}
		sa, oka := a.Spec(id)
		sb, okb := b.Spec(id)
		if oka != okb || sa.Type != sb.Type || !reflect.DeepEqual(sa.Params, sb.Params) {
			t.Errorf("%s: spec of %s differs", name, id)
		}
	}
}

func TestParseThroughCache(t *testing.T) {
	reg := testRegistry()
	for _, opts := range [][]LoadOption{nil, {WithProfile("loud")}, {WithParams(map[string]string{"greeting": "hi"})}} {
		plain, err := Parse("nodes.yaml", []byte(nodesFlow), "/flows", reg, opts...)
		if err != nil {
			t.Fatal(err)
		}
		c := newMapCache()
		withCache := append([]LoadOption{WithCache(c)}, opts...)
		first, err := Parse("nodes.yaml", []byte(nodesFlow), "/flows", reg, withCache...)
		if err != nil {
			t.Fatal(err)
		}
		if c.puts != 1 || c.m["nodes.yaml"] == nil {
			t.Fatalf("puts = %d, cached %v", c.puts, c.m)
		}
		second, err := Parse("nodes.yaml", []byte(nodesFlow), "/flows", reg, withCache...)
		if err != nil {
			t.Fatal(err)
		}
		if c.puts != 1 || c.gets != 2 {
			t.Fatalf("after a hit: gets %d puts %d, want 2 and 1", c.gets, c.puts)
		}
		sameFlow(t, "first", plain, first)
		sameFlow(t, "second", plain, second)
	}
}

func TestParseCacheOfOtherBytes(t *testing.T) {
	reg := testRegistry()
	c := newMapCache()
	if _, err := Parse("flow.yaml", []byte(goodFlow), "/flows", reg, WithCache(c)); err != nil {
		t.Fatal(err)
	}
	// The file changes: the tree cached for its old bytes is not used.
	f, err := Parse("flow.yaml", []byte(nodesFlow), "/flows", reg, WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != "nodes" || c.puts != 2 {
		t.Fatalf("flow %q after %d puts", f.ID, c.puts)
	}
	// A damaged entry is parsed anew and replaced.
	c.m["flow.yaml"] = c.m["flow.yaml"][:100]
	if f, err = Parse("flow.yaml", []byte(nodesFlow), "/flows", reg, WithCache(c)); err != nil || f.ID != "nodes" {
		t.Fatalf("flow %v, err %v", f, err)
	}
	if c.puts != 3 {
		t.Fatalf("puts = %d, want 3", c.puts)
	}
}

// A flow with mistakes is never cached, and a tree cached for its bytes
// (put there by hand) gives the very errors parsing gives.
func TestParseCacheErrors(t *testing.T) {
	reg := testRegistry()
	n := 0
	for _, tc := range badFlows {
		data := []byte(tc.src)
		c := newMapCache()
		_, want := Parse("flow.yaml", data, "/flows", reg, WithCache(c))
		if want == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		if c.puts != 0 {
			t.Fatalf("%s: a flow with mistakes was cached", tc.name)
		}
		doc, ok := parseDoc(data)
		if !ok {
			continue
		}
		enc, ok := encodeNodes(doc, flowSum(data))
		if !ok {
			t.Fatalf("%s: not encoded", tc.name)
		}
		c.m["flow.yaml"] = enc
		_, got := Parse("flow.yaml", data, "/flows", reg, WithCache(c))
		if got == nil || got.Error() != want.Error() {
			t.Errorf("%s: through the cache:\n%v\nwant\n%v", tc.name, got, want)
		}
		var ie *InputError
		if !errors.As(got, &ie) {
			t.Errorf("%s: %T", tc.name, got)
		}
		n++
	}
	if n < 5 {
		t.Fatalf("only %d bad flows parse as YAML", n)
	}
}

func FuzzDecodeNodes(f *testing.F) {
	data := []byte(nodesFlow)
	doc, _ := parseDoc(data)
	sum := flowSum(data)
	enc, _ := encodeNodes(doc, sum)
	f.Add(enc)
	f.Add(enc[:len(enc)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		// Any bytes whose checksum holds: no panic, and a tree only for a
		// well-formed encoding, which encodes to one of the same tree.
		if len(b) > 4 {
			b = append(b[:len(b)-4:len(b)-4], crcBytes(b[:len(b)-4])...)
		}
		got, ok := decodeNodes(b, sum)
		if !ok {
			return
		}
		again, ok := encodeNodes(got, sum)
		if !ok {
			return
		}
		if back, ok := decodeNodes(again, sum); !ok || !reflect.DeepEqual(back, got) {
			t.Fatalf("decoded tree encodes to another tree")
		}
	})
}

func TestNodesYAMLVersion(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mod, []byte("gopkg.in/yaml.v3 "+yamlModuleVersion+"\n")) {
		t.Fatalf("go.mod requires another yaml.v3 than %s: change yamlModuleVersion with it", yamlModuleVersion)
	}
	// The test binary is built from this go.mod: its build information
	// names the same yaml.v3, and the cache keys on what is linked.
	if yamlVersion != yamlModuleVersion {
		t.Errorf("linked yaml.v3 %q, go.mod %q", yamlVersion, yamlModuleVersion)
	}
}
