package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Copying between backends (keygate storage copy): every record moves as
// the bytes it is stored as, sealed values sealed, never decrypted, so
// the copy needs the same master keys to open and nothing else.

// CopyCounts says what CopyWithProgress copied.
type CopyCounts struct {
	Records int
	Bytes   int64          // keys plus values
	ByKind  map[string]int // records by key prefix, such as "sec/" or "kc/"
}

// copyBatch bounds one write transaction of a copy.
const (
	copyBatchRecords = 256
	copyBatchBytes   = 1 << 20
)

// OpenSpec opens the store a spec names: "badger:<dir>" or
// "postgres:<dsn>". The master-key check applies as in Open. Errors never
// repeat the DSN.
func OpenSpec(spec string, kr *Keyring) (*Store, error) {
	switch kind, rest, _ := strings.Cut(spec, ":"); {
	case kind == "badger" && rest != "":
		return Open(Options{Dir: rest, Keyring: kr})
	case kind == "postgres" && rest != "":
		return Open(Options{Postgres: rest, Keyring: kr})
	}
	return nil, invalid("spec", "must be badger:<dir> or postgres:<dsn>")
}

// CopyWithProgress copies every record of from into to, calling progress
// (when not nil) with the number of records copied so far after each
// batch is written. A target that holds records is refused (ErrConflict)
// unless force, which empties it first. The target's key check becomes
// the source's, so it demands the same master keys.
func CopyWithProgress(from, to *Store, force bool, progress func(copied int)) (CopyCounts, error) {
	counts := CopyCounts{ByKind: map[string]int{}}
	if from == nil || to == nil || from == to || (from.origin != "" && from.origin == to.origin) {
		return counts, invalid("copy", "needs two different stores")
	}
	if err := from.enter(); err != nil {
		return counts, err
	}
	defer from.leave()
	if err := to.enter(); err != nil {
		return counts, err
	}
	defer to.leave()

	n, err := countRecords(to.be)
	if err != nil {
		return counts, err
	}
	if n > 0 {
		if !force {
			return counts, fmt.Errorf("target store holds %d records; force replaces them: %w", n, ErrConflict)
		}
		if err := clearRecords(to); err != nil {
			return counts, err
		}
	}
	// The key check first: a copy cut short still demands the keys that
	// sealed what it holds.
	if err := copyKeycheck(from, to); err != nil {
		return counts, err
	}

	var batch [][2][]byte
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := to.update(func(w writer) error {
			for _, kv := range batch {
				if err := w.Set(kv[0], kv[1]); err != nil {
					return err
				}
			}
			return nil
		})
		batch, size = batch[:0], 0
		if err == nil && progress != nil {
			progress(counts.Records)
		}
		return err
	}
	err = from.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{}, func(k, v []byte) error {
			batch = append(batch, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			size += len(k) + len(v)
			counts.Records++
			counts.Bytes += int64(len(k) + len(v))
			counts.ByKind[recordKind(k)]++
			if len(batch) >= copyBatchRecords || size >= copyBatchBytes {
				return flush()
			}
			return nil
		})
	})
	if err == nil {
		err = flush()
	}
	return counts, err
}

// copyKeycheck gives to the key check of from, after making sure to's
// keyring passes it.
func copyKeycheck(from, to *Store) error {
	if from.kc == nil || to.kc == nil {
		return nil
	}
	doc, ok, err := readKeycheck(from.kc)
	if err != nil || !ok {
		return err
	}
	if _, _, _, err := planKeycheck(docKeycheck{doc}, to.kr); err != nil {
		return err
	}
	err = to.kc.locked(func() error { return writeKeycheck(to.kc, doc) })
	to.sealerMarked.Store(nil)
	return err
}

// docKeycheck is a key check document held in memory, to test a keyring
// against it.
type docKeycheck struct{ doc keycheckDoc }

