package items

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Env is what an item type's constructor knows about the flow it is part of.
type Env struct {
	// Dir is the flow file's directory: relative paths resolve against it and
	// commands run in it.
	Dir string
	// Flow is the flow's ID.
	Flow ID
	// Profile is the profile the flow was loaded for ("default" when none
	// was named).
	Profile string
	// Params are the flow params' values for this run: the defaults, then
	// the profile's values, then the command line's. Item types must not
	// change the map. sh_cmd hands them to its commands as PEACE_PARAM_<NAME>
	// (NAME upper-cased), with PEACE_PROFILE and PEACE_FLOW.
	Params map[string]string
}

// Type is an item type as flow files name it.
type Type struct {
	Name string
	// New builds an item from its params, as written in the flow file. Errors
	// about a particular param should be *InputError with its line and column.
	//
	// The strings in params have their references replaced already
	// (${params.NAME}, ${profile}, ${flow}, ${items.ID.state...}; see
	// Deferred), except in the params named in Verbatim.
	New func(id ID, params *yaml.Node, env Env) (Item, error)
	// Verbatim names the top-level params whose strings are never
	// interpolated: New sees them as written, ${...} and all. A type whose
	// params are shell commands lists them here, so that no flow param or
	// state can inject code into them (values reach commands by other
	// ways, such as sh_cmd's env). TypeOf fills it from the params
	// struct's fields tagged `peace:"verbatim"`.
	Verbatim []string
	// Summary says in a line what an item of the type is (peace types).
	Summary string
	// Params is the params struct TypeOf decodes into; its fields' yaml
	// keys and `doc` tags are what peace types lists.
	Params reflect.Type
}

// Validator is implemented by params structs that check themselves after
// decoding (required fields, ranges).
type Validator interface {
	Validate() error
}

// TypeOf defines an item type whose params decode into P, a struct with yaml
// tags. Decoding is strict: a key P does not have is an error naming it.
// If P implements Validator, it is called after decoding.
//
// A field of P tagged `peace:"verbatim"` is left as written: references in
// its strings are not replaced (see Type.Verbatim). Tag every param that
// holds code a shell or an interpreter runs:
//
//	type Params struct {
//		Run string            `yaml:"run" peace:"verbatim"` // a shell command: never interpolated
//		Env map[string]string `yaml:"env"`                  // values may hold ${params.NAME}
//	}
func TypeOf[P any](name string, build func(id ID, p P, env Env) (Item, error)) Type {
	return Type{Name: name, Verbatim: verbatimKeys(reflect.TypeFor[P]()), Params: reflect.TypeFor[P](), New: func(id ID, params *yaml.Node, env Env) (Item, error) {
		var p P
		if params != nil && params.Kind != 0 {
			if err := DecodeStrict(params, &p); err != nil {
				return nil, err
			}
		}
		if v, ok := any(&p).(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, atNode(params, "item %s: %v", id, err)
			}
		}
		return build(id, p, env)
	}}
}

// DecodeStrict decodes a YAML mapping into the struct v points to, refusing
// keys the struct does not declare. Errors are *InputError with the line and
// column of the offending node.
func DecodeStrict(n *yaml.Node, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return n.Decode(v)
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return atNode(n, "expected a mapping of params, found %s", kindName(n))
	}
	known := knownKeys(rv.Elem().Type())
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			errs = append(errs, atNode(k, "unknown param %q (expected one of: %s)%s", k.Value, strings.Join(known, ", "), didYouMean(k.Value, known)))
		}
	}
	if err := n.Decode(v); err != nil {
		errs = append(errs, fromYAMLError(n, err))
	}
	if len(errs) == 1 {
		return errs[0] // an *InputError as it is, not wrapped in a join
	}
	return errors.Join(errs...)
}

// verbatimKeys are the yaml keys of the fields of struct type t tagged
// `peace:"verbatim"`.
func verbatimKeys(t reflect.Type) []string {
	if t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if slices.Contains(strings.Split(opts, ","), "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			keys = append(keys, verbatimKeys(ft)...)
			continue
		}
		if name == "-" || !f.IsExported() || !slices.Contains(strings.Split(f.Tag.Get("peace"), ","), "verbatim") {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}

// knownKeys is yamlKeys, worked out once per type: every item of a flow
// decodes its params through it.
func knownKeys(t reflect.Type) []string {
	if keys, ok := knownKeysOf.Load(t); ok {
		return keys.([]string)
	}
	keys, _ := knownKeysOf.LoadOrStore(t, slices.Clip(yamlKeys(t)))
	return keys.([]string)
}

var knownKeysOf sync.Map // reflect.Type → []string

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		inline := slices.Contains(strings.Split(opts, ","), "inline")
		if name == "-" || (!f.IsExported() && !(f.Anonymous && inline)) {
			continue
		}
		if ft := f.Type; inline {
			// yaml.v3 reads an inlined struct's keys as the outer struct's.
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				keys = append(keys, yamlKeys(ft)...)
				continue
			}
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys = append(keys, name)
	}
	return keys
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// Registry holds the item types a loader knows.
type Registry struct {
	types map[string]Type
}

// NewRegistry returns a registry of the given types.
func NewRegistry(types ...Type) *Registry {
	r := &Registry{types: map[string]Type{}}
	for _, t := range types {
		r.Add(t)
	}
	return r
}

// Add registers t, replacing any type of the same name.
func (r *Registry) Add(t Type) { r.types[t.Name] = t }

// Lookup returns the type named name.
func (r *Registry) Lookup(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Names lists the registered type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
