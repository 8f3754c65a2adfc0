package tarx

import (
	"path"
	"slices"
	"strings"
	"testing"
)

// FuzzValidate checks the refusal rules on arbitrary names and link targets:
// an accepted name is clean, relative and free of "..", and an accepted
// symlink resolves inside dest however the archive's links chain.
func FuzzValidate(f *testing.F) {
	for _, seed := range [][3]string{
		{"a/b.txt", "l", "a"},
		{"../x", "l", ".."},
		{"a/./b", "l", "a/../.."},
		{"/abs", "l", "/etc"},
		{"d/", "d/self", "."},
		{"x", "x", "x"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, name, linkName, target string) {
		c, err := cleanName(name)
		if err == nil && c != "" {
			if path.IsAbs(c) || path.Clean(c) != c || slices.Contains(strings.Split(c, "/"), "..") {
				t.Fatalf("cleanName(%q) = %q", name, c)
			}
		}
		ln, err := cleanName(linkName)
		if err != nil || ln == "" {
			return
		}
		entries := []Entry{{Path: ln, Type: TypeSymlink, Link: target}}
		if c != "" && c != ln {
			entries = append(entries, Entry{Path: c, Type: TypeFile})
		}
		if validate(entries) != nil {
			return
		}
		// Accepted: following the link lexically from its directory, with
		// every other link of the archive followed too, never leaves dest.
		l := links{ln: target}
		r, ok := l.resolve(path.Dir(ln)+"/"+target, new(int))
		if !ok {
			t.Fatalf("accepted %q -> %q, which does not resolve inside dest", ln, target)
		}
		for _, part := range r {
			if part == ".." {
				t.Fatalf("accepted %q -> %q resolves to %v", ln, target, r)
			}
		}
	})
}
