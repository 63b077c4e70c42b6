package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxLeaseTTL bounds a lease, so a holder that died frees it soon.
const MaxLeaseTTL = 10 * time.Minute

const (
	maxLeaseName   = 512
	maxLeaseHolder = 128
)

// lease is one named lock with an expiry. It is a read-check-write on the
// backend's Update, so it is exclusive on any backend whose Update is a
// serializable transaction (Badger's conflict detection; PostgreSQL at
// SERIALIZABLE).
type lease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

func checkLease(name, holder string) error {
	switch {
	case name == "" || len(name) > maxLeaseName || strings.IndexByte(name, sep) >= 0:
		return invalid("lease", fmt.Sprintf("name must be 1 to %d bytes without NUL", maxLeaseName))
	case holder == "" || len(holder) > maxLeaseHolder:
		return invalid("holder", fmt.Sprintf("must be 1 to %d bytes", maxLeaseHolder))
	}
	return nil
}

// AcquireLease takes (or, for its holder, extends) the lease name for ttl.
// It reports false, without error, while someone else holds it.
func (s *Store) AcquireLease(name, holder string, ttl time.Duration) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	if err := checkLease(name, holder); err != nil {
		return false, err
	}
	if ttl <= 0 || ttl > MaxLeaseTTL {
		return false, invalid("ttl", fmt.Sprintf("must be above 0 and at most %s", MaxLeaseTTL))
	}
	var got bool
	err := s.update(func(w writer) error {
		got = false
		now := s.now()
		k := key(pfxLease, name)
		var cur lease
		switch err := getJSON(w, k, &cur); {
		case err == nil:
			if cur.Holder != holder && now.Before(cur.Expires) {
				return nil
			}
		case !errors.Is(err, errNoKey):
			return err
		}
		got = true
		return setJSON(w, k, lease{Holder: holder, Expires: now.Add(ttl)})
	})
	return got && err == nil, err
}

// ReleaseLease gives the lease up if holder still holds it.
func (s *Store) ReleaseLease(name, holder string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := checkLease(name, holder); err != nil {
		return err
	}
	return s.update(func(w writer) error {
		k := key(pfxLease, name)
		var cur lease
		switch err := getJSON(w, k, &cur); {
		case errors.Is(err, errNoKey):
			return nil
		case err != nil:
			return err
		case cur.Holder != holder:
			return nil
		}
		return w.Delete(k)
	})
}

// AcquireOAuthLease is AcquireLease for the refresh of one OAuth token
// (kc "" names the package's app token). On success the token's cached
// record is dropped: the previous holder may have written it on another
// node whose change notification is still on its way, and a holder that
// read the old record would spend the old refresh token a second time.
func (s *Store) AcquireOAuthLease(name, holder string, ttl time.Duration, kc, pkg, key string) (bool, error) {
	got, err := s.AcquireLease(name, holder, ttl)
	if got {
		ref := userSecret(kc, key)
		if kc == "" {
			ref = appSecret(pkg, key)
		}
		s.cache.invalidate([]string{string(ref.key())})
	}
	return got, err
}
