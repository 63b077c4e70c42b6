package store

import (
	"context"
	"fmt"
)

// A delete with children (a keychain's secrets and grants, a package's app
// secrets and grants) may be too large for one transaction. It first
// removes the parent and writes a pending mark in one transaction, then
// removes children in batches and finally the mark. Open finishes any
// mark a crash left behind.
const (
	pfxPending      = "pend/"
	pendingKeychain = "kc"
	pendingPackage  = "pkg"
	purgeBatch      = 512
)

func pendingKey(kind, id string) []byte { return key(pfxPending, kind, id) }

func (s *Store) finishPendingDeletes() error {
	type job struct{ kind, id string }
	var jobs []job
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxPending), KeysOnly: true}, func(k, _ []byte) error {
			rest := string(k[len(pfxPending):])
			for i := 0; i < len(rest); i++ {
				if rest[i] == sep {
					jobs = append(jobs, job{rest[:i], rest[i+1:]})
					break
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		s.infof("keygate store: finishing an interrupted delete of %s %q", j.kind, j.id)
		if err := s.purge(j.kind, j.id); err != nil {
			return err
		}
	}
	return nil
}

// purge removes what a deleted keychain (kind pendingKeychain) or package
// (pendingPackage) leaves behind, a batch per transaction, then its pending
// mark: its secrets (a package's are its app secrets), and its grants
// under both indexes (grants are keyed by keychain then package, and
// mirrored by package then keychain).
func (s *Store) purge(kind, id string) error {
	var secrets, grants, mirror string
	switch kind {
	case pendingKeychain:
		secrets, grants, mirror = pfxSecret, pfxGrant, pfxGrantByPkg
	case pendingPackage:
		secrets, grants, mirror = pfxAppSecret, pfxGrantByPkg, pfxGrant
	default:
		return fmt.Errorf("unknown pending delete kind %q: %w", kind, ErrCorrupt)
	}
	for {
		done := false
		err := s.update(func(w writer) error {
			secretKeys, err := collectKeys(w, scope(secrets, id), purgeBatch)
			if err != nil {
				return err
			}
			grantKeys, err := collectKeys(w, scope(grants, id), purgeBatch-len(secretKeys))
			if err != nil {
				return err
			}
			for _, k := range secretKeys {
				if err := w.Delete(k); err != nil {
					return err
				}
			}
			for _, k := range grantKeys {
				other := lastPart(k, grants)
				if err := w.Delete(k); err != nil {
					return err
				}
				if err := w.Delete(key(mirror, other, id)); err != nil {
					return err
				}
			}
			done = len(secretKeys)+len(grantKeys) < purgeBatch
			if done {
				return w.Delete(pendingKey(kind, id))
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}
