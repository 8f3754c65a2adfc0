package builtin

import (
	"github.com/peace-go/peace/items"
	"github.com/peace-go/peace/items/dir"
	"github.com/peace-go/peace/items/file"
	"github.com/peace-go/peace/items/filedownload"
	"github.com/peace-go/peace/items/shcmd"
	"github.com/peace-go/peace/items/tarx"
)

// Registry returns a new registry of every built-in item type. Callers may
// Add their own types to it.
func Registry() *items.Registry {
	return items.NewRegistry(
		dir.Type,
		file.Type,
		shcmd.Type,
		filedownload.Type,
		tarx.Type,
	)
}
