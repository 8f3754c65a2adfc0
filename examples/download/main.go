package main

import (
	"os"

	"github.com/peace-go/peace/cmd"
	"github.com/peace-go/peace/examples/download/checksum"
)

// main is peace's command line with checksum_file among the item types.
func main() { os.Exit(cmd.Main(cmd.WithTypes(checksum.Type))) }
