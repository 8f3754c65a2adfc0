package items

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadOption changes how a flow file is loaded.
type LoadOption func(*loadOptions)

type loadOptions struct {
	profile string
	params  map[string]string
	cache   NodeCache
}

// DefaultProfile is the profile of a run that names none. It needs no entry
// in a flow's profiles: its params are the defaults.
const DefaultProfile = "default"

// WithProfile loads the flow for a profile: its entry in the flow file's
// profiles overrides the params' defaults. A flow without profiles takes
// any profile name (every one gets the defaults); a flow with profiles
// takes DefaultProfile and the profiles it lists, and any other name is an
// input error.
func WithProfile(name string) LoadOption {
	return func(o *loadOptions) { o.profile = name }
}

// WithParams sets flow params for this run (the command line's --param
// NAME=VALUE), over the defaults and the profile's values. A name the flow
// does not declare is an input error.
func WithParams(values map[string]string) LoadOption {
	return func(o *loadOptions) { o.params = values }
}

// flowParams reads the params: mapping, name → default value.
func (l *loader) flowParams(n *yaml.Node) {
	l.values = map[string]string{}
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "expected a mapping of flow params (name: default value), found %s", kindName(n))
		return
	}
	l.paramsNode = n
	l.namedEntries(n, "flow param", "", func(_, v *yaml.Node, name string) {
		value, ok := l.paramValue(v, name)
		if !ok {
			value = ""
		}
		l.values[name] = value
		l.paramNames = append(l.paramNames, name)
	})
}

// namedEntries calls each with every entry of the mapping n whose key is a
// well-formed name (of what) given for the first time; a malformed or
// repeated one is an error (repeated where: " in profile …", or "").
func (l *loader) namedEntries(n *yaml.Node, what, where string, each func(k, v *yaml.Node, name string)) {
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		name, ok := l.paramName(k, what)
		if !ok {
			continue
		}
		if line, dup := first[name]; dup {
			l.errorf(k, "%s %q is given twice%s (first at line %d)", what, name, where, line)
			continue
		}
		first[name] = k.Line
		each(k, v, name)
	}
}

// paramName checks a key that names a flow param.
func (l *loader) paramName(k *yaml.Node, what string) (string, bool) {
	if k.Kind != yaml.ScalarNode || isNull(k) {
		l.errorf(k, "expected a %s name, found %s", what, kindName(k))
		return "", false
	}
	if !ID(k.Value).Valid() {
		l.errorf(k, "%s name %q is malformed: want [a-z][a-z0-9_]*", what, k.Value)
		return "", false
	}
	return k.Value, true
}

// paramValue checks a flow param's value: a string (any scalar is taken as
// written; nothing is the empty string).
func (l *loader) paramValue(v *yaml.Node, name string) (string, bool) {
	switch {
	case isNull(v):
		return "", true
	case v.Kind == yaml.ScalarNode:
		return v.Value, true
	}
	l.errorf(v, "flow param %q: expected a string, found %s", name, kindName(v))
	return "", false
}

// profiles reads the profiles: mapping, profile → {name: value}, and
// settles the values of this run: default, then the profile's value, then
// WithParams.
func (l *loader) profiles(n *yaml.Node) {
	profile := l.opts.profile
	if profile == "" {
		profile = DefaultProfile
	}
	l.profile = profile
	var names []string
	var mine *yaml.Node
	if n != nil && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			l.errorf(n, "expected a mapping of profiles (profile: {param: value}), found %s", kindName(n))
			n = nil
		}
	} else {
		n = nil
	}
	if n != nil {
		l.namedEntries(n, "profile", "", func(k, v *yaml.Node, name string) {
			names = append(names, name)
			switch {
			case isNull(v):
				v = nil
			case v.Kind != yaml.MappingNode:
				l.errorf(v, "profile %q: expected a mapping of flow params (name: value), found %s", name, kindName(v))
				return
			}
			vals := l.profileValues(name, v)
			if name == profile {
				mine = k
				for p, val := range vals {
					l.values[p] = val
				}
			}
		})
		if mine == nil && profile != DefaultProfile {
			known := append([]string{DefaultProfile}, names...)
			l.errorf(n, "profile %q is not one of this flow's profiles (%s)%s", profile,
				strings.Join(known, ", "), didYouMean(profile, known))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.opts.params)) {
		if _, ok := l.values[name]; !ok {
			msg := fmt.Sprintf("--param %s: the flow has no param %q", name, name)
			switch {
			case len(l.paramNames) == 0:
				msg += " (it declares no params)"
			default:
				msg += " (params: " + strings.Join(l.paramNames, ", ") + ")" + didYouMean(name, l.paramNames)
			}
			l.errs = append(l.errs, &InputError{Msg: msg})
			continue
		}
		l.values[name] = l.opts.params[name]
	}
}

