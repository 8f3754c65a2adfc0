package progress_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLibraryLinksNoTerminalCode checks that the library packages an item
// author or a server imports link no Charm package: the terminal view is
// progress/tui's alone.
func TestLibraryLinksNoTerminalCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	const module = "github.com/peace-go/peace/"
	for _, pkg := range []string{"items", "cmdblock", "cmdctx", "progress"} {
		out, err := exec.Command(goTool, "list", "-deps", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "charm.land/") || strings.HasPrefix(dep, "github.com/charmbracelet/") {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
