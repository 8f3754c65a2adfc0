package items

import (
	"reflect"
	"slices"
	"strings"
)

// Describe returns t with a one-line summary of what its items are.
func (t Type) Describe(summary string) Type {
	t.Summary = summary
	return t
}

// ParamDoc is one param of an item type, as peace types lists it.
type ParamDoc struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"` // text, number, yes/no, list, mapping
	Doc      string `json:"doc,omitempty"`
	Verbatim bool   `json:"verbatim,omitempty"` // never interpolated
}

// ParamDocs lists t's params: each field of its params struct with its
// yaml key and the meaning its `doc` tag gives, in declaration order.
func (t Type) ParamDocs() []ParamDoc {
	if t.Params == nil || t.Params.Kind() != reflect.Struct {
		return nil
	}
	var docs []ParamDoc
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if slices.Contains(strings.Split(opts, ","), "inline") {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft)
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			docs = append(docs, ParamDoc{Name: name, Kind: kindOf(f.Type), Doc: f.Tag.Get("doc"),
				Verbatim: slices.Contains(t.Verbatim, name)})
		}
	}
	walk(t.Params)
	return docs
}

func kindOf(rt reflect.Type) string {
	if rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	switch rt.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "yes/no"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map:
		return "mapping"
	}
	return "value"
}

// Types lists the registry's types by name.
func (r *Registry) Types() []Type {
	out := make([]Type, 0, len(r.types))
	for _, name := range r.Names() {
		out = append(out, r.types[name])
	}
	return out
}
