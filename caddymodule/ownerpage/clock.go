package ownerpage

import (
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// SetClock moves the clock of login links and sessions, which is the
// store's (see gateway.SetClock), for the in-process tests of the
// assembled modules; it returns a function that puts the real one back.
// Not for production use.
func SetClock(now func() time.Time) (restore func()) { return gateway.SetClock(now) }
