package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Logger receives the store's and Badger's log lines. Lines name files,
// ids and counts, never values.
type Logger interface {
	Errorf(format string, args ...any)
	Warningf(format string, args ...any)
	Infof(format string, args ...any)
	Debugf(format string, args ...any)
}

// Options configure Open.
type Options struct {
	Dir           string // Badger directory (created 0700). Empty + InMemory for tests.
	InMemory      bool
	Keyring       *Keyring // required
	MaxValueBytes int      // 0 = 8192
	Logger        Logger   // optional; without one, Badger's chatter is discarded
	Now           func() time.Time
	// CacheBytes bounds the in-process metadata cache: 0 = DefaultCacheBytes,
	// < 0 disables it.
	CacheBytes int64
	// Postgres, when set, is the DSN (libpq URL or key=value) of a shared
	// PostgreSQL database used instead of Badger; Dir and InMemory must
	// then be empty. Its password never appears in an error or log line.
	Postgres string
	// Timeout bounds each PostgreSQL round trip (0 = DefaultTimeout); past
	// it a call fails with ErrUnavailable.
	Timeout time.Duration
	// Observe, when set, is told how long each round trip to the
	// database took: op is "get", "view" or "update".
	Observe func(op string, d time.Duration)
}

// Store is keygate's database. It is safe for concurrent use.
type Store struct {
	kr       *Keyring
	be       backend
	cache    *metaCache
	kc       keycheckStore // nil in memory: no key check
	origin   string        // what the store is kept in, to refuse copying a store onto itself
	maxValue int
	log      Logger
	nowFn    func() time.Time

	life   sync.RWMutex // held shared by every call, exclusively by Close
	closed bool

	keycheckMu   sync.Mutex
	sealerMarked atomic.Pointer[Keyring] // keyring whose current key the key check marks in use

	signingGen atomic.Uint64                // bumped whenever the signing keys may have changed
	witness    atomic.Pointer[AuditWitness] // the newest audit chain head written here

	rewrapMu   sync.Mutex
	rewrapPage int                          // records per Rewrap transaction
	rewrapHook func(int) error              // test hook: called after each page with the running total
	rewrapNow  atomic.Pointer[RewrapCounts] // the running rewrap's counts so far
}

// Open opens (or creates) the store. A wrong or missing master key is
// reported, wrapping ErrMasterKey, before any record is touched.
func Open(opts Options) (*Store, error) {
	if opts.Keyring == nil {
		return nil, invalid("keyring", "is required")
	}
	if opts.Postgres != "" && (opts.Dir != "" || opts.InMemory) {
		return nil, invalid("postgres", "cannot be combined with dir or in_memory")
	}
	if opts.Postgres == "" && !opts.InMemory && opts.Dir == "" {
		return nil, invalid("dir", "is required unless in memory")
	}
	if opts.MaxValueBytes < 0 {
		return nil, invalid("max_value_bytes", "must not be negative")
	}
	if opts.Timeout < 0 {
		return nil, invalid("timeout", "must not be negative")
	}
	s := &Store{
		kr:         opts.Keyring,
		maxValue:   opts.MaxValueBytes,
		log:        opts.Logger,
		nowFn:      opts.Now,
		rewrapPage: 256,
	}
	if s.maxValue == 0 {
		s.maxValue = DefaultMaxValueBytes
	}
	if s.nowFn == nil {
		s.nowFn = time.Now
	}
	cacheBytes := opts.CacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultCacheBytes
	}

	if opts.Postgres != "" {
		if err := s.openPostgres(opts, cacheBytes); err != nil {
			return nil, err
		}
	} else if err := s.openBadger(opts, cacheBytes); err != nil {
		return nil, err
	}
	if opts.Observe != nil {
		s.be = timedBackend{backend: s.be, observe: opts.Observe}
	}
	if err := s.finishPendingDeletes(); err != nil {
		s.be.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openBadger(opts Options, cacheBytes int64) error {
	var (
		doc            keycheckDoc
		changed, fresh bool
	)
	if !opts.InMemory {
		s.kc = fileKeycheck{dir: opts.Dir}
		if abs, err := filepath.Abs(opts.Dir); err == nil {
			s.origin = "badger " + abs
		}
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return fmt.Errorf("create store dir: %w", err)
		}
		var err error
		if doc, changed, fresh, err = planKeycheck(s.kc, opts.Keyring); err != nil {
			return err
		}
		// A new store records its key first, so a crash before Badger
		// creates files cannot leave data without a key check.
		if fresh {
			if err := writeKeycheck(s.kc, doc); err != nil {
				return err
			}
			changed = false
		}
	}

	be, err := openBadger(opts.Dir, opts.InMemory, opts.Logger)
	if err != nil {
		return err
	}
	s.be = be
	if changed {
		// Only after Badger took its directory lock: a second process
		// must not rewrite the key check of a store it cannot open.
		if err := writeKeycheck(s.kc, doc); err != nil {
			be.Close()
			return err
		}
		s.infof("keygate store: key check updated for master keys %v", opts.Keyring.IDs())
	}
	// Badger's directory lock makes this process the only writer, so the
	// store's own invalidations keep the cache true.
	s.cache = newMetaCache(cacheBytes)
	return nil
}

