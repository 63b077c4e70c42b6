// Package store keeps keygate's keychains, user and app secrets, packages,
// grants, audit events, signing keys and owner sign-in state in one
// embedded Badger directory (the default, one node) or in one shared
// PostgreSQL database (several nodes; Options.Postgres). Both sit behind
// the small backend interface (backend.go) and pass one test suite.
//
// Sealing: every secret value (and signing key) is sealed with AES-256-GCM
// under its own random data key, which is wrapped by the current master
// key. The associated data binds scope, owner, name, version and the
// record's metadata, so a sealed value moved elsewhere or edited fails to
// open (ErrCorrupt). Sealing happens above the storage backend, which only
// ever sees ciphertext. Plaintext is never cached and OpenSecret zeroes it
// after the callback returns.
//
// Master keys: Open checks the keyring against the key check
// (keycheck.json, or a row of keygate_meta in PostgreSQL) before it
// touches a record; a wrong or missing key is an error wrapping ErrMasterKey
// that names the key id. Rewrap moves every data key to the current master
// key online; afterwards older keys may leave the configuration.
//
// Errors: validation failures are *ValidationError (errors.Is ErrInvalid)
// naming the field, never the value, and write nothing. Lookups and deletes
// by an id or name that cannot exist (a malformed keychain id, package name
// or secret name) report ErrNotFound, as for any absent record.
//
// Hot path: GetKeychain, GetPackageByHost, GetGrant, HasSecret and the
// record lookup of OpenSecret are served from a bounded in-process cache of
// decoded records (ciphertext only), invalidated by the store's own writes.
// With Badger its directory lock guarantees no other process writes. With
// PostgreSQL every node is told of every other node's commits by
// LISTEN/NOTIFY and obeys them once notified (typically milliseconds); a
// node whose channel is down reads through to the database until it is
// back (postgres_listen.go).
//
// PostgreSQL down: every call fails with ErrUnavailable within
// Options.Timeout (default 5s) rather than hanging, and works again by
// itself once the database answers. Periodic work runs on one node at a
// time through RunExclusive.
//
// The package never imports Caddy; caddymodule is the only glue.
package store
