package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerBackend is the embedded default backend: one Badger directory,
// locked by Badger against a second process.
type badgerBackend struct {
	db *badger.DB
}

// maxConflictRetries bounds retries of a transaction that lost a
// write-write race (badger.ErrConflict); each retry re-reads fresh state.
const maxConflictRetries = 16

// badgerOptions tunes Badger for many small records and bounded memory
// (a million secrets in a few hundred MiB; BENCHMARKS.md has the runs).
func badgerOptions(dir string, inMemory bool, log Logger) badger.Options {
	o := badger.DefaultOptions(dir).
		WithInMemory(inMemory).
		// A write that returned success survives kill -9.
		WithSyncWrites(true).
		// Sealed records are a few hundred bytes: keep them in the LSM
		// tree, where one lookup finds key and value. Only values above
		// 2 KiB go to the value log.
		WithValueThreshold(2 << 10).
		// 3 x 16 MiB memtables instead of 5 x 64 MiB.
		WithMemTableSize(16 << 20).
		WithNumMemtables(3).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		// Ciphertext does not compress. Uncompressed, unencrypted blocks are
		// read in place from the mmapped tables, so a block cache would
		// only copy them (Badger's own advice) and the index cache is
		// unused: both off, and the kernel's page cache bounds the rest.
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		// Smaller value-log files keep the mmapped window and GC units small.
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger(log))
	if inMemory {
		o.Dir, o.ValueDir = "", ""
		// Without a value log every value must fit under the threshold;
		// audit segments are up to a few hundred KiB.
		o = o.WithValueThreshold(1 << 20)
	}
	return o
}

func openBadger(dir string, inMemory bool, log Logger) (*badgerBackend, error) {
	db, err := badger.Open(badgerOptions(dir, inMemory, log))
	if err != nil {
		return nil, fmt.Errorf("open badger: %w", err)
	}
	return &badgerBackend{db: db}, nil
}

func (b *badgerBackend) Get(_ context.Context, key []byte) ([]byte, error) {
	txn := b.db.NewTransaction(false)
	defer txn.Discard()
	return badgerTxn{txn}.Get(key)
}

func (b *badgerBackend) View(_ context.Context, fn func(reader) error) error {
	return mapBadgerErr(b.db.View(func(txn *badger.Txn) error {
		return fn(badgerTxn{txn})
	}))
}

func (b *badgerBackend) Update(_ context.Context, fn func(writer) error) error {
	for attempt := 0; ; attempt++ {
		err := b.db.Update(func(txn *badger.Txn) error {
			return fn(badgerTxn{txn})
		})
		if errors.Is(err, badger.ErrConflict) && attempt < maxConflictRetries {
			continue
		}
		return mapBadgerErr(err)
	}
}

func (b *badgerBackend) GC() error {
	err := b.db.RunValueLogGC(0.5)
	if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) || errors.Is(err, badger.ErrGCInMemoryMode) {
		return errNothingToCollect
	}
	return mapBadgerErr(err)
}

// TryLock always succeeds: Badger's directory lock already keeps every
// other process out.
func (b *badgerBackend) TryLock(string) (func(), bool, error) { return func() {}, true, nil }

func (b *badgerBackend) Close() error { return b.db.Close() }

func mapBadgerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		return errNoKey
	case errors.Is(err, badger.ErrTxnTooBig):
		return errTxnTooBig
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	case errors.Is(err, badger.ErrConflict):
		return fmt.Errorf("too many concurrent writes to the same record: %w", ErrConflict)
	}
	return err
}

type badgerTxn struct{ txn *badger.Txn }

func (t badgerTxn) Get(key []byte) ([]byte, error) {
	item, err := t.txn.Get(key)
	if err != nil {
		return nil, mapBadgerErr(err)
	}
	return item.ValueCopy(nil)
}

func (t badgerTxn) Set(key, value []byte) error {
	return mapBadgerErr(t.txn.Set(key, value))
}

func (t badgerTxn) Delete(key []byte) error {
	return mapBadgerErr(t.txn.Delete(key))
}

func (t badgerTxn) Iterate(o iterOptions, fn func(key, value []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = o.Prefix
	opts.Reverse = o.Reverse
	opts.PrefetchValues = !o.KeysOnly
	opts.PrefetchSize = 16
	it := t.txn.NewIterator(opts)
	defer it.Close()

	start := o.Start
	if start == nil {
		start = o.Prefix
		if o.Reverse {
			// Reverse Seek finds the last key <= start; no stored key has
			// this many 0xff bytes right after a prefix.
			start = append(bytes.Clone(o.Prefix), bytes.Repeat([]byte{0xff}, 32)...)
		}
	}
	for it.Seek(start); it.ValidForPrefix(o.Prefix); it.Next() {
		item := it.Item()
		var err error
		if o.KeysOnly {
			err = fn(item.Key(), nil)
		} else {
			err = item.Value(func(v []byte) error { return fn(item.Key(), v) })
		}
		if errors.Is(err, errStop) {
			return nil
		}
		if err != nil {
			return mapBadgerErr(err)
		}
	}
	return nil
}

// badgerLogAdapter sends Badger's log lines to the store's Logger, marked
// as Badger's. Badger logs file names and counts, never our values.
type badgerLogAdapter struct{ l Logger }

func badgerLogger(l Logger) badger.Logger {
	if l == nil {
		return nil // Badger checks for nil and stays quiet
	}
	return badgerLogAdapter{l}
}

func (a badgerLogAdapter) Errorf(f string, v ...any)   { a.l.Errorf("badger: "+f, v...) }
func (a badgerLogAdapter) Warningf(f string, v ...any) { a.l.Warningf("badger: "+f, v...) }
func (a badgerLogAdapter) Infof(f string, v ...any)    { a.l.Infof("badger: "+f, v...) }
func (a badgerLogAdapter) Debugf(f string, v ...any)   { a.l.Debugf("badger: "+f, v...) }
