package store

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A connect whose code keygate has exchanged waits here, sealed, until the
// owner has seen which account the provider connected and confirmed it
// in the browser that finished the callback: a token is never stored
// for an account nobody looked at. Only the SHA-256 of its id is a key;
// the token is sealed like a secret, bound to the record's metadata.

// OAuthPendingTTL is how long a connect waits for the owner's confirmation.
const OAuthPendingTTL = 10 * time.Minute

const (
	scopeOAuthPending   = "oauth_pending"
	oauthPendingSealTag = "token"
	maxPendingAccount   = 1024
)

// ErrOAuthPending means a pending connect is unknown, already confirmed
// or cancelled, or expired.
var ErrOAuthPending = errors.New("pending connection is unknown, used or expired")

// ErrOAuthPendingBrowser means a pending connect was confirmed from
// another browser than the one that finished the callback.
var ErrOAuthPendingBrowser = errors.New("pending connection belongs to another browser")

// OAuthPending is one exchanged, unconfirmed connect. String and GoString
// never show its id or token.
type OAuthPending struct {
	ID           string // random; only its SHA-256 is stored
	Keychain     string
	Package      string
	Key          string
	Account      string   // who the provider says the account is, for display only; "" unnamed
	AllowedHosts []string // the manifest key's hosts at the callback
	Browser      string   // hex SHA-256 of the nonce of the one browser that may confirm
	Token        OAuthToken
	ExpiresAt    time.Time // set by PutOAuthPending
}

func (p OAuthPending) String() string {
	return fmt.Sprintf("OAuthPending{keychain: %s, package: %s, key: %s, redacted}", p.Keychain, p.Package, p.Key)
}

func (p OAuthPending) GoString() string { return p.String() }

// oauthPendingMeta is stored in the clear beside the sealed token (and
// bound to it as associated data).
type oauthPendingMeta struct {
	Keychain     string    `json:"keychain"`
	Package      string    `json:"package"`
	Key          string    `json:"key"`
	Account      string    `json:"account,omitempty"`
	AllowedHosts []string  `json:"allowed_hosts,omitempty"`
	Browser      string    `json:"browser"`
	ExpiresAt    time.Time `json:"expires_at"`
}

func oauthPendingSealContext(id string, meta []byte) sealContext {
	return sealContext{Scope: scopeOAuthPending, Owner: id, Name: oauthPendingSealTag, Version: 1, Meta: meta}
}

// PutOAuthPending records an exchanged connect that expires
// OAuthPendingTTL from now, and prunes a few expired ones.
func (s *Store) PutOAuthPending(p OAuthPending) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	switch {
	case len(p.ID) < minOAuthState || len(p.ID) > maxOAuthState:
		return invalid("id", fmt.Sprintf("must be %d to %d bytes", minOAuthState, maxOAuthState))
	case checkKeychainID(p.Keychain) != nil:
		return invalid("keychain", "is not a keychain id")
	case !isHex(p.Browser, 64):
		return invalid("browser", "must be 64 lowercase hex characters")
	case len(p.Account) > maxPendingAccount:
		return invalid("account", fmt.Sprintf("is longer than %d bytes", maxPendingAccount))
	}
	if err := checkPackageName("package", p.Package); err != nil {
		return err
	}
	if err := checkSecretName("key", p.Key); err != nil {
		return err
	}
	hosts, err := normalizeHostPatterns("allowed_hosts", p.AllowedHosts)
	if err != nil {
		return err
	}
	value, err := EncodeOAuthToken(p.Token)
	if err != nil {
		return err
	}
	defer clear(value)
	now := s.now()
	id := oauthStateID(p.ID)
	meta, err := json.Marshal(oauthPendingMeta{Keychain: p.Keychain, Package: p.Package, Key: p.Key, Account: p.Account,
		AllowedHosts: hosts, Browser: p.Browser, ExpiresAt: now.Add(OAuthPendingTTL)})
	if err != nil {
		return err
	}
	ctx := oauthPendingSealContext(id, meta)
	if err := s.markSealerInUse(s.kr); err != nil {
		return err
	}
	blob, err := seal(s.kr, &ctx, value)
	if err != nil {
		return err
	}
	return s.update(func(w writer) error {
		return oauthPending.put(w, now, now.Add(OAuthPendingTTL), id, encodeRecord(1, meta, blob))
	})
}

// TakeOAuthPending returns and deletes the pending connect id, in one
// transaction, so it is confirmed or cancelled once: only for the browser
// whose nonce digest is browser (another browser's attempt leaves it in
// place, ErrOAuthPendingBrowser). An expired one is deleted, and refused.
// withToken says whether to open the token (a cancel does not).
func (s *Store) TakeOAuthPending(id, browser string, now time.Time, withToken bool) (OAuthPending, error) {
	if err := s.enter(); err != nil {
		return OAuthPending{}, err
	}
	defer s.leave()
	if len(id) < minOAuthState || len(id) > maxOAuthState {
		return OAuthPending{}, ErrOAuthPending
	}
	hid := oauthStateID(id)
	var (
		rec     sealedRecord
		m       oauthPendingMeta
		expired bool
	)
	err := s.update(func(w writer) error {
		k := key(pfxOAuthPending, hid)
		v, err := w.Get(k)
		if errors.Is(err, errNoKey) {
			return ErrOAuthPending
		}
		if err != nil {
			return err
		}
		if rec, err = decodeRecord(v); err != nil {
			return err
		}
		if err := decodeJSON(rec.meta, &m); err != nil {
			return err
		}
		if !now.Before(m.ExpiresAt) {
			expired = true // deleted, and refused once the deletion is committed
		} else if subtle.ConstantTimeCompare([]byte(m.Browser), []byte(browser)) != 1 {
			return ErrOAuthPendingBrowser
		}
		return oauthPending.remove(w, hid, m.ExpiresAt)
	})
	switch {
	case err != nil:
		return OAuthPending{}, err
	case expired:
		return OAuthPending{}, ErrOAuthPending
	}
	p := OAuthPending{ID: id, Keychain: m.Keychain, Package: m.Package, Key: m.Key, Account: m.Account,
		AllowedHosts: m.AllowedHosts, Browser: m.Browser, ExpiresAt: m.ExpiresAt}
	if !withToken {
		return p, nil
	}
	ctx := oauthPendingSealContext(hid, rec.meta)
	value, err := open(s.kr, &ctx, rec.blob, nil)
	if err != nil {
		return OAuthPending{}, fmt.Errorf("pending connection: %w", err)
	}
	defer clear(value)
	if p.Token, err = DecodeOAuthToken(value); err != nil {
		return OAuthPending{}, err
	}
	return p, nil
}
