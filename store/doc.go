// Package store keeps keygate's keychains, user and app secrets, packages,
// grants, audit events and signing keys in one embedded Badger directory.
//
// Sealing: every secret value (and signing key) is sealed with AES-256-GCM
// under its own random data key, which is wrapped by the current master
// key. The associated data binds scope, owner, name, version and the
// record's metadata, so a sealed value moved elsewhere or edited fails to
// open (ErrCorrupt). Sealing happens above the storage backend, which only
// ever sees ciphertext. Plaintext is never cached and OpenSecret zeroes it
// after the callback returns.
//
// Master keys: Open checks the keyring against keycheck.json before Badger
// touches a file; a wrong or missing key is an error wrapping ErrMasterKey
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
// decoded records (ciphertext only), invalidated by the store's own writes;
// Badger's directory lock guarantees no other process writes.
//
// The package never imports Caddy; caddymodule is the only glue.
package store
