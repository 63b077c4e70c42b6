// Package clock is the time the keygate app reads (its store, owner
// sign-ins, OAuth state, webhook timestamps): the wall clock, unless a
// test moves it. Being internal, only packages under caddymodule/ can
// import it, so Set is no part of any API a user of keygate sees.
package clock

import (
	"sync/atomic"
	"time"
)

var moved atomic.Pointer[func() time.Time]

// Now is the app's current time.
func Now() time.Time {
	if f := moved.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// Set moves the clock of every keygate app in this process, for the
// in-process tests of the assembled modules; restore puts the wall clock
// (or the previous one) back. Kept on purpose: the one clock hook, and
// only tests move the clock.
func Set(now func() time.Time) (restore func()) {
	old := moved.Swap(&now)
	return func() { moved.Store(old) }
}
