package cmdctx

import "github.com/peace-go/peace/state"

// Store is where this CmdCtx's flow state lives; tests look at it directly.
func (c *CmdCtx) Store() *state.Store { return c.store }
