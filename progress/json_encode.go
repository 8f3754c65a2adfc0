package progress

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// appendEvent appends ev as encoding/json would marshal it, byte for byte,
// without reflection: every execution writes two events per item to its
// record, so the stream's encoder is on the path of a run with nothing to
// do. What it cannot write as encoding/json would (a string that needs
// escaping, a time outside RFC 3339's years or zone offsets) it hands to
// encoding/json.
func appendEvent(b []byte, ev *Event) ([]byte, error) {
	if n := listsLen(ev); n > 0 {
		b = slices.Grow(b, n+512) // one line for an event that names every item, not a growing series
	}
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"time":`...)
	if _, off := ev.Time.Zone(); ev.Time.Year() < 0 || ev.Time.Year() > 9999 || off <= -24*60*60 || off >= 24*60*60 {
		t, err := json.Marshal(ev.Time)
		if err != nil {
			return b, err
		}
		b = append(b, t...)
	} else {
		b = append(b, '"')
		b = ev.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = appendField(b, "type", string(ev.Type), false)
	b = appendField(b, "execution", ev.Execution, true)
	b = appendField(b, "block", ev.Block, true)
	b = appendField(b, "item", ev.Item, true)
	b = appendField(b, "command", ev.Command, true)
	b = appendField(b, "flow", ev.Flow, true)
	b = appendField(b, "profile", ev.Profile, true)
	b = appendField(b, "workspace", ev.Workspace, true)
	if len(ev.Items) > 0 {
		b = append(b, `,"items":`...)
		b = appendStrings(b, ev.Items)
	}
	b = appendMap(b, "deps", ev.Deps, appendStrings)
	if ev.Limit != nil {
		b = append(b, `,"limit":{`...)
		b = append(b, `"kind":`...)
		b = appendString(b, string(ev.Limit.Kind))
		if ev.Limit.Total != 0 {
			b = append(b, `,"total":`...)
			b = strconv.AppendInt(b, ev.Limit.Total, 10)
		}
		b = append(b, '}')
	}
	b = appendInt(b, "delta", ev.Delta)
	b = appendInt(b, "done", ev.Done)
	b = appendField(b, "message", ev.Message, true)
	b = appendField(b, "line", ev.Line, true)
	b = appendField(b, "status", string(ev.Status), true)
	b = appendField(b, "error", ev.Error, true)
	b = appendField(b, "outcome", ev.Outcome, true)
	b = appendMap(b, "statuses", ev.Statuses, func(b []byte, s Status) []byte { return appendString(b, string(s)) })
	b = appendInt(b, "code", int64(ev.Code))
	b = appendField(b, "stage", ev.Stage, true)
	if len(ev.InFlight) > 0 {
		b = append(b, `,"in_flight":`...)
		b = appendStrings(b, ev.InFlight)
	}
	return append(b, '}'), nil
}

// appendField appends ,"key":"value"; nothing for an empty value when
// omitEmpty.
func appendField(b []byte, key, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func appendInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendInt(b, n, 10)
}

// appendStrings appends ss as a JSON array; nil is null, as encoding/json
// writes it.
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s quoted. Printable ASCII that encoding/json leaves
// as it is (all but the quote, the backslash and its HTML escapes <, >, &)
// is copied; anything else is encoding/json's to escape.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMap appends the field name with m, its keys sorted as
// encoding/json sorts them, unless m is empty (omitempty).
func appendMap[V any](b []byte, name string, m map[string]V, value func([]byte, V) []byte) []byte {
	if len(m) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, `":{`...)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// listsLen is about how long ev's lists of items (Items, Deps, Statuses,
// InFlight) are in JSON.
func listsLen(ev *Event) int {
	n := 0
	for _, s := range ev.Items {
		n += len(s) + 3
	}
	for _, s := range ev.InFlight {
		n += len(s) + 3
	}
	for k, ds := range ev.Deps {
		n += len(k) + 6
		for _, d := range ds {
			n += len(d) + 3
		}
	}
	for k, s := range ev.Statuses {
		n += len(k) + len(s) + 6
	}
	return n
}
