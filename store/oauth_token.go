package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxOAuthTokenBytes caps a token's sealed JSON. It does not follow
// max_value_bytes: that bounds what people type, and providers' tokens
// (JWT access tokens especially) run to a few KiB.
const MaxOAuthTokenBytes = 16 << 10

const maxOAuthTokenField = 8 << 10

// ErrNotOAuthToken means the secret holds a value set by hand.
var ErrNotOAuthToken = errors.New("secret is not an oauth token")

// OAuthToken is what keygate seals as the value of an OAuth key. Its
// String and GoString never show the tokens.
type OAuthToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"` // zero: unknown, treated as not expiring
	Scopes       []string  `json:"scopes,omitempty"`
	ConnectedAt  time.Time `json:"connected_at,omitzero"`
}

func (t OAuthToken) String() string {
	return fmt.Sprintf("OAuthToken{expiry: %s, scopes: %v, redacted}", t.Expiry.Format(time.RFC3339), t.Scopes)
}

func (t OAuthToken) GoString() string { return t.String() }

// EncodeOAuthToken validates t and returns the JSON that gets sealed.
func EncodeOAuthToken(t OAuthToken) ([]byte, error) {
	if err := checkOAuthToken(&t); err != nil {
		return nil, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, invalid("token", "does not encode")
	}
	if len(b) > MaxOAuthTokenBytes {
		return nil, invalid("token", fmt.Sprintf("is larger than %d bytes", MaxOAuthTokenBytes))
	}
	return b, nil
}

// DecodeOAuthToken parses a sealed token's JSON.
func DecodeOAuthToken(b []byte) (OAuthToken, error) {
	var t OAuthToken
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" {
		return OAuthToken{}, fmt.Errorf("oauth token does not decode: %w", ErrCorrupt)
	}
	return t, nil
}

func checkOAuthToken(t *OAuthToken) error {
	for _, f := range []struct{ field, v string }{
		{"access_token", t.AccessToken}, {"refresh_token", t.RefreshToken}, {"token_type", t.TokenType},
	} {
		if len(f.v) > maxOAuthTokenField {
			return invalid(f.field, fmt.Sprintf("is longer than %d bytes", maxOAuthTokenField))
		}
		for i := 0; i < len(f.v); i++ {
			if c := f.v[i]; c < ' ' || c == 0x7f {
				return invalid(f.field, "must not contain control characters")
			}
		}
	}
	if t.AccessToken == "" {
		return invalid("access_token", "is empty")
	}
	if len(t.Scopes) > maxOAuthScopes {
		return invalid("scopes", fmt.Sprintf("has more than %d entries", maxOAuthScopes))
	}
	for i, sc := range t.Scopes {
		if err := checkOAuthScope(fmt.Sprintf("scopes[%d]", i), sc); err != nil {
			return err
		}
	}
	return nil
}

// oauthPut seals t in the secret ref; the listable metadata describes it.
func (s *Store) oauthPut(ref secretRef, t OAuthToken, ifVersion uint64, options func(r reader) (SecretOptions, error)) (SecretMeta, error) {
	if t.ConnectedAt.IsZero() {
		t.ConnectedAt = s.now()
	}
	t.Expiry, t.ConnectedAt = t.Expiry.UTC(), t.ConnectedAt.UTC()
	value, err := EncodeOAuthToken(t)
	if err != nil {
		return SecretMeta{}, err
	}
	defer clear(value)
	p := secretPut{
		max:       MaxOAuthTokenBytes,
		kind:      SecretMeta{Kind: SecretKindOAuth, ExpiresAt: t.Expiry, Scopes: cloneStrings(t.Scopes), ConnectedAt: t.ConnectedAt},
		ifVersion: ifVersion,
	}
	return s.putSecretAs(ref, value, p, options)
}

// PutOAuthToken seals t as the keychain's secret name. ifVersion > 0
// makes it a compare-and-set: ErrConflict unless the stored secret is
// still that version (a refresh must not overwrite a reconnect).
func (s *Store) PutOAuthToken(kc, name string, t OAuthToken, allowedHosts []string, ifVersion uint64) (SecretMeta, error) {
	if err := s.enter(); err != nil {
		return SecretMeta{}, err
	}
	defer s.leave()
	if checkKeychainID(kc) != nil {
		return SecretMeta{}, notFound("keychain", kc)
	}
	hosts, err := normalizeHostPatterns("allowed_hosts", allowedHosts)
	if err != nil {
		return SecretMeta{}, err
	}
	return s.oauthPut(userSecret(kc, name), t, ifVersion, func(r reader) (SecretOptions, error) {
		ok, err := exists(r, key(pfxKeychain, kc))
		if err == nil && !ok {
			err = notFound("keychain", kc)
		}
		return SecretOptions{AllowedHosts: hosts}, err
	})
}

// PutAppOAuthToken seals t as the package's app secret name, which must be
// one of its app_keys; the allowed hosts are that key's hosts.
func (s *Store) PutAppOAuthToken(pkg, name string, t OAuthToken, ifVersion uint64) (SecretMeta, error) {
	if err := s.enter(); err != nil {
		return SecretMeta{}, err
	}
	defer s.leave()
	if checkPackageName("package", pkg) != nil {
		return SecretMeta{}, notFound("package", pkg)
	}
	return s.oauthPut(appSecret(pkg, name), t, ifVersion, func(r reader) (SecretOptions, error) {
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
		return SecretOptions{AllowedHosts: spec.Hosts}, nil
	})
}

// GetOAuthToken opens the keychain's token name: ErrNotFound when there is
// none, ErrNotOAuthToken when the secret was set by hand.
func (s *Store) GetOAuthToken(kc, name string) (OAuthToken, SecretMeta, error) {
	return s.oauthGet(userSecret(kc, name))
}

// GetAppOAuthToken opens the package's app token name.
func (s *Store) GetAppOAuthToken(pkg, name string) (OAuthToken, SecretMeta, error) {
	return s.oauthGet(appSecret(pkg, name))
}

func (s *Store) oauthGet(ref secretRef) (OAuthToken, SecretMeta, error) {
	var (
		t    OAuthToken
		meta SecretMeta
	)
	err := s.openSecret(context.Background(), ref, func(m SecretMeta, value []byte) error {
		meta = m.clone()
		if m.Kind != SecretKindOAuth {
			return fmt.Errorf("%s: %w", ref.describe(), ErrNotOAuthToken)
		}
		var err error
		t, err = DecodeOAuthToken(value)
		return err
	})
	return t, meta, err
}