// profileValues reads one profile's values; each names a declared param.
func (l *loader) profileValues(profile string, n *yaml.Node) map[string]string {
	vals := map[string]string{}
	if n == nil {
		return vals
	}
	l.namedEntries(n, "flow param", fmt.Sprintf(" in profile %q", profile), func(k, v *yaml.Node, name string) {
		if _, declared := l.values[name]; !declared {
			l.errorf(k, "profile %q sets %q, which is not a flow param (declare it with a default under params)%s",
				profile, name, didYouMean(name, l.paramNames))
			return
		}
		if value, ok := l.paramValue(v, name); ok {
			vals[name] = value
		}
	})
	return vals
}

// itemRef is a reference to an item's state, where it was written.
type itemRef struct {
	ref  *Ref
	node *yaml.Node // the scalar that holds it
}

// interpolation is what interpolate found in one item's params.
type interpolation struct {
	params *yaml.Node
	// segs holds, for each scalar of params with a reference to an item's
	// state, its text cut at the references (flow params already
	// replaced), for Deferred to finish once the states are known.
	segs map[*yaml.Node][]segment
	refs []itemRef
}

// interpolate replaces the flow params, ${profile} and ${flow} in every
// string of an item's params but those its type keeps verbatim, and finds
// the references to other items' states. The params node is copied first
// when anything is to be replaced, so what a YAML alias shares between
// items is replaced for each item on its own.
func (l *loader) interpolate(d *decl, t Type, params *yaml.Node) interpolation {
	in := interpolation{params: params}
	if params.Kind != yaml.MappingNode || !hasRefs(params, map[*yaml.Node]bool{}) {
		return in
	}
	in.params = copyNode(params, map[*yaml.Node]*yaml.Node{})
	seen := map[*yaml.Node]bool{}
	// Verbatim params first: what an alias shares with them stays as
	// written wherever it is used.
	var rest []*yaml.Node
	for i := 0; i+1 < len(in.params.Content); i += 2 {
		k, v := in.params.Content[i], in.params.Content[i+1]
		if k.Kind == yaml.ScalarNode && slices.Contains(t.Verbatim, k.Value) {
			markSeen(v, seen)
			continue
		}
		rest = append(rest, v)
	}
	for _, v := range rest {
		l.walkScalars(v, seen, func(n *yaml.Node) { l.interpolateScalar(d, n, &in) })
	}
	return in
}

