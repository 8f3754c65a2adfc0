package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"

	"github.com/peace-go/peace/internal/durable"
)

// The item specs file, items.yaml, keeps each recorded item's type, its
// params as the flow file resolved them and its dependencies, so that an
// item which left the flow can still be built and cleaned:
//
//	version: 1
//	items:
//	  greeting:
//	    type: file
//	    params: {path: out/greeting.txt, content: "hello\n"}
//	    depends_on: [out_dir]
//	checksum: crc32c-1a2b3c4d
//
// Like the snapshots, it ends in the CRC-32C of every byte before its
// checksum line; a file cut short or edited is corrupt (P7), and one
// without its version line is corrupt too, not old (P6).
const (
	itemSpecsFile = "items.yaml"
	// ItemSpecsVersion is the format version of items.yaml.
	ItemSpecsVersion = 1
)

// ItemSpec is what builds a recorded item again: its type, its params as
// resolved when it was last recorded, and the items it depended on.
type ItemSpec struct {
	Type      string
	Params    *yaml.Node // a mapping; nil for none
	DependsOn []string
}

// itemSpecsDoc is items.yaml as YAML.
type itemSpecsDoc struct {
	Version *int                   `yaml:"version"`
	Items   map[string]itemSpecDoc `yaml:"items"`
}

type itemSpecDoc struct {
	Type      string    `yaml:"type"`
	Params    yaml.Node `yaml:"params,omitempty"`
	DependsOn []string  `yaml:"depends_on,flow,omitempty"`
}

func (s *Store) itemSpecsPath() string { return filepath.Join(s.dir, itemSpecsFile) }

// ItemSpecs reads items.yaml: item ID → spec. A missing file is no specs
// (a workspace older than the file). A corrupt file is a *CorruptError: a
// writer (holding the lock) moves it aside and gets no specs with the
// error, so it can say so and carry on; a reader leaves it where it is. A
// newer version is a *VersionError, and the file is left as it is.
func (s *Store) ItemSpecs(writer bool) (map[string]ItemSpec, error) {
	path := s.itemSpecsPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]ItemSpec{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read item specs: %w", err)
	}
	specs, err := decodeItemSpecs(path, data)
	if err != nil {
		var cerr *CorruptError
		if writer && errors.As(err, &cerr) {
			return map[string]ItemSpec{}, setAside(err)
		}
		return nil, err
	}
	return specs, nil
}

// WriteItemSpecs replaces items.yaml with specs, atomically (temp file,
// fsync, rename, directory fsync). A file that would not change is not
// rewritten. Call it only while holding the lock.
func (s *Store) WriteItemSpecs(specs map[string]ItemSpec) error {
	data, err := encodeItemSpecs(specs)
	if err != nil {
		return err
	}
	path := s.itemSpecsPath()
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("write item specs: %w", err)
	}
	if err := durable.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write item specs: %w", err)
	}
	return nil
}

func encodeItemSpecs(specs map[string]ItemSpec) ([]byte, error) {
	v := ItemSpecsVersion
	doc := itemSpecsDoc{Version: &v, Items: make(map[string]itemSpecDoc, len(specs))}
	for id, sp := range specs {
		d := itemSpecDoc{Type: sp.Type, DependsOn: sp.DependsOn}
		if sp.Params != nil {
			d.Params = *sp.Params
		}
		doc.Items[id] = d
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode item specs: %w", err)
	}
	return appendChecksum(body), nil
}

func decodeItemSpecs(path string, data []byte) (map[string]ItemSpec, error) {
	// The snapshots' checksum line, the same way.
	body, summed, err := checkSum(data)
	if err != nil {
		return nil, corrupt(path, err.Error())
	}
	if !summed {
		return nil, corrupt(path, "its checksum line is missing: it was cut short or edited")
	}
	var doc itemSpecsDoc
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return nil, corrupt(path, err.Error())
	}
	switch {
	case doc.Version == nil:
		return nil, corrupt(path, "its version line is missing")
	case *doc.Version > ItemSpecsVersion:
		return nil, &VersionError{Path: path, Found: *doc.Version, Supported: ItemSpecsVersion}
	case *doc.Version < 1:
		return nil, corrupt(path, fmt.Sprintf("it has version %d, which peace never wrote", *doc.Version))
	}
	specs := make(map[string]ItemSpec, len(doc.Items))
	for id, d := range doc.Items {
		if d.Type == "" {
			return nil, corrupt(path, fmt.Sprintf("item %s has no type", id))
		}
		sp := ItemSpec{Type: d.Type, DependsOn: d.DependsOn}
		if d.Params.Kind != 0 {
			p := d.Params
			sp.Params = &p
		}
		specs[id] = sp
	}
	return specs, nil
}
