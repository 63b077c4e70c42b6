package store

import (
	"cmp"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync/atomic"
)

// Secrets of both scopes share this code: a user secret is owned by a
// keychain, an app secret by a package.

const maxRotationHintDays = 36500

type secretRef struct {
	scope  string // scopeUser or scopeApp
	prefix string // pfxSecret or pfxAppSecret
	owner  string // keychain id or package name
	name   string
}

func userSecret(kc, name string) secretRef {
	return secretRef{scope: scopeUser, prefix: pfxSecret, owner: kc, name: name}
}

func appSecret(pkg, name string) secretRef {
	return secretRef{scope: scopeApp, prefix: pfxAppSecret, owner: pkg, name: name}
}

func (r secretRef) key() []byte { return key(r.prefix, r.owner, r.name) }

// wellFormed reports whether the ref could name a stored record.
func (r secretRef) wellFormed() bool {
	if checkSecretName("name", r.name) != nil {
		return false
	}
	if r.scope == scopeUser {
		return checkKeychainID(r.owner) == nil
	}
	return checkPackageName("package", r.owner) == nil
}

func (r secretRef) notFound() error {
	if r.scope == scopeUser {
		return fmt.Errorf("secret %q in keychain %q: %w", r.name, r.owner, ErrNotFound)
	}
	return fmt.Errorf("app secret %q of package %q: %w", r.name, r.owner, ErrNotFound)
}

func (r secretRef) describe() string {
	return fmt.Sprintf("%s secret %q of %q", r.scope, r.name, r.owner)
}

func (r secretRef) sealContext(version uint64, meta []byte) sealContext {
	return sealContext{Scope: r.scope, Owner: r.owner, Name: r.name, Version: version, Meta: meta}
}

// storedSecret is a decoded secret record as the cache holds it: metadata
// and ciphertext, never plaintext.
type storedSecret struct {
	meta SecretMeta
	rec  sealedRecord
	// dk is the AEAD of the record's data key once it has opened the value
	// under kr: unwrapping it and setting up AES-GCM was a third of an
	// egress request. It lives as long as this cached record (a write to
	// the secret caches a new record), is used only with the keyring it
	// was unwrapped under, and still authenticates the value, with the
	// record's context, on every open. It is key material like the master
	// keys the process already holds, not a value.
	dk atomic.Pointer[dataKeyAEAD]
}

type dataKeyAEAD struct {
	kr   *Keyring
	aead cipher.AEAD
}

// open decrypts the record's value, appending it to dst.
func (ss *storedSecret) open(kr *Keyring, ctx *sealContext, dst []byte) ([]byte, error) {
	env, err := parseEnvelope(ss.rec.blob)
	if err != nil {
		return nil, err
	}
	if dk := ss.dk.Load(); dk != nil && dk.kr == kr {
		return openData(dk.aead, ctx, &env, dst)
	}
	gcm, err := openDataKey(kr, ctx, &env)
	if err != nil {
		return nil, err
	}
	out, err := openData(gcm, ctx, &env, dst)
	if err == nil {
		ss.dk.Store(&dataKeyAEAD{kr: kr, aead: gcm})
	}
	return out, err
}

func decodeSecret(raw []byte) (any, error) {
	rec, err := decodeRecord(raw)
	if err != nil {
		return nil, err
	}
	meta, err := decodeSecretMeta(rec.meta, rec.version)
	if err != nil {
		return nil, err
	}
	return &storedSecret{meta: meta, rec: rec}, nil
}

