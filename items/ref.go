package items

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Deferred stands in the flow for an item whose params refer to other
// items' states (${items.ID.state...}): it cannot be built until those
// states are known. The blocks build it with Build right before they
// discover it — from the state a referenced item reached in this
// execution, or the one recorded for it — and use what Build returns.
// In a preview, when a referenced state is not known yet, the item's
// states are known after apply.
//
// Its own functions that touch the world return ErrNotBuilt; Diff and
// DecodeState work (on the item built with the references as written,
// when its params allow that), so recorded states can be read.
type Deferred struct {
	id       ID
	typ      Type
	params   *yaml.Node
	segs     map[*yaml.Node][]segment
	env      Env
	file     string
	refs     []ID // referenced items, sorted, each once
	template Item // nil when the params do not build with the references as written
}

// ErrNotBuilt is what a Deferred item's functions return: it must be built
// with its references resolved first.
var ErrNotBuilt = errors.New("item not built: its references to other items' states are not resolved")

var _ Item = (*Deferred)(nil)

// Refs are the items whose states this item's params refer to, sorted.
func (d *Deferred) Refs() []ID { return d.refs }

// Build builds the item from its params with every reference to an item's
// state replaced by that state: state returns the state of a referenced
// item. A reference to a field the state does not have, or params the
// type refuses once the values are in, are errors naming the file, line
// and column of the reference.
func (d *Deferred) Build(state func(ID) State) (Item, error) {
	params, err := d.Params(state)
	if err != nil {
		return nil, err
	}
	it, err := d.typ.New(d.id, params, d.env)
	switch {
	case err != nil:
		return nil, d.placed(err)
	case it == nil || it.ID() != d.id:
		return nil, fmt.Errorf("item %s: item type %q built no item with this ID", d.id, d.typ.Name)
	}
	return it, nil
}

// placed names the flow file in the input errors a type returned.
func (d *Deferred) placed(err error) error {
	if errs, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range errs.Unwrap() {
			out = append(out, d.placed(e))
		}
		return errors.Join(out...)
	}
	var ie *InputError
	if errors.As(err, &ie) && err == error(ie) && ie.File == "" {
		e := *ie
		e.File = d.file
		return &e
	}
	return err
}

func (d *Deferred) ID() ID       { return d.id }
func (d *Deferred) Type() string { return d.typ.Name }

func (d *Deferred) Current(context.Context, FnCtx) (State, error) { return nil, ErrNotBuilt }
func (d *Deferred) Goal(context.Context, FnCtx) (State, error)    { return nil, ErrNotBuilt }
func (d *Deferred) Clean(context.Context, FnCtx) (State, error)   { return nil, ErrNotBuilt }
func (d *Deferred) ApplyCheck(context.Context, FnCtx, State, State) (ApplyCheck, error) {
	return ApplyCheck{}, ErrNotBuilt
}
func (d *Deferred) Apply(context.Context, FnCtx, State, State) (State, error) {
	return nil, ErrNotBuilt
}
func (d *Deferred) ApplyDry(context.Context, FnCtx, State, State) (State, error) {
	return nil, ErrNotBuilt
}

// Diff compares two states as the item's type does.
func (d *Deferred) Diff(from, to State) (Diff, error) {
	if d.template != nil {
		return d.template.Diff(from, to)
	}
	a, _ := json.Marshal(from)
	b, _ := json.Marshal(to)
	return Diff{Equal: bytes.Equal(a, b)}, nil
}

// DecodeState decodes a recorded state as the item's type does.
func (d *Deferred) DecodeState(data json.RawMessage) (State, error) {
	if d.template != nil {
		return d.template.DecodeState(data)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("item %s: decode state: %w", d.id, err)
	}
	return v, nil
}

// StateType is the Go type of the item's states, when its type says.
func (d *Deferred) StateType() reflect.Type {
	if st, ok := d.template.(stateTyper); ok {
		return st.StateType()
	}
	return nil
}

// stateTyper is implemented by items that know the Go type of their
// states (every Typed item), so references to fields of their states are
// checked when the flow is loaded.
type stateTyper interface {
	StateType() reflect.Type
}

// StateValue is what a reference to state (and field, a path into its
// JSON) stands for in a param string: a string as it is, a number or a
// boolean as JSON writes it, null as "", an object or a list as compact
// JSON.
func StateValue(state State, field []string) (string, error) {
	return stateValue(state, field, false)
}

// stateValue is StateValue; with typed, a field missing from the state's
// JSON stands for "" (its Go type has it, the encoding left it out).
func stateValue(state State, field []string, typed bool) (string, error) {
	raw, err := json.Marshal(state)
	if err != nil {
		return "", fmt.Errorf("encode state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("decode state: %w", err)
	}
	for i, f := range field {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[f]
			if !ok && typed {
				return "", nil
			}
			if !ok {
				return "", fmt.Errorf("the state has no field %q%s", strings.Join(field[:i+1], "."),
					didYouMean(f, slices.Sorted(mapKeys(c))))
			}
			v = next
		case []any:
			k, err := strconv.Atoi(f)
			if err != nil || k < 0 || k >= len(c) {
				return "", fmt.Errorf("field %q: the state has a list of %d there, not a field %q",
					strings.Join(field[:i], "."), len(c), f)
			}
			v = c[k]
		default:
			return "", fmt.Errorf("the state has no field %q: it is %s there", strings.Join(field[:i+1], "."), jsonKind(c))
		}
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// checkField reports why field cannot be a path into a state of Go type t,
// or nil when it can (or when t cannot tell: an interface, a type that
// writes its own JSON).
func checkField(t reflect.Type, field []string) error {
	for i, f := range field {
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Kind() == reflect.Interface || t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) {
			return nil
		}
		path := strings.Join(field[:i+1], ".")
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			ft, ok := fields[f]
			if !ok {
				names := slices.Sorted(func(yield func(string) bool) {
					for k := range fields {
						if !yield(k) {
							return
						}
					}
				})
				return fmt.Errorf("the state has no field %q (fields: %s)%s", path, strings.Join(names, ", "), didYouMean(f, names))
			}
			t = ft
		case reflect.Map:
			t = t.Elem()
		case reflect.Slice, reflect.Array:
			if _, err := strconv.Atoi(f); err != nil {
				return fmt.Errorf("the state has a list where %q is, not fields (index it with a number)", path)
			}
			t = t.Elem()
		default:
			what := "a " + t.Kind().String()
			if t.Kind() == reflect.String {
				what = "a string"
			}
			return fmt.Errorf("the state has no field %q: it is %s there", path, what)
		}
	}
	return nil
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

// jsonFields are the fields encoding/json writes for struct type t, by
// name.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" && tag == "-" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					if _, ok := out[k]; !ok {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = ft
	}
	return out
}
