package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// PutGrant approves pkg's current code and manifest (its sha256 and
// approval digest) for the keychain, with the given
// keys (deduplicated and sorted). Every key must be one the manifest
// requests; app keys are the package's own and need no grant.
func (s *Store) PutGrant(kc, pkg string, keys []string) (Grant, error) {
	if err := s.enter(); err != nil {
		return Grant{}, err
	}
	defer s.leave()
	if checkKeychainID(kc) != nil {
		return Grant{}, notFound("keychain", kc)
	}
	if checkPackageName("package", pkg) != nil {
		return Grant{}, notFound("package", pkg)
	}
	for i, k := range keys {
		if err := checkSecretName(fmt.Sprintf("keys[%d]", i), k); err != nil {
			return Grant{}, err
		}
	}
	keys = slices.Compact(slices.Sorted(slices.Values(keys)))
	if keys == nil {
		keys = []string{}
	}
	now := s.now()
	var g Grant
	err := s.update(func(w writer) error {
		ok, err := exists(w, key(pfxKeychain, kc))
		if err != nil {
			return err
		}
		if !ok {
			return notFound("keychain", kc)
		}
		var m Manifest
		if err := getJSON(w, key(pfxPackage, pkg), &m); err != nil {
			if errors.Is(err, errNoKey) {
				return notFound("package", pkg)
			}
			return err
		}
		for _, k := range keys {
			if _, ok := m.Key(k); !ok {
				return invalid("keys", fmt.Sprintf("%s is not requested by package %s", k, pkg))
			}
		}
		g = Grant{Keychain: kc, Package: pkg, Keys: keys, SHA256: m.SHA256, Approval: m.Approval, CreatedAt: now, UpdatedAt: now}
		var old Grant
		prev := &old
		switch err := getJSON(w, key(pfxGrant, kc, pkg), &old); {
		case err == nil:
			g.CreatedAt = old.CreatedAt
		case errors.Is(err, errNoKey):
			prev = nil
		default:
			return err
		}
		if keepsGrantEpoch(prev, keys, &m) {
			g.Epoch = old.Epoch
		} else if g.Epoch, err = nextGrantEpoch(w, kc, pkg); err != nil {
			return err
		}
		if err := setJSON(w, key(pfxGrant, kc, pkg), g); err != nil {
			return err
		}
		return w.Set(key(pfxGrantByPkg, pkg, kc), nil)
	})
	if err != nil {
		return Grant{}, err
	}
	return g.clone(), nil
}

// GetGrant returns the keychain's grant for pkg; served from the metadata
// cache.
func (s *Store) GetGrant(kc, pkg string) (Grant, error) {
	g, err := s.GrantRecord(kc, pkg)
	if err != nil {
		return Grant{}, err
	}
	return g.clone(), nil
}

// GrantRecord is GetGrant without the copy, for the checks every request
// makes: the grant returned is the cached record, shared and read-only.
// Records are never changed in place (a write caches a new one), so it
// stays as it was read; the caller must not modify it or its slices.
func (s *Store) GrantRecord(kc, pkg string) (*Grant, error) {
	return s.GrantRecordContext(context.Background(), kc, pkg)
}

// GrantRecordContext is GrantRecord for a request: a database read stops
// when ctx is done.
func (s *Store) GrantRecordContext(ctx context.Context, kc, pkg string) (*Grant, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if checkKeychainID(kc) != nil || checkPackageName("package", pkg) != nil {
		return nil, grantNotFound(kc, pkg)
	}
	var kb keyBuf
	v, err := s.cachedGet(ctx, kb.lookupKey(pfxGrant, kc, pkg), decodeGrant)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, grantNotFound(kc, pkg)
	}
	return v.(*Grant), nil
}

func grantNotFound(kc, pkg string) error {
	return fmt.Errorf("grant of package %q in keychain %q: %w", pkg, kc, ErrNotFound)
}

func decodeGrant(raw []byte) (any, error) {
	var g Grant
	if err := decodeJSON(raw, &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// ListGrants returns the keychain's grants by package name.
func (s *Store) ListGrants(kc string) ([]Grant, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if _, err := s.getKeychain(context.Background(), kc); err != nil {
		return nil, err
	}
	out := []Grant{}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: scope(pfxGrant, kc)}, func(_, v []byte) error {
			var g Grant
			if err := decodeJSON(v, &g); err != nil {
				return err
			}
			out = append(out, g)
			return nil
		})
	})
	return out, err
}

// DeleteGrant revokes the keychain's grant for pkg at once.
func (s *Store) DeleteGrant(kc, pkg string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if checkKeychainID(kc) != nil || checkPackageName("package", pkg) != nil {
		return grantNotFound(kc, pkg)
	}
	return s.update(func(w writer) error {
		ok, err := exists(w, key(pfxGrant, kc, pkg))
		if err != nil {
			return err
		}
		if !ok {
			return grantNotFound(kc, pkg)
		}
		if err := w.Delete(key(pfxGrant, kc, pkg)); err != nil {
			return err
		}
		return w.Delete(key(pfxGrantByPkg, pkg, kc))
	})
}

// Revocation is final (README "Security notes"): an
// invocation token names the grant epoch and the code epoch it was minted
// under, and is void once either moved. The grant epoch of a keychain and
// package moves when a grant is made anew, loses a key or approves other
// code; its counter outlives the grant, so deleting a grant and making it
// again never brings back a number already handed out. The code epoch of a
// package moves with every change of its sha256 or its approval digest
// (approval.go; codeEpoch in packages.go), so code that changes and
// changes back does not revive tokens minted before.

// nextGrantEpoch moves the counter of kc and pkg on and returns it.
func nextGrantEpoch(w writer, kc, pkg string) (uint64, error) {
	k := key(pfxGrantEpoch, kc, pkg)
	var n uint64
	switch raw, err := w.Get(k); {
	case err == nil && len(raw) == 8:
		n = binary.BigEndian.Uint64(raw)
	case err == nil:
		return 0, ErrCorrupt
	case !errors.Is(err, errNoKey):
		return 0, err
	}
	n++
	return n, w.Set(k, binary.BigEndian.AppendUint64(nil, n))
}

// keepsGrantEpoch reports whether a grant of keys for code sha, put over
// old (nil when there is none), leaves every token minted under old valid:
// only when it takes nothing away.
func keepsGrantEpoch(old *Grant, keys []string, m *Manifest) bool {
	if old == nil || old.Epoch == 0 || !old.Approves(m) {
		return false
	}
	for _, k := range old.Keys {
		if !slices.Contains(keys, k) {
			return false
		}
	}
	return true
}
