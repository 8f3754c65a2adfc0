package items

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Env is what an item type's constructor knows about the flow it is part of.
type Env struct {
	// Dir is the flow file's directory: relative paths resolve against it and
	// commands run in it.
	Dir string
}

// Type is an item type as flow files name it.
type Type struct {
	Name string
	// New builds an item from its params, as written in the flow file. Errors
	// about a particular param should be *InputError with its line and column.
	New func(id ID, params *yaml.Node, env Env) (Item, error)
}

// Validator is implemented by params structs that check themselves after
// decoding (required fields, ranges).
type Validator interface {
	Validate() error
}

// TypeOf defines an item type whose params decode into P, a struct with yaml
// tags. Decoding is strict: a key P does not have is an error naming it.
// If P implements Validator, it is called after decoding.
func TypeOf[P any](name string, build func(id ID, p P, env Env) (Item, error)) Type {
	return Type{Name: name, New: func(id ID, params *yaml.Node, env Env) (Item, error) {
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
	known := yamlKeys(rv.Elem().Type())
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !slices.Contains(known, k.Value) {
			errs = append(errs, atNode(k, "unknown param %q (expected one of: %s)", k.Value, strings.Join(known, ", ")))
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
