package items

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"runtime/debug"

	"gopkg.in/yaml.v3"
)

// A flow file is parsed into yaml.v3's node tree, the slowest part of a
// load: a run whose flow has not changed can take the tree from a cache
// instead (WithCache). The cache holds the tree as yaml.v3 built it, every
// field of every node, so the loader sees exactly what parsing would give
// and reports every mistake at the same line and column. It is keyed by the
// file's content hash, the cache's format version and the yaml.v3 version
// peace was built with; anything else that changes a load (profile, params,
// item types) acts on the tree afterwards and is not cached.
//
// The cached form, all integers unsigned varints:
//
//	magic "peace-nodes", format version, len + yaml.v3 version,
//	sha256 of the flow file (32 bytes), number of nodes, number of
//	content links, then each node in preorder: kind, style, line, column,
//	alias (1 + the aliased node's index, 0 for none), number of children,
//	then tag, value, anchor, head, line and foot comments, each len +
//	bytes; last, the CRC-32C of every byte before it (4 bytes, big-endian).

// NodeCache keeps parsed flow files between loads. Get returns what Put
// stored under key, or nil; Put may drop what it is given. A Get may return
// anything at all (a file from another version, damaged): the loader checks
// it, and parses the file when it is not a tree of these very bytes.
type NodeCache interface {
	Get(key string) []byte
	Put(key string, data []byte)
}

// WithCache loads the flow through a cache of parsed flow files, keyed by
// the file's name (the cache holds one tree per name). Only a file that
// loads without a mistake is put in it.
func WithCache(c NodeCache) LoadOption {
	return func(o *loadOptions) { o.cache = c }
}

const (
	nodesMagic   = "peace-nodes"
	nodesVersion = 1
)

var nodesCRC = crc32.MakeTable(crc32.Castagnoli)

// yamlModuleVersion is the version of yaml.v3 go.mod requires (a test
// holds the two together).
const yamlModuleVersion = "v3.0.1"

// yamlVersion is the yaml.v3 this binary is linked with, as its build
// information says (a program importing peace may link another, or replace
// it), else go.mod's: a tree another version built is parsed anew, never
// taken for this one's.
var yamlVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path != "gopkg.in/yaml.v3" {
				continue
			}
			if m.Replace != nil {
				return m.Replace.Path + "@" + m.Replace.Version
			}
			return m.Version
		}
	}
	return yamlModuleVersion
}()

// encodeNodes returns the cached form of the tree under doc, parsed from
// a file whose sha256 is sum; false when it cannot be cached.
func encodeNodes(doc *yaml.Node, sum [32]byte) ([]byte, bool) {
	index := map[*yaml.Node]int{}
	var order []*yaml.Node
	links := 0
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n == nil {
			return false
		}
		if _, seen := index[n]; seen {
			return false // a node twice in the tree: not one yaml.v3 builds
		}
		index[n] = len(order)
		order = append(order, n)
		links += len(n.Content)
		for _, c := range n.Content {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	if !walk(doc) {
		return nil, false
	}
	b := make([]byte, 0, 64+len(order)*24)
	b = append(b, nodesMagic...)
	b = binary.AppendUvarint(b, nodesVersion)
	b = appendString(b, yamlVersion)
	b = append(b, sum[:]...)
	b = binary.AppendUvarint(b, uint64(len(order)))
	b = binary.AppendUvarint(b, uint64(links))
	for _, n := range order {
		alias := 0
		if n.Alias != nil {
			i, ok := index[n.Alias]
			if !ok {
				return nil, false
			}
			alias = i + 1
		}
		b = binary.AppendUvarint(b, uint64(n.Kind))
		b = binary.AppendUvarint(b, uint64(n.Style))
		b = binary.AppendUvarint(b, uint64(n.Line))
		b = binary.AppendUvarint(b, uint64(n.Column))
		b = binary.AppendUvarint(b, uint64(alias))
		b = binary.AppendUvarint(b, uint64(len(n.Content)))
		for _, s := range []string{n.Tag, n.Value, n.Anchor, n.HeadComment, n.LineComment, n.FootComment} {
			b = appendString(b, s)
		}
		if n.Line < 0 || n.Column < 0 {
			return nil, false
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, nodesCRC)), true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeNodes returns the tree cached in data if data is the cached form,
// by this very format and parser, of a file whose sha256 is sum.
func decodeNodes(data []byte, sum [32]byte) (*yaml.Node, bool) {
	if len(data) < len(nodesMagic)+4 || string(data[:len(nodesMagic)]) != nodesMagic {
		return nil, false
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, nodesCRC) != binary.BigEndian.Uint32(data[len(body):]) {
		return nil, false
	}
	// The strings share one copy of the body.
	r := nodeReader{s: string(body), off: len(nodesMagic)}
	if r.uint() != nodesVersion || r.str() != yamlVersion || r.bad {
		return nil, false
	}
	if r.off+32 > len(r.s) || r.s[r.off:r.off+32] != string(sum[:]) {
		return nil, false
	}
	r.off += 32
	count, links := r.uint(), r.uint()
	// Every node takes at least 12 bytes, every link is a node but the first.
	if r.bad || count == 0 || count > uint64(len(body))/12 || links != count-1 {
		return nil, false
	}
	nodes := make([]yaml.Node, count)
	content := make([]*yaml.Node, links)
	// Preorder: a node's children follow it, each after the subtree of the
	// one before. stack holds the nodes whose children are still to come.
	type open struct {
		n    *yaml.Node
		left int
	}
	var stack []open
	next := 0 // the next free slot of content
	for i := range nodes {
		n := &nodes[i]
		if i > 0 {
			if len(stack) == 0 {
				return nil, false
			}
			top := &stack[len(stack)-1]
			top.n.Content = append(top.n.Content, n)
			if top.left--; top.left == 0 {
				stack = stack[:len(stack)-1]
			}
		}
		kind, style, line, col, alias, children := r.uint(), r.uint(), r.uint(), r.uint(), r.uint(), r.uint()
		if r.bad || kind > uint64(yaml.AliasNode) || style >= 2*uint64(yaml.FlowStyle) ||
			line > 1<<31 || col > 1<<31 || alias > count || children > links-uint64(next) {
			return nil, false
		}
		n.Kind, n.Style, n.Line, n.Column = yaml.Kind(kind), yaml.Style(style), int(line), int(col)
		if alias > 0 {
			n.Alias = &nodes[alias-1]
		}
		n.Tag, n.Value, n.Anchor = r.str(), r.str(), r.str()
		n.HeadComment, n.LineComment, n.FootComment = r.str(), r.str(), r.str()
		if children > 0 {
			c := int(children)
			n.Content = content[next : next : next+c]
			next += c
			stack = append(stack, open{n: n, left: c})
		}
	}
	if r.bad || r.off != len(r.s) || len(stack) != 0 || next != len(content) {
		return nil, false
	}
	return &nodes[0], true
}

// nodeReader reads the cached form; bad is set by the first read past its
// end, and every read after it returns zero.
type nodeReader struct {
	s   string
	off int
	bad bool
}

func (r *nodeReader) uint() uint64 {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		if r.off >= len(r.s) {
			r.bad = true
			return 0
		}
		c := r.s[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.bad = true
	return 0
}

func (r *nodeReader) str() string {
	n := r.uint()
	if r.bad || n > uint64(len(r.s)-r.off) {
		r.bad = true
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// flowSum is the key a flow file's tree is cached under.
func flowSum(data []byte) [32]byte { return sha256.Sum256(data) }
