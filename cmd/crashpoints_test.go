package cmd

import "github.com/peace-go/peace/cmdctx"

// The test binary, which the scripts run as peace, stops at crash points.
func init() { cmdctx.ArmCrashPoints() }
