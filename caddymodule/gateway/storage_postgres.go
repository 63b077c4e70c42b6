package gateway

import (
	"sync/atomic"
	"time"
)

// postgresPrefix starts the shared-state name of a PostgreSQL store; the
// rest is the database's host, port, name and user, never the password.
const postgresPrefix = "postgres:"

// storeTimeout bounds each PostgreSQL round trip of the app's store, so a
// request meets a database that is down with a 503 within a few seconds
// rather than hang: shorter than the store's default, which also serves
// `keygate storage copy`, where waiting longer costs no one.
const storeTimeout = 3 * time.Second

// storeClock is the store's clock (expiry of owner sign-ins, OAuth state,
// audit times); tests move it through SetClock.
var storeClock atomic.Pointer[func() time.Time]

// Now is the clock of the store and of owner sign-ins.
func Now() time.Time {
	if f := storeClock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// SetClock moves the clock of every store this process opens, for the
// in-process tests of the assembled modules; it returns a function that
// puts the real one back. Not for production use.
func SetClock(now func() time.Time) (restore func()) {
	old := storeClock.Swap(&now)
	return func() { storeClock.Store(old) }
}
