package tarx

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// Tar names are bytes, JSON strings are UTF-8: encoding/json would turn a
// name that is not UTF-8 into U+FFFD, and the record would name a path that
// is not there. Such a name is kept in base64 instead, as "path_base64" (or
// "link_base64"); UTF-8 names keep their plain form, which older records
// have.

// entryJSON is an Entry as a record holds it.
type entryJSON struct {
	Path       string    `json:"path,omitempty"`
	PathBase64 []byte    `json:"path_base64,omitempty"`
	Type       string    `json:"type"`
	Size       int64     `json:"size,omitempty"`
	Mode       string    `json:"mode,omitempty"`
	ModTime    time.Time `json:"mtime,omitzero"`
	Link       string    `json:"link,omitempty"`
	LinkBase64 []byte    `json:"link_base64,omitempty"`
}

// stateJSON is a State as a record holds it, with entries in the plain
// form, for the usual case where every name is UTF-8.
type stateJSON State

// MarshalJSON writes the state, each name that is not UTF-8 in base64.
func (s State) MarshalJSON() ([]byte, error) {
	plain := true
	for _, e := range s.Entries {
		if !utf8.ValidString(e.Path) || !utf8.ValidString(e.Link) {
			plain = false
			break
		}
	}
	if plain {
		return json.Marshal(stateJSON(s))
	}
	w := struct {
		Source  *Source     `json:"source,omitempty"`
		Entries []entryJSON `json:"entries"`
	}{Source: s.Source, Entries: make([]entryJSON, len(s.Entries))}
	for i, e := range s.Entries {
		j := entryJSON{Path: e.Path, Type: e.Type, Size: e.Size, Mode: e.Mode, ModTime: e.ModTime, Link: e.Link}
		if !utf8.ValidString(e.Path) {
			j.Path, j.PathBase64 = "", []byte(e.Path)
		}
		if !utf8.ValidString(e.Link) {
			j.Link, j.LinkBase64 = "", []byte(e.Link)
		}
		w.Entries[i] = j
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes, and records written before
// names could be in base64.
func (s *State) UnmarshalJSON(b []byte) error {
	var w struct {
		Source  *Source     `json:"source"`
		Entries []entryJSON `json:"entries"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = State{Source: w.Source}
	if w.Entries == nil {
		return nil
	}
	s.Entries = make([]Entry, len(w.Entries))
	for i, j := range w.Entries {
		e := Entry{Path: j.Path, Type: j.Type, Size: j.Size, Mode: j.Mode, ModTime: j.ModTime, Link: j.Link}
		if j.PathBase64 != nil {
			if j.Path != "" {
				return fmt.Errorf("entry %d has both path and path_base64", i)
			}
			e.Path = string(j.PathBase64)
		}
		if j.LinkBase64 != nil {
			if j.Link != "" {
				return fmt.Errorf("entry %q has both link and link_base64", e.Path)
			}
			e.Link = string(j.LinkBase64)
		}
		s.Entries[i] = e
	}
	return nil
}