// PutSecret stores (or replaces) a user secret. A replacement keeps
// CreatedAt, bumps Version and UpdatedAt and takes the given options.
func (s *Store) PutSecret(kc, name string, value []byte, o SecretOptions) (SecretMeta, error) {
	if err := s.enter(); err != nil {
		return SecretMeta{}, err
	}
	defer s.leave()
	if checkKeychainID(kc) != nil {
		return SecretMeta{}, notFound("keychain", kc)
	}
	hosts, err := normalizeHostPatterns("allowed_hosts", o.AllowedHosts)
	if err != nil {
		return SecretMeta{}, err
	}
	if o.RotationHintDays < 0 || o.RotationHintDays > maxRotationHintDays {
		return SecretMeta{}, invalid("rotation_hint_days", fmt.Sprintf("must be 0 to %d", maxRotationHintDays))
	}
	if err := checkSecretKind(o.Kind, value); err != nil {
		return SecretMeta{}, err
	}
	put := secretPut{max: s.maxValue, kind: SecretMeta{Kind: o.Kind}}
	o = SecretOptions{AllowedHosts: hosts, RotationHintDays: o.RotationHintDays}
	return s.putSecretAs(userSecret(kc, name), value, put, func(r reader) (SecretOptions, error) {
		ok, err := exists(r, key(pfxKeychain, kc))
		if err == nil && !ok {
			err = notFound("keychain", kc)
		}
		if err != nil {
			return o, err
		}
		lim, err := userKeyLimits(r, name)
		if err != nil {
			return o, err
		}
		if err := lim.check(name, len(value)); err != nil {
			return o, err
		}
		if o.RotationHintDays == 0 {
			stored, err := exists(r, userSecret(kc, name).key())
			if err != nil {
				return o, err
			}
			if !stored {
				o.RotationHintDays = lim.rotationHintDays
			}
		}
		return o, nil
	})
}

// putSecret validates and seals value and writes the record. options runs
// inside the transaction: it confirms the owner exists and returns the
// secret's (already validated) options.
func (s *Store) putSecret(ref secretRef, value []byte, options func(r reader) (SecretOptions, error)) (SecretMeta, error) {
	return s.putSecretAs(ref, value, secretPut{max: s.maxValue}, options)
}

// secretPut is what differs between a value set by hand and a token
// keygate obtained (see oauth_token.go).
type secretPut struct {
	max       int
	kind      SecretMeta // Kind, ExpiresAt, Scopes, ConnectedAt are taken from it
	ifVersion uint64     // > 0: refuse with ErrConflict unless the stored version is this
}

func (s *Store) putSecretAs(ref secretRef, value []byte, p secretPut, options func(r reader) (SecretOptions, error)) (SecretMeta, error) {
	if err := checkSecretName("name", ref.name); err != nil {
		return SecretMeta{}, err
	}
	if err := ValidateSecretValue(value, p.max); err != nil {
		return SecretMeta{}, err
	}
	now := s.now()
	var meta SecretMeta
	err := s.update(func(w writer) error {
		o, err := options(w)
		if err != nil {
			return err
		}
		if o.AllowedHosts == nil {
			o.AllowedHosts = []string{}
		}
		meta = SecretMeta{Name: ref.name, AllowedHosts: o.AllowedHosts, RotationHintDays: o.RotationHintDays, CreatedAt: now, UpdatedAt: now, Version: 1,
			Kind: cmp.Or(p.kind.Kind, o.Kind), ExpiresAt: p.kind.ExpiresAt, Scopes: p.kind.Scopes, ConnectedAt: p.kind.ConnectedAt}
		k := ref.key()
		switch old, err := w.Get(k); {
		case err == nil:
			prev, err := decodeSecret(old)
			if err != nil {
				return err
			}
			meta.CreatedAt = prev.(*storedSecret).meta.CreatedAt
			meta.Version = prev.(*storedSecret).meta.Version + 1
		case !errors.Is(err, errNoKey):
			return err
		}
		if p.ifVersion > 0 && meta.Version != p.ifVersion+1 {
			return fmt.Errorf("%s changed meanwhile: %w", ref.describe(), ErrConflict)
		}
		metaBytes := encodeSecretMeta(&meta)
		ctx := ref.sealContext(meta.Version, metaBytes)
		if err := s.markSealerInUse(s.kr); err != nil {
			return err
		}
		blob, err := seal(s.kr, &ctx, value)
		if err != nil {
			return err
		}
		return w.Set(k, encodeRecord(meta.Version, metaBytes, blob))
	})
	if err != nil {
		return SecretMeta{}, err
	}
	return meta.clone(), nil
}

// getSecret returns the stored record, or nil when there is none.
func (s *Store) getSecret(ctx context.Context, ref secretRef) (*storedSecret, error) {
	if !ref.wellFormed() {
		return nil, nil
	}
	var kb keyBuf
	v, err := s.cachedGet(ctx, kb.lookupKey(ref.prefix, ref.owner, ref.name), decodeSecret)
	if err != nil || v == nil {
		return nil, err
	}
	return v.(*storedSecret), nil
}

// GetSecretMeta returns a user secret's metadata.
func (s *Store) GetSecretMeta(kc, name string) (SecretMeta, error) {
	return s.GetSecretMetaContext(context.Background(), kc, name)
}

