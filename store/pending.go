package store

import "fmt"

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
	err := s.be.View(func(r reader) error {
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
		switch j.kind {
		case pendingKeychain:
			err = s.purgeKeychain(j.id)
		case pendingPackage:
			err = s.purgePackage(j.id)
		default:
			err = fmt.Errorf("unknown pending delete kind %q: %w", j.kind, ErrCorrupt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
