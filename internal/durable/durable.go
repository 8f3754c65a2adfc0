package durable

import (
	"fmt"
	"os"
)

// SyncDir fsyncs the directory dir, so that entries just created, renamed
// or removed in it are durable, not only the files' contents.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
