//go:build unix

package tarx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/peace-go/peace/items"
)

// The writer of archive/tar does not write sparse entries, so the tests
// build their headers block by block, as GNU tar writes them.

// fragment is a run of data in a sparse entry; the rest is holes.
type fragment struct {
	off  int64
	data []byte
}

// numeric writes v into a header field: octal when it fits, base-256 (GNU)
// when it does not.
func numeric(field []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	if len(s) < len(field) {
		copy(field, fmt.Sprintf("%0*s", len(field)-1, s))
		return
	}
	clear(field)
	binary.BigEndian.PutUint64(field[len(field)-8:], uint64(v))
	field[0] = 0x80
}

// header is a 512-byte header block for name with the given type flag,
// stored size and magic, its checksum set.
func header(name string, typ byte, size int64, gnu bool) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	numeric(b[100:108], 0o644)
	numeric(b[108:116], 0)
	numeric(b[116:124], 0)
	numeric(b[124:136], size)
	numeric(b[136:148], mtime.Unix())
	b[156] = typ
	if gnu {
		copy(b[257:], "ustar  \x00")
	} else {
		copy(b[257:], "ustar\x0000")
	}
	return b
}

func seal(b []byte) []byte {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func pad(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// oldGNUSparse is an archive with one entry in the old GNU sparse format
// (type 'S', the map in the header; GNU tar's default): up to 4 fragments.
func oldGNUSparse(t *testing.T, name string, size int64, frags []fragment) []byte {
	t.Helper()
	if len(frags) > 4 {
		t.Fatal("more fragments than the header holds")
	}
	var data []byte
	for _, f := range frags {
		data = append(data, f.data...)
	}
	h := header(name, 'S', int64(len(data)), true)
	for i, f := range frags {
		e := h[386+24*i:]
		numeric(e[0:12], f.off)
		numeric(e[12:24], int64(len(f.data)))
	}
	numeric(h[483:495], size)
	out := append(seal(h), pad(data)...)
	return append(out, make([]byte, 1024)...)
}

// paxSparse is an archive with one entry in GNU's PAX sparse format 1.0
// (tar --format=pax --sparse): the map is at the start of the entry's data.
func paxSparse(t *testing.T, name string, size int64, frags []fragment) []byte {
	t.Helper()
	var recs string
	for _, kv := range [][2]string{
		{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"},
		{"GNU.sparse.name", name}, {"GNU.sparse.realsize", strconv.FormatInt(size, 10)},
	} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec)
		for len(strconv.Itoa(n))+len(rec) != n {
			n = len(strconv.Itoa(n)) + len(rec)
		}
		recs += strconv.Itoa(n) + rec
	}
	m := strconv.Itoa(len(frags)) + "\n"
	var data []byte
	for _, f := range frags {
		m += fmt.Sprintf("%d\n%d\n", f.off, len(f.data))
		data = append(data, f.data...)
	}
	body := append(pad([]byte(m)), data...)
	out := seal(header("./PaxHeaders/"+name, 'x', int64(len(recs)), false))
	out = append(out, pad([]byte(recs))...)
	out = append(out, seal(header("GNUSparseFile.0/"+name, '0', int64(len(body)), false))...)
	out = append(out, pad(body)...)
	return append(out, make([]byte, 1024)...)
}

// TestSparseEntryIsWrittenSparse extracts a 3 GiB sparse entry from an
// archive of a few KiB: its holes must stay holes on disk, its data must
// read back where the map puts it.
func TestSparseEntryIsWrittenSparse(t *testing.T) {
	const size = 3<<30 + 12345
	frags := []fragment{
		{0, []byte("head of the image")},
		{1<<30 + 7, bytes.Repeat([]byte("middle"), 2000)}, // unaligned, spans blocks
		{2<<30 + 4096, []byte("aligned")},
	}
	withTail := append(frags, fragment{size - 5, []byte("tail!")})
	for _, c := range []struct {
		name    string
		archive func(*testing.T, string, int64, []fragment) []byte
		frags   []fragment
	}{
		{"old GNU, trailing hole", oldGNUSparse, frags},
		{"old GNU, data at the end", oldGNUSparse, withTail},
		{"PAX 1.0, trailing hole", paxSparse, frags},
		{"PAX 1.0, data at the end", paxSparse, withTail},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			ar := c.archive(t, "disk.img", size, c.frags)
			if len(ar) > 32<<10 {
				t.Fatalf("archive of %d bytes", len(ar))
			}
			if err := os.MkdirAll(filepath.Dir(f.x.Archive), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f.x.Archive, ar, 0o644); err != nil {
				t.Fatal(err)
			}
			f.must(items.OpEnsure, true)
			img := filepath.Join(f.x.Dest, "disk.img")
			fi, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != size {
				t.Fatalf("size %d, want %d", fi.Size(), size)
			}
			allocated := fi.Sys().(*syscall.Stat_t).Blocks * 512
			if allocated > 1<<20 {
				t.Fatalf("%d bytes allocated on disk for %d bytes of data: holes were written", allocated, 12000+64)
			}
			t.Logf("%d-byte archive, %d-byte entry: %d bytes allocated", len(ar), size, allocated)
			fd, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Close()
			at := func(off int64, n int) []byte {
				b := make([]byte, n)
				if _, err := fd.ReadAt(b, off); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				return b
			}
			for _, fr := range c.frags {
				if got := at(fr.off, len(fr.data)); !bytes.Equal(got, fr.data) {
					t.Fatalf("at %d: %.20q, want %.20q", fr.off, got, fr.data)
				}
				// Holes around the data read as zeros.
				if fr.off > 0 {
					if got := at(fr.off-3, 3); !bytes.Equal(got, []byte{0, 0, 0}) {
						t.Fatalf("before %d: %q", fr.off, got)
					}
				}
				if end := fr.off + int64(len(fr.data)); end+3 <= size {
					if got := at(end, 3); !bytes.Equal(got, []byte{0, 0, 0}) {
						t.Fatalf("after %d: %q", end, got)
					}
				}
			}
			last := byte(0)
			if l := c.frags[len(c.frags)-1]; l.off+int64(len(l.data)) == size {
				last = l.data[len(l.data)-1]
			}
			if got := at(size-1, 1); got[0] != last {
				t.Fatalf("last byte %q, want %q", got, last)
			}
			f.must(items.OpEnsure, false)
			f.must(items.OpClean, true)
			wantTree(t, f.x.Dest)
		})
	}
}

