package main

import (
	"os"

	"github.com/peace-go/peace/cmd"
)

func main() { os.Exit(cmd.Main()) }
