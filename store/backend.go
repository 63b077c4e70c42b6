package store

import (
	"context"
	"errors"
)

// backend is the storage under the store: ordered byte keys in
// transactions. It only ever sees sealed values; sealing sits above it.
// Badger is the embedded default; PostgreSQL is the shared one. Both pass
// the same test suite. ctx is the caller's (a request's, when a request
// asks): once it is done, a round trip in flight or not yet begun stops
// and the call fails, so a cancelled request does not wait out the
// database. Badger answers from memory and disk and ignores it.
type backend interface {
	// Get reads one key in its own snapshot: the hot path's single read.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// View runs fn in a read-only snapshot.
	View(ctx context.Context, fn func(r reader) error) error
	// Update runs fn in a read-write transaction and commits it durably.
	// fn may run more than once (on a write conflict) and must have no
	// effects outside the transaction.
	Update(ctx context.Context, fn func(w writer) error) error
	// GC reclaims space; errNothingToCollect when there was none.
	GC() error
	// TryLock takes the named lock that lets one process at a time do a
	// piece of periodic work; ok=false when another process holds it.
	TryLock(name string) (unlock func(), ok bool, err error)
	Close() error
}

type reader interface {
	// Get returns a copy of the value, or errNoKey.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for each key with o.Prefix, in key order (or
	// reverse), starting at o.Start when set. key and value are only valid
	// during the call. Return errStop to end early without error.
	Iterate(o iterOptions, fn func(key, value []byte) error) error
}

type writer interface {
	reader
	Set(key, value []byte) error
	Delete(key []byte) error
}

type iterOptions struct {
	Prefix   []byte
	Start    []byte // first key (forward) or last key (reverse) to visit; nil = whole prefix
	Reverse  bool
	KeysOnly bool
}

var (
	errNoKey            = errors.New("no such key")
	errStop             = errors.New("stop iteration")
	errTxnTooBig        = errors.New("transaction too big")
	errNothingToCollect = errors.New("nothing to collect")
)
