package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// PutPackage registers or replaces a package from its manifest; created is
// true on the first put. A host already used by another package is
// ErrConflict.
func (s *Store) PutPackage(m Manifest) (created bool, err error) {
	m = m.clone() // ValidateManifest normalises in place; leave the caller's slices alone
	if err := ValidateManifest(&m); err != nil {
		return false, err
	}
	if err := s.checkMaxBytes(&m); err != nil {
		return false, err
	}
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	m.UpdatedAt = s.now()
	m.Approval = approvalDigest(&m)
	err = s.update(func(w writer) error {
		deleting, err := exists(w, pendingKey(pendingPackage, m.Name))
		if err != nil {
			return err
		}
		if deleting {
			return fmt.Errorf("package %q is still being deleted: %w", m.Name, ErrConflict)
		}
		switch owner, err := w.Get(key(pfxPackageHost, m.Host)); {
		case err == nil && string(owner) != m.Name:
			return fmt.Errorf("host %q is used by package %q: %w", m.Host, string(owner), ErrConflict)
		case err != nil && !errors.Is(err, errNoKey):
			return err
		}
		var old Manifest
		prev := &old
		switch err := getJSON(w, key(pfxPackage, m.Name), &old); {
		case errors.Is(err, errNoKey):
			created, prev = true, nil
		case err != nil:
			return err
		case old.Host != m.Host:
			if err := w.Delete(key(pfxPackageHost, old.Host)); err != nil {
				return err
			}
		}
		if prev != nil && old.Approval == "" {
			if err := backfillApprovals(w, &old, approvalDigest(&old)); err != nil {
				return err
			}
		}
		m.CodeEpoch = codeEpoch(prev, &m)
		if err := w.Set(key(pfxPackageHost, m.Host), []byte(m.Name)); err != nil {
			return err
		}
		return setJSON(w, key(pfxPackage, m.Name), m)
	})
	return created, err
}

// GetPackage returns a package's manifest; served from the metadata cache.
func (s *Store) GetPackage(name string) (Manifest, error) {
	m, err := s.PackageRecord(name)
	if err != nil {
		return Manifest{}, err
	}
	return m.clone(), nil
}

// PackageRecord is GetPackage without the copy, for the checks every
// request makes: the manifest returned is the cached record, shared and
// read-only (see GrantRecord); the caller must not modify it.
func (s *Store) PackageRecord(name string) (*Manifest, error) {
	return s.PackageRecordContext(context.Background(), name)
}

// PackageRecordContext is PackageRecord for a request: a database read
// stops when ctx is done.
func (s *Store) PackageRecordContext(ctx context.Context, name string) (*Manifest, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	return s.getPackage(ctx, name)
}

// getPackage returns the cached manifest, shared: callers clone it before
// handing it out, except PackageRecord, whose callers only read it.
func (s *Store) getPackage(ctx context.Context, name string) (*Manifest, error) {
	if checkPackageName("package", name) != nil {
		return nil, notFound("package", name)
	}
	var kb keyBuf
	v, err := s.cachedGet(ctx, kb.lookupKey(pfxPackage, name), decodeManifestRecord)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, notFound("package", name)
	}
	return v.(*Manifest), nil
}

func decodeManifestRecord(raw []byte) (any, error) {
	var m Manifest
	if err := decodeJSON(raw, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// GetPackageByHost finds the package agents reach as <host>.<suffix>.
// host is matched case-insensitively; one that is not a DNS label is
// simply not found.
func (s *Store) GetPackageByHost(host string) (Manifest, error) {
	m, err := s.PackageRecordByHost(host)
	if err != nil {
		return Manifest{}, err
	}
	return m.clone(), nil
}

// PackageRecordByHost is GetPackageByHost without the copy: the manifest
// returned is the cached record, shared and read-only (see GrantRecord).
func (s *Store) PackageRecordByHost(host string) (*Manifest, error) {
	return s.PackageRecordByHostContext(context.Background(), host)
}

// PackageRecordByHostContext is PackageRecordByHost for a request: a
// database read stops when ctx is done.
func (s *Store) PackageRecordByHostContext(ctx context.Context, host string) (*Manifest, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	host = strings.ToLower(host)
	if !validDNSLabel(host) {
		return nil, notFound("package host", host)
	}
	var kb keyBuf
	v, err := s.cachedGet(ctx, kb.lookupKey(pfxPackageHost, host), decodeHostRecord)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, notFound("package host", host)
	}
	return s.getPackage(ctx, v.(string))
}

func decodeHostRecord(raw []byte) (any, error) { return string(raw), nil }

// ListPackages returns every package by name.
func (s *Store) ListPackages() ([]Manifest, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := []Manifest{}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(pfxPackage)}, func(_, v []byte) error {
			var m Manifest
			if err := decodeJSON(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}

// DeletePackage removes the package, its app secrets and every grant on
// it. The package disappears in one transaction; the rest follows in
// batches, resumed by the next Open if the process dies meanwhile.
func (s *Store) DeletePackage(name string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if checkPackageName("package", name) != nil {
		return notFound("package", name)
	}
	err := s.update(func(w writer) error {
		var m Manifest
		if err := getJSON(w, key(pfxPackage, name), &m); err != nil {
			if errors.Is(err, errNoKey) {
				return notFound("package", name)
			}
			return err
		}
		if err := w.Delete(key(pfxPackage, name)); err != nil {
			return err
		}
		if err := w.Delete(key(pfxPackageHost, m.Host)); err != nil {
			return err
		}
		return w.Set(pendingKey(pendingPackage, name), nil)
	})
	if err != nil {
		return err
	}
	return s.purge(pendingPackage, name)
}

// checkMaxBytes refuses a key's max_bytes above the store's largest value.
func (s *Store) checkMaxBytes(m *Manifest) error {
	for _, list := range []struct {
		field string
		keys  []KeySpec
	}{{"keys", m.Keys}, {"app_keys", m.AppKeys}} {
		for i, k := range list.keys {
			if k.MaxBytes > s.maxValue {
				return invalid(fmt.Sprintf("%s[%d].max_bytes", list.field, i), fmt.Sprintf("is %d, above max_value_bytes (%d)", k.MaxBytes, s.maxValue))
			}
		}
	}
	return nil
}

// codeEpoch is the code epoch of m put over old (nil when new).
func codeEpoch(old *Manifest, m *Manifest) uint64 {
	switch {
	case old == nil:
		return 1
	case old.SHA256 != m.SHA256 || approvalDigest(old) != m.Approval:
		return old.CodeEpoch + 1
	}
	return old.CodeEpoch
}
