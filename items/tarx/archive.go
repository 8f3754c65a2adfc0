package tarx

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// ErrRefused is wrapped by the error for an archive entry that would write
// outside dest.
var ErrRefused = errors.New("refused")

// archive is an open archive file and a tar reader over its content,
// decompressed when the content is gzip.
type archive struct {
	path   string
	f      *os.File
	source Source
	tr     *tar.Reader
	closer io.Closer // the gzip reader, or nil
}

// magic numbers of compressions tar_x does not read, for a clear error.
var otherFormats = []struct {
	magic []byte
	name  string
}{
	{[]byte("BZh"), "bzip2"},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz"},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, "zstd"},
	{[]byte("PK\x03\x04"), "zip"},
}

// openArchive opens the archive at p and recognises its format by content:
// gzip by its magic bytes 1f 8b, a plain tar otherwise.
func openArchive(p string) (*archive, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	a := &archive{path: p, f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("archive %s is not a regular file", p)
	}
	a.source = Source{Size: fi.Size(), ModTime: fi.ModTime().UTC()}
	if fi.Size() == 0 {
		f.Close()
		return nil, fmt.Errorf("archive %s is empty", p)
	}
	head := make([]byte, 8)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, err
	}
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		// Large reads: the decompressor would otherwise read 4 KiB at a time.
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("archive %s: %w", p, err)
		}
		a.tr, a.closer = tar.NewReader(zr), zr
	default:
		for _, o := range otherFormats {
			if bytes.HasPrefix(head, o.magic) {
				f.Close()
				return nil, fmt.Errorf("archive %s is %s-compressed; tar_x reads .tar and .tar.gz", p, o.name)
			}
		}
		// A plain tar: the reader seeks over file data it is not asked for.
		a.tr = tar.NewReader(f)
	}
	return a, nil
}

func (a *archive) Close() error {
	if a.closer != nil {
		a.closer.Close()
	}
	return a.f.Close()
}

// next returns the next header, with errors naming the archive.
func (a *archive) next() (*tar.Header, error) {
	h, err := a.tr.Next()
	if err == io.EOF {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("archive %s: %w", a.path, err)
	}
	return h, nil
}

// entryOf is the state entry a header describes, with its name cleaned. It
// returns ok=false for headers that put nothing on disk (the archive root,
// global PAX headers). Names that are absolute or contain ".." are refused.
func entryOf(h *tar.Header) (e Entry, ok bool, err error) {
	name, err := cleanName(h.Name)
	if err != nil || name == "" {
		return Entry{}, false, err
	}
	if h.Typeflag == tar.TypeXGlobalHeader {
		return Entry{}, false, nil
	}
	e = Entry{Path: name}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeGNUSparse, 0 /* pre-POSIX regular file */ :
		e.Type, e.Size, e.Mode, e.ModTime = TypeFile, h.Size, formatMode(h.Mode), h.ModTime.UTC()
	case tar.TypeDir:
		e.Type, e.Mode = TypeDir, formatMode(h.Mode)
	case tar.TypeSymlink:
		e.Type, e.Link = TypeSymlink, h.Linkname
	case tar.TypeLink:
		target, err := cleanName(h.Linkname)
		if err != nil || target == "" {
			return Entry{}, false, fmt.Errorf("entry %q: hard link to %q points outside dest: %w", h.Name, h.Linkname, ErrRefused)
		}
		e.Type, e.Link = TypeHardlink, target
	default:
		return Entry{}, false, fmt.Errorf("entry %q: type %q (%s) is not supported", h.Name, h.Typeflag, typeName(h.Typeflag))
	}
	return e, true, nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return "unknown"
}

// cleanName turns an entry name into a clean slash path relative to dest;
// "" for dest itself. Absolute names and names with a ".." element are
// refused, whatever they resolve to.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("entry with an empty name: %w", ErrRefused)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("entry %q: NUL in name: %w", name, ErrRefused)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("entry %q: absolute path: %w", name, ErrRefused)
	case slices.Contains(strings.Split(name, "/"), ".."):
		return "", fmt.Errorf("entry %q: path contains \"..\": %w", name, ErrRefused)
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// maxHops bounds symlink resolution, as the kernel does.
const maxHops = 40

