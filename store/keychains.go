package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// newKeychainID returns "kc_" + 26 lowercase base32 characters (128 bits).
func newKeychainID() string {
	return "kc_" + strings.ToLower(rand.Text())
}

// CreateKeychain makes a keychain with token version 1. environment ""
// means "production".
func (s *Store) CreateKeychain(owner, environment, name string) (Keychain, error) {
	if err := checkText("owner", owner, maxOwnerRunes, true); err != nil {
		return Keychain{}, err
	}
	env, err := normalizeEnvironment(environment)
	if err != nil {
		return Keychain{}, err
	}
	if err := checkText("name", name, maxNameRunes, false); err != nil {
		return Keychain{}, err
	}
	if err := s.enter(); err != nil {
		return Keychain{}, err
	}
	defer s.leave()

	kc := Keychain{ID: newKeychainID(), Owner: owner, Environment: env, Name: name, CreatedAt: s.now(), TokenVersion: 1}
	err = s.update(func(w writer) error {
		k := key(pfxKeychain, kc.ID)
		taken, err := exists(w, k)
		if err != nil {
			return err
		}
		if taken {
			return fmt.Errorf("keychain id collision: %w", ErrConflict)
		}
		if err := setJSON(w, k, kc); err != nil {
			return err
		}
		return w.Set(key(pfxOwner, owner, kc.ID), nil)
	})
	if err != nil {
		return Keychain{}, err
	}
	return kc, nil
}

// GetKeychain returns one keychain; served from the metadata cache.
func (s *Store) GetKeychain(id string) (Keychain, error) {
	return s.GetKeychainContext(context.Background(), id)
}

// GetKeychainContext is GetKeychain for a request: a database read stops
// when ctx is done.
func (s *Store) GetKeychainContext(ctx context.Context, id string) (Keychain, error) {
	if err := s.enter(); err != nil {
		return Keychain{}, err
	}
	defer s.leave()
	return s.getKeychain(ctx, id)
}

func (s *Store) getKeychain(ctx context.Context, id string) (Keychain, error) {
	if checkKeychainID(id) != nil {
		return Keychain{}, notFound("keychain", id)
	}
	var kb keyBuf
	v, err := s.cachedGet(ctx, kb.lookupKey(pfxKeychain, id), decodeKeychain)
	if err != nil {
		return Keychain{}, err
	}
	if v == nil {
		return Keychain{}, notFound("keychain", id)
	}
	return *v.(*Keychain), nil
}

func decodeKeychain(raw []byte) (any, error) {
	var kc Keychain
	if err := decodeJSON(raw, &kc); err != nil {
		return nil, err
	}
	return &kc, nil
}

// ListKeychains returns the owner's keychains (every keychain for ""),
// oldest first.
func (s *Store) ListKeychains(owner string) ([]Keychain, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := []Keychain{}
	err := s.be.View(context.Background(), func(r reader) error {
		if owner == "" {
			return r.Iterate(iterOptions{Prefix: []byte(pfxKeychain)}, func(_, v []byte) error {
				var kc Keychain
				if err := decodeJSON(v, &kc); err != nil {
					return err
				}
				out = append(out, kc)
				return nil
			})
		}
		if strings.IndexByte(owner, sep) >= 0 {
			return nil
		}
		prefix := scope(pfxOwner, owner)
		var ids []string
		err := r.Iterate(iterOptions{Prefix: prefix, KeysOnly: true}, func(k, _ []byte) error {
			ids = append(ids, string(k[len(prefix):]))
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			var kc Keychain
			if err := getJSON(r, key(pfxKeychain, id), &kc); err != nil {
				return err
			}
			out = append(out, kc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Keychain) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RotateKeychainToken bumps TokenVersion, so every earlier token fails.
func (s *Store) RotateKeychainToken(id string) (Keychain, error) {
	if err := s.enter(); err != nil {
		return Keychain{}, err
	}
	defer s.leave()
	if checkKeychainID(id) != nil {
		return Keychain{}, notFound("keychain", id)
	}
	var kc Keychain
	err := s.update(func(w writer) error {
		k := key(pfxKeychain, id)
		if err := getJSON(w, k, &kc); err != nil {
			if errors.Is(err, errNoKey) {
				return notFound("keychain", id)
			}
			return err
		}
		kc.TokenVersion++
		return setJSON(w, k, kc)
	})
	if err != nil {
		return Keychain{}, err
	}
	return kc, nil
}

// DeleteKeychain removes the keychain, its secrets and its grants. The
// keychain disappears in one transaction; its secrets and grants follow
// in batches, resumed by the next Open if the process dies meanwhile.
func (s *Store) DeleteKeychain(id string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if checkKeychainID(id) != nil {
		return notFound("keychain", id)
	}
	err := s.update(func(w writer) error {
		var kc Keychain
		if err := getJSON(w, key(pfxKeychain, id), &kc); err != nil {
			if errors.Is(err, errNoKey) {
				return notFound("keychain", id)
			}
			return err
		}
		if err := w.Delete(key(pfxKeychain, id)); err != nil {
			return err
		}
		if err := w.Delete(key(pfxOwner, kc.Owner, id)); err != nil {
			return err
		}
		return w.Set(pendingKey(pendingKeychain, id), nil)
	})
	if err != nil {
		return err
	}
	return s.purge(pendingKeychain, id)
}