// interpolateScalar replaces what can be replaced now in one string.
func (l *loader) interpolateScalar(d *decl, n *yaml.Node, in *interpolation) {
	if n.Tag != "" && n.Tag != "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain scalar yaml.v3 resolved as a number, bool or null
		// holds no ${.
		return
	}
	segs, rerrs := scanRefs(n.Value)
	for _, rerr := range rerrs {
		line, col := refPosition(n, rerr.offset)
		l.errs = append(l.errs, &InputError{Line: line, Col: col, Msg: fmt.Sprintf("%s: %s", d.label(), rerr.msg)})
	}
	if segs == nil {
		return
	}
	var out, template strings.Builder
	deferred := false
	for i, s := range segs {
		if s.ref == nil {
			out.WriteString(s.lit)
			template.WriteString(s.lit)
			continue
		}
		r := s.ref
		var v string
		switch r.Kind {
		case RefProfile:
			v = l.profile
		case RefFlow:
			v = string(l.flowID)
		case RefParam:
			val, ok := l.values[r.Name]
			if !ok {
				line, col := refPosition(n, r.Offset)
				msg := fmt.Sprintf("%s: unknown flow param in %s", d.label(), r.Text)
				if len(l.paramNames) == 0 {
					msg += " (the flow declares no params)"
				} else {
					msg += " (params: " + strings.Join(l.paramNames, ", ") + ")" + didYouMean(r.Name, l.paramNames)
				}
				l.errs = append(l.errs, &InputError{Line: line, Col: col, Msg: msg})
				continue
			}
			v = val
		case RefItem:
			if l.checkItemRef(d, n, r) {
				in.refs = append(in.refs, itemRef{ref: r, node: n})
			}
			deferred = true
			template.WriteString(r.Text)
			continue
		}
		segs[i] = segment{lit: v}
		out.WriteString(v)
		template.WriteString(v)
	}
	if deferred {
		if in.segs == nil {
			in.segs = map[*yaml.Node][]segment{}
		}
		in.segs[n] = segs
		n.Value = template.String()
	} else {
		n.Value = out.String()
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
		// A plain scalar reads as if its value had been written: "5" is a
		// number to an int param.
		n.Tag = ""
	}
}

// checkItemRef checks that a reference names another item of the flow.
func (l *loader) checkItemRef(d *decl, n *yaml.Node, r *Ref) bool {
	line, col := refPosition(n, r.Offset)
	switch id := ID(r.Name); {
	case d.idOK && id == d.id:
		l.errs = append(l.errs, &InputError{Line: line, Col: col,
			Msg: fmt.Sprintf("%s refers to its own state in %s", d.label(), r.Text)})
		return false
	case l.byID[id] != nil:
		return true
	case l.declared[id]:
		return false // a malformed or repeated ID, reported where it is declared
	default:
		l.errs = append(l.errs, &InputError{Line: line, Col: col,
			Msg: fmt.Sprintf("%s refers to %s: %q is not an item of this flow%s", d.label(), r.Text, r.Name,
				didYouMean(r.Name, l.ids))})
		return false
	}
}

// walkScalars calls fn with every scalar value under n (not mapping keys),
// each node once, following aliases.
func (l *loader) walkScalars(n *yaml.Node, seen map[*yaml.Node]bool, fn func(*yaml.Node)) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	switch n.Kind {
	case yaml.ScalarNode:
		fn(n)
	case yaml.AliasNode:
		l.walkScalars(n.Alias, seen, fn)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			seen[n.Content[i]] = true
			l.walkScalars(n.Content[i+1], seen, fn)
		}
	default:
		for _, c := range n.Content {
			l.walkScalars(c, seen, fn)
		}
	}
}

func markSeen(n *yaml.Node, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	if n.Kind == yaml.AliasNode {
		markSeen(n.Alias, seen)
	}
	for _, c := range n.Content {
		markSeen(c, seen)
	}
}

// hasRefs reports whether a scalar under n holds "${".
func hasRefs(n *yaml.Node, seen map[*yaml.Node]bool) bool {
	if n == nil || seen[n] {
		return false
	}
	seen[n] = true
	switch n.Kind {
	case yaml.ScalarNode:
		return strings.Contains(n.Value, "${")
	case yaml.AliasNode:
		return hasRefs(n.Alias, seen)
	}
	for _, c := range n.Content {
		if hasRefs(c, seen) {
			return true
		}
	}
	return false
}

// copyNode copies the tree under n; an alias in it names the copy of its
// anchor, so a value that contains itself still does (and yaml.v3 still
// says so).
func copyNode(n *yaml.Node, memo map[*yaml.Node]*yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if c, ok := memo[n]; ok {
		return c
	}
	c := new(yaml.Node)
	*c = *n
	memo[n] = c
	if n.Alias != nil {
		c.Alias = copyNode(n.Alias, memo)
	}
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c.Content[i] = copyNode(k, memo)
		}
	}
	return c
}