// GetSecretMetaContext is GetSecretMeta for a request: a database read
// stops when ctx is done.
func (s *Store) GetSecretMetaContext(ctx context.Context, kc, name string) (SecretMeta, error) {
	return s.secretMeta(ctx, userSecret(kc, name))
}

func (s *Store) secretMeta(ctx context.Context, ref secretRef) (SecretMeta, error) {
	if err := s.enter(); err != nil {
		return SecretMeta{}, err
	}
	defer s.leave()
	ss, err := s.getSecret(ctx, ref)
	if err != nil {
		return SecretMeta{}, err
	}
	if ss == nil {
		return SecretMeta{}, ref.notFound()
	}
	return ss.meta.clone(), nil
}

// HasSecret reports whether the keychain holds a value for name.
func (s *Store) HasSecret(kc, name string) (bool, error) {
	return s.HasSecretContext(context.Background(), kc, name)
}

// HasSecretContext is HasSecret for a request: a database read stops when
// ctx is done.
func (s *Store) HasSecretContext(ctx context.Context, kc, name string) (bool, error) {
	return s.hasSecret(ctx, userSecret(kc, name))
}

func (s *Store) hasSecret(ctx context.Context, ref secretRef) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	ss, err := s.getSecret(ctx, ref)
	return ss != nil, err
}

// ListSecrets returns the keychain's secret metadata by name, never values.
func (s *Store) ListSecrets(kc string) ([]SecretMeta, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if _, err := s.getKeychain(context.Background(), kc); err != nil {
		return nil, err
	}
	return s.listSecrets(pfxSecret, kc)
}

func (s *Store) listSecrets(prefix, owner string) ([]SecretMeta, error) {
	out := []SecretMeta{}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: scope(prefix, owner)}, func(_, v []byte) error {
			ss, err := decodeSecret(v)
			if err != nil {
				return err
			}
			out = append(out, ss.(*storedSecret).meta.clone())
			return nil
		})
	})
	return out, err
}

// DeleteSecret removes a user secret.
func (s *Store) DeleteSecret(kc, name string) error {
	return s.deleteSecret(userSecret(kc, name))
}

func (s *Store) deleteSecret(ref secretRef) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if !ref.wellFormed() {
		return ref.notFound()
	}
	return s.update(func(w writer) error {
		k := ref.key()
		ok, err := exists(w, k)
		if err != nil {
			return err
		}
		if !ok {
			return ref.notFound()
		}
		return w.Delete(k)
	})
}

// OpenSecret decrypts a user secret into a buffer that is zeroed after fn
// returns; fn must not retain value. meta shares its slices with the cached
// record (it is read on every egress request): fn must not modify them, and
// clones meta to keep it.
func (s *Store) OpenSecret(kc, name string, fn func(meta SecretMeta, value []byte) error) error {
	return s.OpenSecretContext(context.Background(), kc, name, fn)
}

// OpenSecretContext is OpenSecret for a request: a database read stops
// when ctx is done.
func (s *Store) OpenSecretContext(ctx context.Context, kc, name string, fn func(meta SecretMeta, value []byte) error) error {
	return s.openSecret(ctx, userSecret(kc, name), fn)
}

func (s *Store) openSecret(ctx context.Context, ref secretRef, fn func(SecretMeta, []byte) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	ss, err := s.getSecret(ctx, ref)
	kr := s.kr
	// Leave before fn runs: fn may call the store, and a Close waiting
	// on the lock would otherwise deadlock it.
	s.leave()
	if err != nil {
		return err
	}
	if ss == nil {
		return ref.notFound()
	}
	sc := ref.sealContext(ss.rec.version, ss.rec.meta)
	value, err := ss.open(kr, &sc, make([]byte, 0, len(ss.rec.blob)))
	defer clear(value)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.describe(), err)
	}
	return fn(ss.meta, value)
}