func (d docKeycheck) load() ([]byte, bool, error) {
	b, err := json.Marshal(d.doc)
	return b, true, err
}
func (d docKeycheck) save([]byte) error            { return errors.New("read-only key check") }
func (d docKeycheck) holdsData() (bool, error)     { return true, nil }
func (d docKeycheck) locked(fn func() error) error { return fn() }
func (d docKeycheck) name() string                 { return "the source's key check" }

func recordKind(k []byte) string {
	if i := bytes.IndexByte(k, '/'); i >= 0 {
		return string(k[:i+1])
	}
	return "other"
}

func countRecords(be backend) (int, error) {
	n := 0
	err := be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{KeysOnly: true}, func(_, _ []byte) error {
			n++
			return nil
		})
	})
	return n, err
}

// clearRecords deletes every record of s, a batch per transaction.
func clearRecords(s *Store) error {
	for {
		var keys [][]byte
		if err := s.be.View(context.Background(), func(r reader) error {
			var err error
			keys, err = collectKeys(r, nil, purgeBatch)
			return err
		}); err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if err := s.update(func(w writer) error {
			for _, k := range keys {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// VerifyCopy compares every record of a and b, byte for byte.
func VerifyCopy(a, b *Store) error {
	if a == nil || b == nil {
		return invalid("verify", "needs two stores")
	}
	if err := a.enter(); err != nil {
		return err
	}
	defer a.leave()
	if err := b.enter(); err != nil {
		return err
	}
	defer b.leave()
	n, differ := 0, 0
	first := ""
	err := a.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{}, func(k, v []byte) error {
			n++
			got, err := b.be.Get(context.Background(), k)
			if errors.Is(err, errNoKey) || (err == nil && !bytes.Equal(got, v)) {
				if differ == 0 {
					first = recordKind(k)
				}
				differ++
				return nil
			}
			return err
		})
	})
	if err != nil {
		return err
	}
	m, err := countRecords(b.be)
	if err != nil {
		return err
	}
	if differ > 0 {
		return fmt.Errorf("copy differs: %d of %d records missing or changed (first under %q): %w", differ, n, first, ErrConflict)
	}
	if m != n {
		return fmt.Errorf("copy differs: %d records in the source, %d in the target: %w", n, m, ErrConflict)
	}
	return nil
}

// Record kinds for people: what CopyCounts.ByKind counts by key prefix,
// named as an operator knows them. Index and chain bookkeeping records go
// under one name.

// KindCount is a number of records of one kind.
type KindCount struct {
	Kind  string
	Count int
}

// kindNames names the prefixes that hold things; every other prefix is an
// index or the audit chain's bookkeeping.
var kindNames = []struct{ prefix, name string }{
	{pfxSecret, "secrets"},
	{pfxAppSecret, "app secrets"},
	{pfxKeychain, "keychains"},
	{pfxPackage, "packages"},
	{pfxGrant, "grants"},
	{pfxAudit, "audit segments"},
	{pfxSigningKey, "signing keys"},
	{pfxWebhookDelivery, "webhook deliveries"},
	{pfxOwnerLink, "owner sign-in links"},
	{pfxOwnerSession, "owner sessions"},
	{pfxOAuthState, "OAuth connect states"},
	{pfxOAuthPending, "OAuth connects awaiting confirmation"},
	{pfxLease, "leases"},
}

const kindIndexes = "indexes and chain records"

// CountsByKind turns counts by key prefix into counts by kind, in a fixed
// order, leaving out kinds with no records.
func CountsByKind(byPrefix map[string]int) []KindCount {
	var out []KindCount
	named := map[string]bool{}
	for _, k := range kindNames {
		named[k.prefix] = true
		if n := byPrefix[k.prefix]; n > 0 {
			out = append(out, KindCount{k.name, n})
		}
	}
	rest := 0
	for p, n := range byPrefix {
		if !named[p] {
			rest += n
		}
	}
	if rest > 0 {
		out = append(out, KindCount{kindIndexes, rest})
	}
	return out
}
