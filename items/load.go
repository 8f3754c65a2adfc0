package items

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The keys a flow file may use, in the order messages list them.
var (
	flowKeys = []string{"flow", "params", "profiles", "items"}
	itemKeys = []string{"id", "type", "depends_on", "params"}
)

// Load reads and validates the flow file at path with the item types of reg.
// Every mistake in the file is an *InputError naming its line and column;
// when there are several they are joined with errors.Join, in file order.
// A file that cannot be read is a wrapped os error. Loading writes nothing
// itself (a NodeCache given with WithCache may).
//
// The flow params' values come from the file's params (defaults), then the
// profile's entry in profiles (WithProfile), then WithParams; they replace
// the references in the items' params (see Type.New).
func Load(path string, reg *Registry, opts ...LoadOption) (*Flow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("flow file: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("flow file %s: %w", path, err)
	}
	return Parse(path, data, dir, reg, opts...)
}

// Parse is Load on the bytes of a flow file already read: name is the file
// errors and Flow.File name, dir the directory relative paths resolve
// against (Flow.Dir and the Env item types are built with).
func Parse(name string, data []byte, dir string, reg *Registry, opts ...LoadOption) (*Flow, error) {
	if dir != "" && !filepath.IsAbs(dir) {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("flow file %s: %w", name, err)
		}
		dir = abs
	}
	if reg == nil {
		reg = NewRegistry()
	}
	l := &loader{name: name, data: data, reg: reg, env: Env{Dir: dir}}
	for _, o := range opts {
		o(&l.opts)
	}
	f := l.load()
	if len(l.errs) > 0 {
		return nil, l.err()
	}
	if l.encoded != nil {
		l.opts.cache.Put(name, l.encoded)
	}
	f.File, f.Dir, f.Profile, f.Params = name, dir, l.profile, l.values
	return f, nil
}

// loader holds what one Parse has found so far. It keeps going after a
// mistake so that one run reports every mistake it can.
type loader struct {
	name string
	data []byte
	reg  *Registry
	env  Env
	opts loadOptions
	errs []*InputError
	// encoded is the document parsed because the cache did not have it,
	// in the cache's form, taken before anything could change it.
	encoded []byte

	flowID     ID
	values     map[string]string // the flow params' values for this run
	paramNames []string          // in file order
	paramsNode *yaml.Node
	profile    string

	byID     map[ID]*decl
	declared map[ID]bool // malformed and repeated IDs too
	ids      []string    // the well-formed IDs, for "did you mean"
	// implied holds, for each dependency a reference implies, the first
	// reference that implies it: a cycle it closes is reported there.
	implied map[[2]ID]itemRef
}

// decl is an item as declared, before its type has built it.
type decl struct {
	n        int        // 1-based position in the list, for items without a usable ID
	node     *yaml.Node // the item's mapping
	idNode   *yaml.Node
	id       ID
	idOK     bool // id is well-formed and not used by an earlier item
	typeNode *yaml.Node
	deps     []*yaml.Node
	params   *yaml.Node
	refs     []itemRef // references to other items' states, in its params
	spec     *Spec     // its type and params after interpolation, once built
}

// label names the item in messages: by its ID when it has one, else by its
// position in the list.
func (d *decl) label() string {
	if d.idNode != nil && d.idNode.Kind == yaml.ScalarNode && !isNull(d.idNode) {
		return fmt.Sprintf("item %q", d.idNode.Value)
	}
	return fmt.Sprintf("item #%d", d.n)
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	l.errs = append(l.errs, atNode(n, format, args...))
}

// add records an error an item type returned, which may be several joined
// errors; those without a position get the one of fallback. Types name the
// item in their own messages ("item b: ..."), so nothing is prefixed here.
func (l *loader) add(err error, fallback *yaml.Node) {
	if errs, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range errs.Unwrap() {
			l.add(e, fallback)
		}
		return
	}
	var ie *InputError
	switch {
	case errors.As(err, &ie) && err == error(ie):
		e := *ie
		ie = &e
	case errors.As(err, &ie):
		// Keep the context the type wrapped around it, once, without the
		// position the inner error would print.
		e := *ie
		e.Msg = strings.Replace(err.Error(), ie.Error(), ie.Msg, 1)
		ie = &e
	default:
		ie = atNode(nil, "%v", err)
	}
	if ie.Line == 0 && fallback != nil {
		ie.Line, ie.Col = fallback.Line, fallback.Column
	}
	l.errs = append(l.errs, ie)
}

