package state

import "os"

// crashEnv names the environment variable that arms CrashPoint.
const crashEnv = "PEACE_CRASH_AT"

// CrashPoint kills the process at once with SIGKILL if the environment
// variable PEACE_CRASH_AT equals name. Tests use it to stop a run at an exact
// point and check what the next run recovers; it costs one environment lookup
// otherwise. Points in this package: "fold:between_snapshots" and
// "fold:after_snapshots".
func CrashPoint(name string) {
	if at := os.Getenv(crashEnv); at != "" && at == name {
		killSelf()
	}
}
