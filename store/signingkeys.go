package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Signing keys are sealed like secrets: scope "signing", owner "keygate",
// name = kid.
const (
	signingOwner     = "keygate"
	minSigningSecret = 32
	maxSigningSecret = 512
)

type signingKeyMeta struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Retired   bool      `json:"retired,omitempty"`
}

func signingRef(id string) secretRef {
	return secretRef{scope: scopeSigning, prefix: pfxSigningKey, owner: signingOwner, name: id}
}

// PutSigningKey stores (or updates, e.g. to retire) one of keygate's JWT
// keys, sealed. A zero CreatedAt means now, or the stored one on update.
func (s *Store) PutSigningKey(k SigningKey) error {
	if err := checkKeyID("id", k.ID); err != nil {
		return err
	}
	if len(k.Secret) < minSigningSecret || len(k.Secret) > maxSigningSecret {
		return invalid("secret", fmt.Sprintf("must be %d to %d bytes", minSigningSecret, maxSigningSecret))
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	ref := signingRef(k.ID)
	meta := signingKeyMeta{ID: k.ID, CreatedAt: k.CreatedAt.UTC(), Retired: k.Retired}
	if k.CreatedAt.IsZero() {
		meta.CreatedAt = s.now()
	}
	err := s.update(func(w writer) error {
		m, version := meta, uint64(1)
		switch old, err := w.Get(key(pfxSigningKey, k.ID)); {
		case err == nil:
			rec, err := decodeRecord(old)
			if err != nil {
				return err
			}
			var prev signingKeyMeta
			if err := decodeJSON(rec.meta, &prev); err != nil {
				return err
			}
			version = rec.version + 1
			if k.CreatedAt.IsZero() {
				m.CreatedAt = prev.CreatedAt
			}
		case !errors.Is(err, errNoKey):
			return err
		}
		metaJSON, err := json.Marshal(m)
		if err != nil {
			return err
		}
		ctx := ref.sealContext(version, metaJSON)
		if err := s.markSealerInUse(s.kr); err != nil {
			return err
		}
		blob, err := seal(s.kr, &ctx, k.Secret)
		if err != nil {
			return err
		}
		return w.Set(key(pfxSigningKey, k.ID), encodeRecord(version, metaJSON, blob))
	})
	s.signingGen.Add(1)
	return err
}

// ListSigningKeys opens every signing key, newest first. The returned
// Secret slices belong to the caller.
func (s *Store) ListSigningKeys() ([]SigningKey, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := []SigningKey{}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxSigningKey)}, func(k, v []byte) error {
			id := string(k[len(pfxSigningKey):])
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			var m signingKeyMeta
			if err := decodeJSON(rec.meta, &m); err != nil {
				return err
			}
			// The kid comes from the storage key, so a record copied to
			// another kid fails to open.
			ctx := signingRef(id).sealContext(rec.version, rec.meta)
			secret, err := open(s.kr, &ctx, rec.blob, nil)
			if err != nil {
				return fmt.Errorf("signing key %q: %w", id, err)
			}
			out = append(out, SigningKey{ID: id, Secret: secret, CreatedAt: m.CreatedAt, Retired: m.Retired})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b SigningKey) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return out, nil
}

// SigningKeysGen changes whenever the signing keys may have changed: a
// write here, or on another node (heard of by notification, or by a
// reconnect after which nothing is known). Whoever keeps the keys loaded
// reloads them when it changes.
func (s *Store) SigningKeysGen() uint64 { return s.signingGen.Load() }

// noteChange hears of every change another node made.
func (s *Store) noteChange(keys []string, all bool) {
	if all {
		s.signingGen.Add(1)
		return
	}
	for _, k := range keys {
		if strings.HasPrefix(k, pfxSigningKey) {
			s.signingGen.Add(1)
			return
		}
	}
}