// err returns the errors found, in file order, with the file name filled in.
func (l *loader) err() error {
	slices.SortStableFunc(l.errs, func(a, b *InputError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	errs := make([]error, len(l.errs))
	for i, e := range l.errs {
		if e.File == "" {
			e.File = l.name
		}
		errs[i] = e
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// load checks the whole file and returns the flow, which is only complete
// when no error was recorded.
func (l *loader) load() *Flow {
	top := l.document()
	if top == nil {
		return nil
	}
	var flowNode, itemsNode, paramsNode, profilesNode *yaml.Node
	l.mapping(top, flowKeys, "", func(key string, v *yaml.Node) {
		switch key {
		case "flow":
			flowNode = v
		case "params":
			paramsNode = v
		case "profiles":
			profilesNode = v
		case "items":
			itemsNode = v
		}
	})
	if flowNode == nil {
		l.errorf(top, `missing key "flow" (the flow's ID)`)
	}
	if itemsNode == nil {
		l.errorf(top, `missing key "items" (the list of items)`)
	}
	fid, flowOK := l.id(flowNode, flowID)
	l.flowID = fid
	l.flowParams(paramsNode)
	l.profiles(profilesNode)
	l.env.Flow, l.env.Profile, l.env.Params = fid, l.profile, l.values
	decls := l.items(itemsNode)

	// Graph checks need every ID; an item whose type failed to build still
	// takes part, so a cycle is reported together with its params mistakes.
	byID := map[ID]*decl{}
	declared := map[ID]bool{} // malformed IDs too, so they are not also unknown
	graphOK := true
	for _, d := range decls {
		if d.idNode != nil && d.idNode.Kind == yaml.ScalarNode {
			declared[ID(d.idNode.Value)] = true
		}
		if !d.idOK {
			graphOK = false
			continue
		}
		byID[d.id] = d
		l.ids = append(l.ids, string(d.id))
	}
	l.byID, l.declared = byID, declared
	deps := make([][]ID, len(decls))
	for i, d := range decls {
		seen := map[ID]bool{}
		for _, dn := range d.deps {
			dep, ok := l.id(dn, depID)
			if !ok {
				graphOK = false
				continue
			}
			switch {
			case byID[dep] == nil && declared[dep]:
				graphOK = false
			case byID[dep] == nil:
				l.errorf(dn, "%s depends on %q, which is not an item of this flow%s", d.label(), dep, didYouMean(string(dep), l.ids))
				graphOK = false
			case dep == d.id && d.idOK:
				l.errorf(dn, "%s depends on itself", d.label())
				graphOK = false
			case seen[dep]:
				l.errorf(dn, "%s lists %q twice in depends_on", d.label(), dep)
				graphOK = false
			}
			seen[dep] = true
			deps[i] = append(deps[i], dep)
		}
	}

	if !flowOK {
		// The flow ID is already reported; a stand-in lets the cycle check run.
		fid = "flow"
	}
	f := NewFlow(fid)
	f.reg = l.reg
	built := make([]Item, len(decls))
	for i, d := range decls {
		built[i] = l.build(d)
	}
	byItem := map[ID]Item{}
	for i, d := range decls {
		if d.idOK && built[i] != nil {
			byItem[d.id] = built[i]
		}
	}
	for i, d := range decls {
		deps[i] = l.impliedDeps(d, deps[i], byItem)
		if !d.idOK {
			continue
		}
		it := built[i]
		if it == nil {
			it = unbuilt{id: d.id}
		}
		if err := f.Add(it, deps[i]...); err != nil {
			l.add(err, d.idNode)
		} else if d.spec != nil {
			f.setSpec(d.id, *d.spec)
		}
	}
	if !graphOK || len(decls) == 0 {
		return f
	}
	if err := f.Validate(); err != nil {
		var ce *CycleError
		if errors.As(err, &ce) {
			l.cycle(ce, byID)
		} else if len(l.errs) == 0 {
			l.add(err, top)
		}
	}
	return f
}

// impliedDeps adds to an item's dependencies the items its references
// name, and checks each reference's field against the state type of the
// item it names.
func (l *loader) impliedDeps(d *decl, deps []ID, byItem map[ID]Item) []ID {
	for _, r := range d.refs {
		id := ID(r.ref.Name)
		if st, ok := byItem[id].(stateTyper); ok && len(r.ref.Field) > 0 {
			if t := st.StateType(); t != nil {
				if err := checkField(t, r.ref.Field); err != nil {
					line, col := refPosition(r.node, r.ref.Offset)
					l.errs = append(l.errs, &InputError{Line: line, Col: col,
						Msg: fmt.Sprintf("%s refers to %s: %v", d.label(), r.ref.Text, err)})
				} else {
					r.ref.typed = true
				}
			}
		}
		if slices.Contains(deps, id) {
			continue
		}
		deps = append(deps, id)
		if d.idOK {
			if l.implied == nil {
				l.implied = map[[2]ID]itemRef{}
			}
			l.implied[[2]ID{d.id, id}] = r
		}
	}
	return deps
}

// cycle reports a dependency cycle: at a reference that closes it, if one
// of its edges is a reference's, else at the item of the loop declared
// first.
func (l *loader) cycle(ce *CycleError, byID map[ID]*decl) {
	for k := 0; k+1 < len(ce.Cycle); k++ {
		if r, ok := l.implied[[2]ID{ce.Cycle[k], ce.Cycle[k+1]}]; ok {
			line, col := refPosition(r.node, r.ref.Offset)
			l.errs = append(l.errs, &InputError{Line: line, Col: col,
				Msg: fmt.Sprintf("item %q refers to %s, which closes a %s", ce.Cycle[k], r.ref.Text, ce.Error())})
			return
		}
	}
	l.errorf(byID[ce.Cycle[0]].node, "%s", ce.Error())
}

// unbuilt stands in for an item whose type could not build it, so the graph
// can still be checked. Only ID is ever called on it.
type unbuilt struct {
	Item
	id ID
}

func (u unbuilt) ID() ID { return u.id }

// document parses the YAML and returns the top node of its only document,
// or nil when there is nothing to check.
func (l *loader) document() *yaml.Node {
	var sum [32]byte
	if l.opts.cache != nil {
		sum = flowSum(l.data)
		if doc, ok := decodeNodes(l.opts.cache.Get(l.name), sum); ok {
			return l.top(doc)
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(l.data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case err == io.EOF:
		l.errs = append(l.errs, &InputError{Msg: "empty flow file: expected a mapping with keys flow and items"})
		return nil
	case err != nil:
		l.errs = append(l.errs, l.syntaxError(err))
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		l.errs = append(l.errs, l.syntaxError(err))
	default:
		l.errorf(&next, "expected one YAML document, found a second one (a flow file holds one flow)")
	}
	if l.opts.cache != nil && len(l.errs) == 0 {
		if b, ok := encodeNodes(&doc, sum); ok {
			l.encoded = b
		}
	}
	return l.top(&doc)
}

// top returns the mapping at the top of a flow file's document, or nil
// (and the mistake) when there is none.
func (l *loader) top(doc *yaml.Node) *yaml.Node {
	if len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		l.errs = append(l.errs, &InputError{Msg: "empty flow file: expected a mapping with keys flow and items"})
		return nil
	}
	top := deref(doc.Content[0])
	if top.Kind != yaml.MappingNode {
		l.errorf(top, "expected a mapping with keys flow and items, found %s", kindName(top))
		return nil
	}
	return top
}

// mapping walks the keys of a mapping that may only have the given keys,
// reporting unknown and repeated ones; in names the mapping for messages
// (" in item \"b\""). It calls fn with each known key and its value.
func (l *loader) mapping(n *yaml.Node, keys []string, in string, fn func(key string, v *yaml.Node)) {
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.errorf(k, "unknown key: %s%s (expected: %s)", kindName(k), in, strings.Join(keys, ", "))
			continue
		}
		if !slices.Contains(keys, k.Value) {
			l.errorf(k, "unknown key %q%s (expected: %s)%s", k.Value, in, strings.Join(keys, ", "), didYouMean(k.Value, keys))
			continue
		}
		if f, dup := first[k.Value]; dup {
			l.errorf(k, "key %q is given twice%s (first at line %d)", k.Value, in, f.Line)
			continue
		}
		first[k.Value] = k
		fn(k.Value, v)
	}
}

// What an ID names, for id.
const (
	flowID = "flow"
	itemID = "item"
	depID  = "dependency"
)

// id checks a scalar that must be an ID: the flow's, an item's or a
// dependency's (what). A nil n was reported missing already.
func (l *loader) id(n *yaml.Node, what string) (ID, bool) {
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || isNull(n) {
		article := "an item"
		if what == flowID {
			article = "a flow"
		}
		l.errorf(n, "expected %s ID, found %s", article, kindName(n))
		return "", false
	}
	id := ID(n.Value)
	switch {
	case id.Valid():
		return id, true
	case what == depID:
		// A malformed ID is reported where it is declared; as a dependency
		// it is simply not an item.
		return id, true
	}
	l.errorf(n, "%s ID %q is malformed: want [a-z][a-z0-9_]*", what, n.Value)
	return id, false
}

// items checks the list of items and the shape of each.
func (l *loader) items(n *yaml.Node) []*decl {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "expected a list of items, found %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n, "expected at least one item, found an empty list")
		return nil
	}
	var decls []*decl
	firstLine := map[ID]int{}
	for i, raw := range n.Content {
		in := deref(raw)
		if in.Kind != yaml.MappingNode {
			l.errorf(in, "expected an item (a mapping with keys %s), found %s", strings.Join(itemKeys, ", "), kindName(in))
			continue
		}
		d := &decl{n: i + 1, node: in}
		var depsNode *yaml.Node
		for j := 0; j+1 < len(in.Content); j += 2 {
			if k := deref(in.Content[j]); k.Kind == yaml.ScalarNode && k.Value == "id" {
				d.idNode = deref(in.Content[j+1])
				break
			}
		}
		l.mapping(in, itemKeys, " in "+d.label(), func(key string, v *yaml.Node) {
			switch key {
			case "type":
				d.typeNode = v
			case "depends_on":
				depsNode = v
			case "params":
				d.params = v
			}
		})
		if d.idNode == nil {
			l.errorf(in, `missing key "id" in %s`, d.label())
		} else if id, ok := l.id(d.idNode, itemID); ok {
			d.id = id
			if line, dup := firstLine[id]; dup {
				l.errorf(d.idNode, "item ID %q is used twice (first at line %d)", id, line)
			} else {
				firstLine[id] = d.idNode.Line
				d.idOK = true
			}
		}
		if d.typeNode == nil {
			l.errorf(in, `missing key "type" in %s`, d.label())
		}
		switch {
		case depsNode == nil || isNull(depsNode):
		case depsNode.Kind != yaml.SequenceNode:
			l.errorf(depsNode, "expected a list of item IDs, found %s", kindName(depsNode))
		default:
			for _, dn := range depsNode.Content {
				d.deps = append(d.deps, deref(dn))
			}
		}
		decls = append(decls, d)
	}
	return decls
}

// build asks the item's type to build it from its params; nil when the type
// or the params are wrong (and reported).
func (l *loader) build(d *decl) Item {
	if d.typeNode == nil {
		return nil
	}
	if d.typeNode.Kind != yaml.ScalarNode || isNull(d.typeNode) {
		l.errorf(d.typeNode, "expected an item type, found %s", kindName(d.typeNode))
		return nil
	}
	t, ok := l.reg.Lookup(d.typeNode.Value)
	if !ok {
		known := "no item types are registered"
		if names := l.reg.Names(); len(names) > 0 {
			known = "known types: " + strings.Join(names, ", ")
		}
		l.errorf(d.typeNode, "unknown item type %q (%s)%s", d.typeNode.Value, known, didYouMean(d.typeNode.Value, l.reg.Names()))
		return nil
	}
	params := d.params
	switch {
	case params == nil:
		// Types see an empty mapping, placed at the item, rather than nil.
		params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: d.node.Line, Column: d.node.Column}
	case isNull(params):
		params = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: params.Line, Column: params.Column}
	case params.Kind != yaml.MappingNode:
		l.errorf(params, "expected a mapping of params, found %s", kindName(params))
		return nil
	}
	if d.idNode == nil || d.idNode.Kind != yaml.ScalarNode || isNull(d.idNode) {
		return nil
	}
	// An item with a malformed or repeated ID is still built, to check its
	// params, but it does not join the flow.
	id := ID(d.idNode.Value)
	in := l.interpolate(d, t, params)
	params = in.params
	d.refs = in.refs
	d.spec = &Spec{Type: t.Name, Params: in.params}
	if in.segs != nil {
		return l.deferred(d, t, id, in)
	}
	it, err := t.New(id, params, l.env)
	switch {
	case err != nil:
		l.add(err, params)
		return nil
	case it == nil:
		l.errorf(d.typeNode, "%s: item type %q built no item", d.label(), t.Name)
		return nil
	case it.ID() != id:
		l.errorf(d.typeNode, "%s: item type %q built an item with ID %q", d.label(), t.Name, it.ID())
		return nil
	}
	return it
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

var yamlErrLine = regexp.MustCompile(`^line (\d+): `)

// syntaxError turns a yaml.v3 parse error into an InputError, keeping the line
// yaml.v3 reports. yaml.v3 leaves the line out when its marks are on the
// first line, and for character and alias errors it has no position at all:
// those are found here.
func (l *loader) syntaxError(err error) *InputError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &InputError{Msg: msg}
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = msg[len(m[0]):]
	}
	switch {
	case strings.Contains(e.Msg, "UTF-8") || strings.Contains(e.Msg, "control characters") || strings.Contains(e.Msg, "Unicode"):
		if off, r, ok := badChar(l.data); ok {
			e.Line, e.Col = position(l.data, off)
			if r != utf8.RuneError {
				e.Msg = fmt.Sprintf("%s (found U+%04X)", e.Msg, r)
			}
		}
	case strings.HasPrefix(e.Msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(e.Msg, "unknown anchor '"), "' referenced")
		if off, ok := aliasUse(l.data, name); ok {
			e.Line, e.Col = position(l.data, off)
		}
	default:
		if e.Line == 0 {
			e.Line = 1
		}
		l.placeSyntaxError(e)
	}
	return e
}

