package gateway

import "time"

// postgresPrefix starts the shared-state name of a PostgreSQL store; the
// rest is the database's host, port, name and user, never the password.
const postgresPrefix = "postgres:"

// storeTimeout bounds each PostgreSQL round trip of the app's store, so a
// request meets a database that is down with a 503 within a few seconds
// rather than hang: shorter than the store's default, which also serves
// `keygate storage copy`, where waiting longer costs no one.
const storeTimeout = 3 * time.Second
