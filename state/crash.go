package state

import (
	"os"
	"sync/atomic"
)

// crashEnv names the environment variable that chooses a crash point.
const crashEnv = "PEACE_CRASH_AT"

// crashArmed is set by ArmCrashPoints; until then CrashPoint does nothing.
var crashArmed atomic.Bool

// ArmCrashPoints makes CrashPoint read PEACE_CRASH_AT. Only test builds
// call it (a test binary, or a binary built with -tags crashpoints), so no
// environment variable can make a production peace kill itself.
func ArmCrashPoints() { crashArmed.Store(true) }

// CrashPoint kills the process at once with SIGKILL if crash points are
// armed and the environment variable PEACE_CRASH_AT equals name. Tests use
// it to stop a run at an exact point and check what the next run
// recovers. Points in this package: "fold:between_snapshots" and
// "fold:after_snapshots".
func CrashPoint(name string) {
	if !crashArmed.Load() {
		return
	}
	if at := os.Getenv(crashEnv); at != "" && at == name {
		killSelf()
	}
}