// badChar finds the first character a YAML stream may not hold (the set
// yaml.v3's reader accepts), or the first invalid UTF-8 (returned as
// utf8.RuneError). UTF-16 streams are not searched.
func badChar(data []byte) (off int, r rune, ok bool) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return 0, 0, false
	}
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			return off, r, true
		}
		switch {
		case r == '\t', r == '\n', r == '\r', r == 0x85,
			r >= 0x20 && r <= 0x7E,
			r >= 0xA0 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
		default:
			return off, r, true
		}
		off += size
	}
	return 0, 0, false
}

// aliasUse finds the first use of the alias *name.
func aliasUse(data []byte, name string) (int, bool) {
	pat := []byte("*" + name)
	for from := 0; ; {
		i := bytes.Index(data[from:], pat)
		if i < 0 {
			return 0, false
		}
		end := from + i + len(pat)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,[]{}"), data[end]) >= 0 {
			return from + i, true
		}
		from = end
	}
}

// position turns a byte offset into a 1-based line and column (in
// characters, as yaml.v3 counts them).
func position(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte("\n"))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

// deferred makes the stand-in of an item whose params refer to other
// items' states. Its params are checked now as far as they can be: built
// with the references as written, every mistake is reported but those at
// a string holding a reference (its value is only known later).
func (l *loader) deferred(d *decl, t Type, id ID, in interpolation) Item {
	def := &Deferred{id: id, typ: t, params: in.params, segs: in.segs, env: l.env, file: l.name}
	for _, r := range in.refs {
		if rid := ID(r.ref.Name); !slices.Contains(def.refs, rid) {
			def.refs = append(def.refs, rid)
		}
	}
	slices.Sort(def.refs)
	check := copyNode(in.params, map[*yaml.Node]*yaml.Node{})
	it, err := t.New(id, check, l.env)
	if err != nil {
		mark := len(l.errs)
		l.add(err, in.params)
		kept := l.errs[:mark]
		for _, e := range l.errs[mark:] {
			if !atRef(e, in.segs) {
				kept = append(kept, e)
			}
		}
		l.errs = kept
		return def
	}
	if it != nil && it.ID() == id {
		def.template = it
	}
	return def
}

// atRef reports whether e is placed at a string that holds a reference
// (yaml.v3 names such a value by its start, "${items...", without a
// column).
func atRef(e *InputError, segs map[*yaml.Node][]segment) bool {
	for n := range segs {
		if e.Line == n.Line && (e.Col == n.Column || e.Col == 0 && strings.Contains(e.Msg, "${")) {
			return true
		}
	}
	return false
}
