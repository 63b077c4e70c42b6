package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// RewrapCounts are the records a rewrap changed, by kind.
type RewrapCounts struct {
	Secrets     int `json:"secrets"`
	AppSecrets  int `json:"app_secrets"`
	SigningKeys int `json:"signing_keys"`
	ProxyCA     int `json:"proxy_ca"`
	Audit       int `json:"audit_records"` // audit chain records re-MAC'd
}

// Total is every record changed.
func (c RewrapCounts) Total() int {
	return c.Secrets + c.AppSecrets + c.SigningKeys + c.ProxyCA + c.Audit
}

// Rewrap is RewrapCounted's total.
func (s *Store) Rewrap(ctx context.Context) (int, error) {
	c, err := s.RewrapCounted(ctx)
	return c.Total(), err
}

// RewrapCounted re-wraps every stored data key (user secrets, app
// secrets, signing keys, the proxy CA) under the current master key,
// re-MACs the audit chain records made under another (rewrapAudit), and
// returns how many records of each kind it changed; RewrapProgress tells
// the counts so far meanwhile. It runs online: a page of records per
// transaction, so reads and writes go on meanwhile (a write that races a
// page makes the page retry). Each record is rewrapped at most once, so an
// interrupted run is finished by running it again. When it completes, the
// key check keeps only the current key: older keys may then leave the
// configuration.
func (s *Store) RewrapCounted(ctx context.Context) (c RewrapCounts, err error) {
	s.rewrapMu.Lock()
	defer s.rewrapMu.Unlock()
	s.rewrapNow.Store(&RewrapCounts{})
	defer s.rewrapNow.Store(nil)
	if err := s.enter(); err != nil {
		return c, err
	}
	kr := s.kr
	err = s.markSealerInUse(kr)
	s.leave()
	if err != nil {
		return c, err
	}
	for _, sc := range []struct {
		prefix, scope string
		count         *int
	}{
		{pfxSecret, scopeUser, &c.Secrets}, {pfxAppSecret, scopeApp, &c.AppSecrets},
		{pfxSigningKey, scopeSigning, &c.SigningKeys}, {pfxProxyCA, scopeProxyCA, &c.ProxyCA},
	} {
		var start []byte
		for {
			if err := ctx.Err(); err != nil {
				return c, err
			}
			changed, next, err := s.rewrapPageOf(kr, sc.prefix, sc.scope, start)
			*sc.count += changed
			s.noteRewrap(c)
			if err != nil {
				return c, err
			}
			if s.rewrapHook != nil {
				if err := s.rewrapHook(c.Total()); err != nil {
					return c, err
				}
			}
			if next == nil {
				break
			}
			start = next
		}
	}
	err = s.rewrapAudit(ctx, kr, func(n int) { c.Audit += n; s.noteRewrap(c) })
	if err != nil {
		return c, err
	}
	if s.kc == nil {
		return c, nil
	}
	if err := s.enter(); err != nil {
		return c, err
	}
	defer s.leave()
	if s.kr != kr {
		return c, errKeyringChanged
	}
	if err := keycheckAfterRewrap(s.kc, kr); err != nil {
		return c, err
	}
	s.infof("keygate store: rewrap done (%d records); key check now lists only master key %q", c.Total(), kr.CurrentID())
	return c, nil
}

func (s *Store) noteRewrap(c RewrapCounts) { s.rewrapNow.Store(&c) }

// RewrapProgress returns the counts of the rewrap running in this process
// so far; ok is false when none runs.
func (s *Store) RewrapProgress() (c RewrapCounts, ok bool) {
	if p := s.rewrapNow.Load(); p != nil {
		return *p, true
	}
	return c, false
}

// errKeyringChanged stops a Rewrap that SetKeyring overtook: records it
// already did are under the old current key, so it must run again.
var errKeyringChanged = fmt.Errorf("master keys changed during rewrap; run it again: %w", ErrConflict)

// rewrapPageOf rewraps up to s.rewrapPage records from start and returns
// the key to resume at (nil when the prefix is done).
func (s *Store) rewrapPageOf(kr *Keyring, prefix, scopeName string, start []byte) (changed int, next []byte, err error) {
	if err := s.enter(); err != nil {
		return 0, nil, err
	}
	defer s.leave()
	if s.kr != kr {
		return 0, nil, errKeyringChanged
	}
	err = s.update(func(w writer) error {
		changed, next = 0, nil
		var keys, values [][]byte
		err := w.Iterate(iterOptions{Prefix: []byte(prefix), Start: start}, func(k, v []byte) error {
			if len(keys) == s.rewrapPage {
				next = append([]byte(nil), k...)
				return errStop
			}
			keys = append(keys, append([]byte(nil), k...))
			values = append(values, append([]byte(nil), v...))
			return nil
		})
		if err != nil {
			return err
		}
		for i, k := range keys {
			ref := refFromKey(prefix, scopeName, k)
			rec, err := decodeRecord(values[i])
			if err != nil {
				return fmt.Errorf("%s: %w", ref.describe(), err)
			}
			ctx := ref.sealContext(rec.version, rec.meta)
			blob, did, err := rewrap(kr, &ctx, rec.blob)
			if err != nil {
				return fmt.Errorf("%s: %w", ref.describe(), err)
			}
			if !did {
				continue
			}
			if err := w.Set(k, encodeRecord(rec.version, rec.meta, blob)); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	return changed, next, err
}

// refFromKey rebuilds the seal context's owner and name from a record key.
func refFromKey(prefix, scopeName string, k []byte) secretRef {
	rest := k[len(prefix):]
	if scopeName == scopeSigning {
		return signingRef(string(rest))
	}
	if scopeName == scopeProxyCA {
		return proxyCARef(string(rest))
	}
	owner, name := rest, []byte(nil)
	if i := bytes.LastIndexByte(rest, sep); i >= 0 {
		owner, name = rest[:i], rest[i+1:]
	}
	return secretRef{scope: scopeName, prefix: prefix, owner: string(owner), name: string(name)}
}

// SealedByKey counts, per master key id, the records that still need
// that key to open or verify: data keys (user secrets, app secrets,
// signing keys) wrapped under it and audit chain records MAC'd under it.
// A key with a count may not leave master_key.
func (s *Store) SealedByKey(ctx context.Context) (map[string]int, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	kr := s.kr
	counts := map[string]int{}
	err := s.be.View(context.Background(), func(r reader) error {
		clear(counts) // View may run fn again
		for _, p := range []string{pfxSecret, pfxAppSecret, pfxSigningKey} {
			err := r.Iterate(iterOptions{Prefix: []byte(p)}, func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				rec, err := decodeRecord(v)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				env, err := parseEnvelope(rec.blob)
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				counts[env.keyID]++
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, end := range []struct{ key, label string }{{keyAuditHead, auditHeadLabel}, {keyAuditAnchor, auditAnchorLabel}} {
			v, err := r.Get([]byte(end.key))
			if errors.Is(err, errNoKey) {
				continue
			}
			if err != nil {
				return err
			}
			if _, keyID, problem := openAuditRecord(kr, end.label, v); problem == "" {
				counts[keyID]++
			}
		}
		return r.Iterate(iterOptions{Prefix: []byte(pfxAudit)}, func(_, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if h, _, chained, err := decodeSegment(v); err == nil && chained {
				counts[h.keyID]++
			}
			return nil
		})
	})
	return counts, err
}
