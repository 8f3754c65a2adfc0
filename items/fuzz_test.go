package items

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse feeds the loader arbitrary flow files: it must never panic, and
// must either return a well-formed flow or errors that are all InputErrors
// naming the file and a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodFlow))
	for _, tc := range badFlows {
		f.Add([]byte(tc.src))
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		flow, err := Parse("flow.yaml", data, "/flows", reg)
		if err != nil {
			if flow != nil {
				t.Fatalf("Parse returned a flow with error %v", err)
			}
			ies, ok := inputErrors(err)
			if !ok {
				t.Fatalf("error is not made of *InputError only: %#v", err)
			}
			for _, ie := range ies {
				if ie.File != "flow.yaml" || ie.Line < 0 || ie.Col < 0 || ie.Msg == "" {
					t.Fatalf("malformed input error %#v", ie)
				}
			}
			return
		}
		if !flow.ID.Valid() || flow.File != "flow.yaml" || flow.Dir != "/flows" {
			t.Fatalf("flow %q file %q dir %q", flow.ID, flow.File, flow.Dir)
		}
		its := flow.Items()
		if flow.Len() == 0 || len(its) != flow.Len() {
			t.Fatalf("flow has %d items in order, %d added", len(its), flow.Len())
		}
		for i, it := range its {
			if !it.ID().Valid() || flow.Index(it.ID()) != i || flow.Item(it.ID()) != it {
				t.Fatalf("item %d: ID %q, Index %d", i, it.ID(), flow.Index(it.ID()))
			}
			for _, d := range flow.Deps(it.ID()) {
				if j := flow.Index(d); j < 0 || j >= i {
					t.Fatalf("item %s comes before its dependency %s", it.ID(), d)
				}
			}
		}
	})
}

// TestFuzzSeeds keeps the seed corpus honest: the good_ seeds load and the
// bad_ seeds do not.
func TestFuzzSeeds(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParse", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		header, value, _ := strings.Cut(string(raw), "\n")
		value = strings.TrimSpace(value)
		if header != "go test fuzz v1" || !strings.HasPrefix(value, "[]byte(") || !strings.HasSuffix(value, ")") {
			t.Fatalf("%s is not a fuzz corpus file", p)
		}
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(value, "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		_, err = Parse("flow.yaml", []byte(data), "/flows", testRegistry())
		switch name := filepath.Base(p); {
		case strings.HasPrefix(name, "good_") && err != nil:
			t.Errorf("%s: %v", name, err)
		case strings.HasPrefix(name, "bad_") && err == nil:
			t.Errorf("%s loaded without error", name)
		}
	}
}