func (s *Store) openPostgres(opts Options, cacheBytes int64) error {
	be, err := openPostgres(opts.Postgres, opts.Timeout, opts.Logger)
	if err != nil {
		return err
	}
	s.be = be
	s.kc = pgKeycheck{be}
	s.origin = "postgres " + be.where
	err = s.kc.locked(func() error {
		doc, changed, fresh, err := planKeycheck(s.kc, opts.Keyring)
		if err != nil || !changed {
			return err
		}
		if !fresh {
			s.infof("keygate store: key check updated for master keys %v", opts.Keyring.IDs())
		}
		return writeKeycheck(s.kc, doc)
	})
	if err != nil {
		be.Close()
		return err
	}
	// Other nodes write too: the cache is trusted only while their
	// changes arrive (postgres_listen.go), and signing keys they add are
	// heard of the same way.
	s.cache = newMetaCache(cacheBytes)
	if err := be.listen(s.cache, s.noteChange); err != nil {
		be.Close()
		return err
	}
	return nil
}

// Close closes the database; later calls return ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.be.Close()
}

// enter guards one call against Close; pair with leave.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

func (s *Store) now() time.Time { return s.nowFn().UTC() }

func (s *Store) infof(format string, args ...any) {
	if s.log != nil {
		s.log.Infof(format, args...)
	}
}

func (s *Store) warnf(format string, args ...any) {
	if s.log != nil {
		s.log.Warningf(format, args...)
	}
}

// update runs fn in a write transaction and afterwards drops every cached
// record it wrote, whether the commit succeeded or not.
func (s *Store) update(fn func(w writer) error) error {
	return s.updateContext(context.Background(), fn)
}

// updateContext is update for a caller whose context bounds the
// transaction: a request that is cancelled or out of time stops waiting.
func (s *Store) updateContext(ctx context.Context, fn func(w writer) error) error {
	var touched []string
	err := s.be.Update(ctx, func(w writer) error {
		return fn(trackingWriter{writer: w, touched: &touched})
	})
	s.cache.invalidate(touched)
	return err
}

type trackingWriter struct {
	writer
	touched *[]string
}

func (t trackingWriter) Set(k, v []byte) error {
	if cacheable(k) {
		*t.touched = append(*t.touched, string(k))
	}
	return t.writer.Set(k, v)
}

func (t trackingWriter) Delete(k []byte) error {
	if cacheable(k) {
		*t.touched = append(*t.touched, string(k))
	}
	return t.writer.Delete(k)
}

// cachedGet returns decode(value of k), from the cache when it can; nil
// when k is absent.
func (s *Store) cachedGet(ctx context.Context, k []byte, decode func(raw []byte) (any, error)) (any, error) {
	v, found, gen := s.cache.get(k)
	if found {
		return v, nil
	}
	// k may be on its caller's stack (keyBuf): the backend gets a copy.
	raw, err := s.be.Get(ctx, bytes.Clone(k))
	if errors.Is(err, errNoKey) {
		s.cache.put(k, nil, 0, gen)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v, err = decode(raw); err != nil {
		return nil, err
	}
	s.cache.put(k, v, len(raw), gen)
	return v, nil
}

// getJSON reads and decodes one JSON record inside a transaction.
func getJSON(r reader, k []byte, v any) error {
	raw, err := r.Get(k)
	if err != nil {
		return err
	}
	return decodeJSON(raw, v)
}

func decodeJSON(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("stored record does not decode: %w", ErrCorrupt)
	}
	return nil
}

func setJSON(w writer, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Set(k, b)
}

// exists reports whether k is stored.
func exists(r reader, k []byte) (bool, error) {
	_, err := r.Get(k)
	if errors.Is(err, errNoKey) {
		return false, nil
	}
	return err == nil, err
}

// collectKeys returns copies of up to max keys with prefix.
func collectKeys(r reader, prefix []byte, max int) ([][]byte, error) {
	if max <= 0 {
		return nil, nil
	}
	var keys [][]byte
	err := r.Iterate(iterOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		if len(keys) >= max {
			return errStop
		}
		return nil
	})
	return keys, err
}

// SetKeyring replaces the keyring of an open store, for a config reload
// that brings a new master key: the new current key seals from now on, and
// every configured key still opens. The keyring is checked against the key
// check first, with the same errors as Open; on error nothing changes.
func (s *Store) SetKeyring(kr *Keyring) error {
	if kr == nil {
		return invalid("keyring", "is required")
	}
	// Exclusive, like Close: no call is using the old keyring meanwhile.
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.kc != nil {
		err := s.kc.locked(func() error {
			doc, changed, _, err := planKeycheck(s.kc, kr)
			if err != nil || !changed {
				return err
			}
			return writeKeycheck(s.kc, doc)
		})
		if err != nil {
			return err
		}
	}
	s.kr = kr
	return nil
}

// SetMaxValueBytes changes the largest value accepted from now on, for a
// config reload; values already stored are untouched.
func (s *Store) SetMaxValueBytes(n int) {
	if n <= 0 {
		n = DefaultMaxValueBytes
	}
	s.life.Lock()
	defer s.life.Unlock()
	s.maxValue = n
}
