package cmdctx

import "github.com/peace-go/peace/state"

// ArmCrashPoints makes the named crash points of an execution ("begin:ID",
// "apply:ID", the fold's) kill the process when PEACE_CRASH_AT names one.
// Only test builds call it: a test binary, or peace built with -tags
// crashpoints for the kill harness. A CmdCtx made after it gets the crash
// points unless its Options say otherwise.
func ArmCrashPoints() {
	state.ArmCrashPoints()
	armedCrash.Store(true)
}
