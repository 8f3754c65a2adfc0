//go:build linux

package cmd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// A peace built as users build it has no crash switch: PEACE_CRASH_AT
// names a point the run passes, and the run carries on to its end.
func TestProductionBuildIgnoresCrashPoints(t *testing.T) {
	goCmd := goTool()
	dir := t.TempDir()
	bin := filepath.Join(dir, "peace")
	if out, err := exec.Command(goCmd, "build", "-o", bin, "github.com/peace-go/peace").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	flow := "flow: c\nitems:\n  - id: a\n    type: file\n    params: {path: a.txt, content: \"a\\n\"}\n"
	if err := os.WriteFile(filepath.Join(dir, "flow.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "ensure", "--progress", "none")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PEACE_CRASH_AT=begin:a")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ensure with PEACE_CRASH_AT=begin:a: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err != nil {
		t.Errorf("the item was not applied: %v", err)
	}
}