// links resolves paths inside dest through the symlinks an archive puts
// there.
type links map[string]string

// inside reports whether p, a slash path relative to dest that may contain
// "..", stays inside dest once every symlink of the archive on the way is
// followed. Links out of dest, absolute links and loops are not inside.
func (l links) inside(p string) bool {
	_, ok := l.resolve(p, new(int))
	return ok
}

func (l links) resolve(p string, hops *int) ([]string, bool) {
	var out []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(out) == 0 {
				return nil, false
			}
			out = out[:len(out)-1]
			continue
		}
		out = append(out, c)
		target, isLink := l[strings.Join(out, "/")]
		if !isLink {
			continue
		}
		if *hops++; *hops > maxHops || path.IsAbs(target) {
			return nil, false
		}
		parent := strings.Join(out[:len(out)-1], "/")
		r, ok := l.resolve(parent+"/"+target, hops)
		if !ok {
			return nil, false
		}
		out = r
	}
	return out, true
}

// validate refuses, naming the first offending entry, an entry list that
// would write outside dest or through a symlink of its own: a symlink whose
// target resolves outside dest, a hard link to a path outside it, or an
// entry (or a hard link's file) below one of the archive's symlinks.
// Extraction never follows a symlink on the way to an entry, so such an
// archive could not be extracted as its names say; refusing it before
// anything is written leaves nothing behind.
func validate(entries []Entry) error {
	l := links{}
	for _, e := range entries {
		if e.Type == TypeSymlink {
			l[e.Path] = e.Link
		}
	}
	for _, e := range entries {
		if err := l.check(e); err != nil {
			return err
		}
	}
	return nil
}

// below returns the first of the archive's symlinks that p lies below, or
// "".
func (l links) below(p string) string {
	if len(l) == 0 {
		return ""
	}
	for i := range len(p) {
		if p[i] == '/' {
			if _, ok := l[p[:i]]; ok {
				return p[:i]
			}
		}
	}
	return ""
}

func (l links) check(e Entry) error {
	if s := l.below(e.Path); s != "" {
		return fmt.Errorf("entry %q: %q is a symlink the archive makes, and tar_x does not write through symlinks: %w", e.Path, s, ErrRefused)
	}
	switch e.Type {
	case TypeSymlink:
		if path.IsAbs(e.Link) {
			return fmt.Errorf("entry %q: symlink to the absolute path %q: %w", e.Path, e.Link, ErrRefused)
		}
		if !l.inside(path.Dir(e.Path) + "/" + e.Link) {
			return fmt.Errorf("entry %q: symlink to %q points outside dest: %w", e.Path, e.Link, ErrRefused)
		}
	case TypeHardlink:
		if s := l.below(e.Link); s != "" {
			return fmt.Errorf("entry %q: hard link to %q, below %q, a symlink the archive makes: %w", e.Path, e.Link, s, ErrRefused)
		}
		if !l.inside(e.Link) {
			return fmt.Errorf("entry %q: hard link to %q points outside dest: %w", e.Path, e.Link, ErrRefused)
		}
	}
	return nil
}

// scan reads every header of the archive at p, without extracting, and
// returns the entries it would put under dest (for a path named twice, the
// last one), sorted by path and validated.
func scan(ctx context.Context, p string) (Source, []Entry, error) {
	a, err := openArchive(p)
	if err != nil {
		return Source{}, nil, err
	}
	defer a.Close()
	byPath := map[string]int{}
	var entries []Entry
	for {
		if err := ctx.Err(); err != nil {
			return Source{}, nil, err
		}
		h, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Source{}, nil, err
		}
		e, ok, err := entryOf(h)
		if err != nil {
			return Source{}, nil, fmt.Errorf("archive %s: %w", p, err)
		}
		if !ok {
			continue
		}
		if i, dup := byPath[e.Path]; dup {
			entries[i] = e
			continue
		}
		byPath[e.Path] = len(entries)
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	if err := validate(entries); err != nil {
		return Source{}, nil, fmt.Errorf("archive %s: %w", p, err)
	}
	return a.source, entries, nil
}

// Source identifies an archive file by size and modification time.
type Source struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

func (s *Source) equal(o *Source) bool {
	return s != nil && o != nil && s.Size == o.Size && s.ModTime.Equal(o.ModTime)
}