func TestSparseWriter(t *testing.T) {
	// Written in pieces that cut blocks anywhere, the file reads back as
	// written, with only the blocks holding data allocated.
	want := make([]byte, 64*holeBlock+100)
	copy(want[5:], "a")
	copy(want[3*holeBlock-2:], "across a block boundary")
	copy(want[40*holeBlock:], bytes.Repeat([]byte{1}, 2*holeBlock))
	copy(want[len(want)-1:], "z")
	for _, piece := range []int{1, 7, 1000, holeBlock, holeBlock + 1, len(want)} {
		p := filepath.Join(t.TempDir(), "f")
		fd, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		sw := &sparseWriter{f: fd}
		for rest := want; len(rest) > 0; {
			n := min(piece, len(rest))
			if m, err := sw.Write(rest[:n]); err != nil || m != n {
				t.Fatal(m, err)
			}
			rest = rest[n:]
		}
		if err := sw.finish(); err != nil {
			t.Fatal(err)
		}
		fd.Close()
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pieces of %d: content differs", piece)
		}
		fi, _ := os.Stat(p)
		// Blocks 0, 2, 3, 40, 41 and the last: 6, or a few more on file
		// systems with larger blocks.
		if b := fi.Sys().(*syscall.Stat_t).Blocks * 512; b > 16*holeBlock {
			t.Fatalf("pieces of %d: %d bytes allocated", piece, b)
		}
	}
	// A trailing hole still counts in the size.
	p := filepath.Join(t.TempDir(), "g")
	fd, _ := os.Create(p)
	sw := &sparseWriter{f: fd}
	sw.Write([]byte("x"))
	sw.Write(make([]byte, 10*holeBlock))
	if err := sw.finish(); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	if fi, _ := os.Stat(p); fi.Size() != 1+10*holeBlock {
		t.Fatalf("size %d", fi.Size())
	}
}
