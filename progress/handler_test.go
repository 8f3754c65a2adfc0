package progress_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/peace-go/peace/progress"
)

// TestHandlerCoversEveryType reads the Type constants from event.go and
// checks each has a Handler method of its name that Handle calls, and
// that Handler has no method for a Type that is gone. With the views
// asserting that they implement Handler, a new Type cannot be ignored by
// a view without it saying so.
func TestHandlerCoversEveryType(t *testing.T) {
	types := typeConstants(t)
	if len(types) == 0 {
		t.Fatal("no Type constants found in event.go")
	}
	handler := reflect.TypeFor[progress.Handler]()
	var methods []string
	for i := range handler.NumMethod() {
		methods = append(methods, handler.Method(i).Name)
	}
	for name, value := range types {
		if !slices.Contains(methods, name) {
			t.Errorf("Type %s (%q) has no Handler method %s", name, value, name)
			continue
		}
		var p probe
		if !progress.Handle(&p, progress.Event{Type: value}) {
			t.Errorf("Handle does not know Type %s (%q)", name, value)
		}
		if !slices.Equal(p.called, []string{name}) {
			t.Errorf("Handle(%q) called %v, want [%s]", value, p.called, name)
		}
	}
	for _, m := range methods {
		if _, ok := types[m]; !ok {
			t.Errorf("Handler method %s has no Type constant of its name", m)
		}
	}
	var p probe
	if progress.Handle(&p, progress.Event{Type: "from_a_newer_stream"}) || len(p.called) > 0 {
		t.Errorf("Handle of an unknown Type called %v", p.called)
	}
}

// typeConstants maps the name of every constant of type Type declared in
// event.go to its value.
func typeConstants(t *testing.T) map[string]progress.Type {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]progress.Type{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
				continue
			}
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("Type %s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				types[name.Name] = progress.Type(v)
			}
		}
	}
	return types
}

// probe records which Handler methods were called.
type probe struct{ called []string }

var _ progress.Handler = (*probe)(nil)

func (p *probe) ExecutionStart(progress.Event)    { p.called = append(p.called, "ExecutionStart") }
func (p *probe) ExecutionEnd(progress.Event)      { p.called = append(p.called, "ExecutionEnd") }
func (p *probe) BlockStart(progress.Event)        { p.called = append(p.called, "BlockStart") }
func (p *probe) BlockEnd(progress.Event)          { p.called = append(p.called, "BlockEnd") }
func (p *probe) ItemStart(progress.Event)         { p.called = append(p.called, "ItemStart") }
func (p *probe) ItemLimit(progress.Event)         { p.called = append(p.called, "ItemLimit") }
func (p *probe) ItemProgress(progress.Event)      { p.called = append(p.called, "ItemProgress") }
func (p *probe) ItemMessage(progress.Event)       { p.called = append(p.called, "ItemMessage") }
func (p *probe) ItemOutput(progress.Event)        { p.called = append(p.called, "ItemOutput") }
func (p *probe) ItemDone(progress.Event)          { p.called = append(p.called, "ItemDone") }
func (p *probe) ItemFailed(progress.Event)        { p.called = append(p.called, "ItemFailed") }
func (p *probe) ItemInterrupted(progress.Event)   { p.called = append(p.called, "ItemInterrupted") }
func (p *probe) ItemUnknown(progress.Event)       { p.called = append(p.called, "ItemUnknown") }
func (p *probe) InterruptReceived(progress.Event) { p.called = append(p.called, "InterruptReceived") }
func (p *probe) CancelRequested(progress.Event)   { p.called = append(p.called, "CancelRequested") }
func (p *probe) LockWait(progress.Event)          { p.called = append(p.called, "LockWait") }
func (p *probe) Notice(progress.Event)            { p.called = append(p.called, "Notice") }
func (p *probe) Fatal(progress.Event)             { p.called = append(p.called, "Fatal") }
