//go:build linux

package file

import (
	"io/fs"
	"sync"
	"syscall"
)

// seenOf returns what fi, the metadata of the file at path, says of it,
// looked at the moment at; or the zero Seen on a filesystem whose times
// cannot be trusted to move with every write (see localFS).
func seenOf(path string, fi fs.FileInfo, at int64) Seen {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !localTimes(uint64(st.Dev), path) {
		return Seen{}
	}
	return Seen{
		Size:  st.Size,
		Mtime: st.Mtim.Nano(),
		Ctime: st.Ctim.Nano(),
		Ino:   uint64(st.Ino),
		Dev:   uint64(st.Dev),
		Mode:  uint32(st.Mode),
		At:    at,
	}
}

// localFS are the filesystems that stamp a file's times from this
// machine's clock as it is written. Network filesystems stamp them from
// the server's clock, which may lag this one, and FUSE from whatever its
// daemon says: their files are always read.
var localFS = map[int64]bool{
	0xef53:     true, // ext2, ext3, ext4
	0x58465342: true, // xfs
	0x9123683e: true, // btrfs
	0x01021994: true, // tmpfs
	0x794c7630: true, // overlayfs
	0xf2f52010: true, // f2fs
	0x2fc12fc1: true, // zfs
	0xca451a4e: true, // bcachefs
}

var (
	fsMu    sync.Mutex
	fsLocal = map[uint64]bool{} // device -> its filesystem is one of localFS
)

// localTimes reports whether device dev, which holds path, has one of
// localFS, asking statfs once per device.
func localTimes(dev uint64, path string) bool {
	fsMu.Lock()
	local, ok := fsLocal[dev]
	fsMu.Unlock()
	if ok {
		return local
	}
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(path, &sfs); err != nil {
		return false // asked again next time
	}
	local = localFS[int64(sfs.Type)]
	fsMu.Lock()
	fsLocal[dev] = local
	fsMu.Unlock()
	return local
}