// PutAppSecret stores a package's app secret. The name must be one of the
// manifest's app_keys; the secret's allowed hosts are that key's hosts.
func (s *Store) PutAppSecret(pkg, name string, value []byte) (SecretMeta, error) {
	if err := s.enter(); err != nil {
		return SecretMeta{}, err
	}
	defer s.leave()
	if checkPackageName("package", pkg) != nil {
		return SecretMeta{}, notFound("package", pkg)
	}
	return s.putSecret(appSecret(pkg, name), value, func(r reader) (SecretOptions, error) {
		var m Manifest
		if err := getJSON(r, key(pfxPackage, pkg), &m); err != nil {
			if errors.Is(err, errNoKey) {
				return SecretOptions{}, notFound("package", pkg)
			}
			return SecretOptions{}, err
		}
		spec, ok := m.AppKey(name)
		if !ok {
			return SecretOptions{}, invalid("name", fmt.Sprintf("%s is not one of package %s's app_keys", name, pkg))
		}
		lim := keyLimits{maxBytes: spec.MaxBytes, by: pkg}
		if err := lim.check(name, len(value)); err != nil {
			return SecretOptions{}, err
		}
		o := SecretOptions{AllowedHosts: spec.Hosts, RotationHintDays: spec.RotationHintDays}
		// An app key signed with sigv4 holds AWS credentials.
		if spec.SignsWithSigV4() {
			if err := checkSecretKind(SecretKindAWS, value); err != nil {
				return SecretOptions{}, err
			}
			o.Kind = SecretKindAWS
		}
		return o, nil
	})
}

// ListAppSecrets returns a package's app secret metadata by name.
func (s *Store) ListAppSecrets(pkg string) ([]SecretMeta, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if _, err := s.getPackage(context.Background(), pkg); err != nil {
		return nil, err
	}
	return s.listSecrets(pfxAppSecret, pkg)
}

// DeleteAppSecret removes a package's app secret.
func (s *Store) DeleteAppSecret(pkg, name string) error {
	return s.deleteSecret(appSecret(pkg, name))
}

// HasAppSecret reports whether the package has a value for name.
func (s *Store) HasAppSecret(pkg, name string) (bool, error) {
	return s.HasAppSecretContext(context.Background(), pkg, name)
}

// HasAppSecretContext is HasAppSecret for a request: a database read
// stops when ctx is done.
func (s *Store) HasAppSecretContext(ctx context.Context, pkg, name string) (bool, error) {
	return s.hasSecret(ctx, appSecret(pkg, name))
}

// OpenAppSecret decrypts an app secret into a buffer that is zeroed after
// fn returns; fn must not retain value. meta is shared as for OpenSecret.
func (s *Store) OpenAppSecret(pkg, name string, fn func(meta SecretMeta, value []byte) error) error {
	return s.OpenAppSecretContext(context.Background(), pkg, name, fn)
}

// OpenAppSecretContext is OpenAppSecret for a request: a database read
// stops when ctx is done.
func (s *Store) OpenAppSecretContext(ctx context.Context, pkg, name string, fn func(meta SecretMeta, value []byte) error) error {
	return s.openSecret(ctx, appSecret(pkg, name), fn)
}

// keyLimits are what packages declare about one key name: the smallest
// max_bytes among them (0: none) and who declared it, and the longest
// rotation_hint_days, the default of the owner's reminder.
type keyLimits struct {
	maxBytes         int
	by               string
	rotationHintDays int
}

// userKeyLimits reads every registered manifest that declares name as a
// user key. A keychain's secret serves every package that asks for its
// name, so the strictest max_bytes holds. Setting a value is rare: a scan
// of the manifests is fine here, and it never runs on a request's path.
func userKeyLimits(r reader, name string) (keyLimits, error) {
	var lim keyLimits
	err := r.Iterate(iterOptions{Prefix: []byte(pfxPackage)}, func(_, v []byte) error {
		var m Manifest
		if err := decodeJSON(v, &m); err != nil {
			return err
		}
		k, ok := m.Key(name)
		if !ok {
			return nil
		}
		if k.MaxBytes > 0 && (lim.maxBytes == 0 || k.MaxBytes < lim.maxBytes) {
			lim.maxBytes, lim.by = k.MaxBytes, m.Name
		}
		lim.rotationHintDays = max(lim.rotationHintDays, k.RotationHintDays)
		return nil
	})
	return lim, err
}

// check refuses a value longer than max_bytes, naming the limit and never
// the value.
func (l keyLimits) check(name string, n int) error {
	if l.maxBytes > 0 && n > l.maxBytes {
		return invalid("value", fmt.Sprintf("is %d bytes; package %s allows at most %d for %s (max_bytes)", n, l.by, l.maxBytes, name))
	}
	return nil
}
