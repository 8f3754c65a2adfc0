//go:build crashpoints

package cmd

import "github.com/peace-go/peace/cmdctx"

// Built with -tags crashpoints (the kill harness does), peace stops at the
// crash point PEACE_CRASH_AT names. Without the tag no such switch exists.
func init() { cmdctx.ArmCrashPoints() }
