package items

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// TypedItem is an item written against its own State type S. Typed turns it
// into an Item. S must round-trip through encoding/json.
type TypedItem[S any] interface {
	Current(ctx context.Context, fc TypedFnCtx[S]) (S, error)
	Goal(ctx context.Context, fc TypedFnCtx[S]) (S, error)
	Clean(ctx context.Context, fc TypedFnCtx[S]) (S, error)
	Diff(from, to S) Diff
	ApplyCheck(ctx context.Context, fc TypedFnCtx[S], current, target S) (ApplyCheck, error)
	Apply(ctx context.Context, fc TypedFnCtx[S], current, target S) (S, error)
	ApplyDry(ctx context.Context, fc TypedFnCtx[S], current, target S) (S, error)
}

// TypedFnCtx is FnCtx with the stored state already typed.
type TypedFnCtx[S any] struct {
	FnCtx
	// Stored is the last recorded state, or nil when none was recorded.
	Stored *S
}

// Typed adapts a TypedItem with the given ID and type name into an Item.
func Typed[S any](id ID, typeName string, it TypedItem[S]) Item {
	return &typed[S]{id: id, typeName: typeName, it: it}
}

type typed[S any] struct {
	id       ID
	typeName string
	it       TypedItem[S]
}

func (t *typed[S]) ID() ID       { return t.id }
func (t *typed[S]) Type() string { return t.typeName }

// StateType is S: references to fields of the item's states are checked
// against it when the flow is loaded.
func (t *typed[S]) StateType() reflect.Type { return reflect.TypeFor[S]() }

// Unwrap returns the author's TypedItem.
func (t *typed[S]) Unwrap() any { return t.it }

func (t *typed[S]) fc(fc FnCtx) (TypedFnCtx[S], error) {
	tfc := TypedFnCtx[S]{FnCtx: fc}
	if fc.Stored != nil {
		s, err := t.state(fc.Stored)
		if err != nil {
			return tfc, fmt.Errorf("stored state: %w", err)
		}
		tfc.Stored = &s
	}
	return tfc, nil
}

// state converts a type-erased state into S: either it already is an S, or it
// is a JSON encoding of one.
func (t *typed[S]) state(v State) (S, error) {
	switch v := v.(type) {
	case S:
		return v, nil
	case *S:
		if v != nil {
			return *v, nil
		}
	case json.RawMessage:
		var s S
		err := json.Unmarshal(v, &s)
		return s, err
	}
	var zero S
	return zero, fmt.Errorf("item %s: state is %T, want %T", t.id, v, zero)
}

func (t *typed[S]) discover(ctx context.Context, fc FnCtx, f func(context.Context, TypedFnCtx[S]) (S, error)) (State, error) {
	tfc, err := t.fc(fc)
	if err != nil {
		return nil, err
	}
	s, err := f(ctx, tfc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (t *typed[S]) Current(ctx context.Context, fc FnCtx) (State, error) {
	return t.discover(ctx, fc, t.it.Current)
}

func (t *typed[S]) Goal(ctx context.Context, fc FnCtx) (State, error) {
	return t.discover(ctx, fc, t.it.Goal)
}

func (t *typed[S]) Clean(ctx context.Context, fc FnCtx) (State, error) {
	return t.discover(ctx, fc, t.it.Clean)
}

func (t *typed[S]) Diff(from, to State) (Diff, error) {
	f, err := t.state(from)
	if err != nil {
		return Diff{}, err
	}
	g, err := t.state(to)
	if err != nil {
		return Diff{}, err
	}
	return t.it.Diff(f, g), nil
}

func (t *typed[S]) pair(fc FnCtx, current, target State) (TypedFnCtx[S], S, S, error) {
	var c, g S
	tfc, err := t.fc(fc)
	if err == nil {
		c, err = t.state(current)
	}
	if err == nil {
		g, err = t.state(target)
	}
	return tfc, c, g, err
}

func (t *typed[S]) ApplyCheck(ctx context.Context, fc FnCtx, current, target State) (ApplyCheck, error) {
	tfc, c, g, err := t.pair(fc, current, target)
	if err != nil {
		return ApplyCheck{}, err
	}
	return t.it.ApplyCheck(ctx, tfc, c, g)
}

func (t *typed[S]) apply(ctx context.Context, fc FnCtx, current, target State, f func(context.Context, TypedFnCtx[S], S, S) (S, error)) (State, error) {
	tfc, c, g, err := t.pair(fc, current, target)
	if err != nil {
		return nil, err
	}
	s, err := f(ctx, tfc, c, g)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (t *typed[S]) Apply(ctx context.Context, fc FnCtx, current, target State) (State, error) {
	return t.apply(ctx, fc, current, target, t.it.Apply)
}

func (t *typed[S]) ApplyDry(ctx context.Context, fc FnCtx, current, target State) (State, error) {
	return t.apply(ctx, fc, current, target, t.it.ApplyDry)
}

// StateDecoder is a TypedItem that decodes its states itself, faster than
// encoding/json: DecodeState returns what json.Unmarshal into a zero S
// does, value and error.
type StateDecoder[S any] interface {
	DecodeState(data []byte) (S, error)
}

func (t *typed[S]) DecodeState(data json.RawMessage) (State, error) {
	var s S
	var err error
	if d, ok := t.it.(StateDecoder[S]); ok {
		s, err = d.DecodeState(data)
	} else {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return nil, fmt.Errorf("item %s: decode state: %w", t.id, err)
	}
	return s, nil
}
