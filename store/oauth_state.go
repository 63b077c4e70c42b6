package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// OAuthStateTTL is how long a connect link stays usable.
const OAuthStateTTL = 10 * time.Minute

const (
	scopeOAuthState   = "oauth_state"
	minOAuthState     = 32
	maxOAuthState     = 512
	maxRedirectURI    = 2048
	oauthPrunePerPut  = 64
	minPKCEVerifier   = 43 // RFC 7636 4.1
	maxPKCEVerifier   = 128
	oauthStateSealTag = "verifier"
)

// ErrOAuthState means a connect state is unknown, already used or expired.
var ErrOAuthState = errors.New("oauth state is unknown, used or expired")

// OAuthStateError is a refused state; it is 400-class (errors.Is
// ErrInvalid holds too) and never quotes the state.
type OAuthStateError struct{ Problem string }

func (e *OAuthStateError) Error() string { return "oauth state " + e.Problem }

// Is makes errors.Is hold for ErrOAuthState and ErrInvalid.
func (e *OAuthStateError) Is(target error) bool {
	return target == ErrOAuthState || target == ErrInvalid
}

// OAuthState binds one connect attempt to a keychain, package and key.
// Only the SHA-256 of State is stored, and Verifier is sealed. String and
// GoString never show either.
type OAuthState struct {
	State       string
	Keychain    string
	Package     string
	Key         string
	Verifier    string // PKCE code verifier; empty when the provider has PKCE off
	RedirectURI string
	ExpiresAt   time.Time // set by PutOAuthState
}

func (st OAuthState) String() string {
	return fmt.Sprintf("OAuthState{keychain: %s, package: %s, key: %s, redacted}", st.Keychain, st.Package, st.Key)
}

func (st OAuthState) GoString() string { return st.String() }

// oauthStateMeta is stored in the clear beside the sealed verifier (and
// bound to it as associated data).
type oauthStateMeta struct {
	Keychain    string    `json:"keychain"`
	Package     string    `json:"package"`
	Key         string    `json:"key"`
	RedirectURI string    `json:"redirect_uri"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func oauthStateID(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

func oauthStateSealContext(id string, meta []byte) sealContext {
	return sealContext{Scope: scopeOAuthState, Owner: id, Name: oauthStateSealTag, Version: 1, Meta: meta}
}

func checkOAuthStateInput(st *OAuthState) error {
	switch {
	case len(st.State) < minOAuthState || len(st.State) > maxOAuthState:
		return invalid("state", fmt.Sprintf("must be %d to %d bytes", minOAuthState, maxOAuthState))
	case checkKeychainID(st.Keychain) != nil:
		return invalid("keychain", "is not a keychain id")
	case st.Verifier != "" && (len(st.Verifier) < minPKCEVerifier || len(st.Verifier) > maxPKCEVerifier):
		return invalid("verifier", fmt.Sprintf("must be %d to %d characters", minPKCEVerifier, maxPKCEVerifier))
	case st.RedirectURI == "" || len(st.RedirectURI) > maxRedirectURI:
		return invalid("redirect_uri", fmt.Sprintf("must be 1 to %d bytes", maxRedirectURI))
	}
	if err := checkPackageName("package", st.Package); err != nil {
		return err
	}
	return checkSecretName("key", st.Key)
}

// PutOAuthState records a connect state that expires OAuthStateTTL from
// now, and prunes a few expired ones.
func (s *Store) PutOAuthState(st OAuthState) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := checkOAuthStateInput(&st); err != nil {
		return err
	}
	now := s.now()
	id := oauthStateID(st.State)
	meta, err := json.Marshal(oauthStateMeta{Keychain: st.Keychain, Package: st.Package, Key: st.Key,
		RedirectURI: st.RedirectURI, ExpiresAt: now.Add(OAuthStateTTL)})
	if err != nil {
		return err
	}
	ctx := oauthStateSealContext(id, meta)
	if err := s.markSealerInUse(s.kr); err != nil {
		return err
	}
	blob, err := seal(s.kr, &ctx, []byte(st.Verifier))
	if err != nil {
		return err
	}
	return s.update(func(w writer) error {
		return oauthStates.put(w, now, now.Add(OAuthStateTTL), id, encodeRecord(1, meta, blob))
	})
}

// TakeOAuthState returns and deletes the state, in one transaction, so it
// works once. An expired state is deleted too, and refused.
func (s *Store) TakeOAuthState(state string, now time.Time) (OAuthState, error) {
	if err := s.enter(); err != nil {
		return OAuthState{}, err
	}
	defer s.leave()
	if len(state) < minOAuthState || len(state) > maxOAuthState {
		return OAuthState{}, &OAuthStateError{Problem: "is malformed"}
	}
	id := oauthStateID(state)
	var raw []byte
	err := s.update(func(w writer) error {
		k := key(pfxOAuthState, id)
		v, err := w.Get(k)
		if errors.Is(err, errNoKey) {
			raw = nil
			return nil
		}
		if err != nil {
			return err
		}
		raw = v
		var m oauthStateMeta
		if rec, err := decodeRecord(v); err == nil && json.Unmarshal(rec.meta, &m) == nil {
			return oauthStates.remove(w, id, m.ExpiresAt)
		}
		// The index entry goes when pruning reaches it.
		if err := w.Delete(k); err != nil {
			return err
		}
		return w.Delete(key(pfxOAuthBinding, id))
	})
	if err != nil {
		return OAuthState{}, err
	}
	if raw == nil {
		return OAuthState{}, &OAuthStateError{Problem: "is unknown or already used"}
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return OAuthState{}, err
	}
	var m oauthStateMeta
	if err := decodeJSON(rec.meta, &m); err != nil {
		return OAuthState{}, err
	}
	if !now.Before(m.ExpiresAt) {
		return OAuthState{}, &OAuthStateError{Problem: "has expired"}
	}
	ctx := oauthStateSealContext(id, rec.meta)
	verifier, err := open(s.kr, &ctx, rec.blob, nil)
	if err != nil {
		return OAuthState{}, fmt.Errorf("oauth state: %w", err)
	}
	defer clear(verifier)
	return OAuthState{State: state, Keychain: m.Keychain, Package: m.Package, Key: m.Key,
		Verifier: string(verifier), RedirectURI: m.RedirectURI, ExpiresAt: m.ExpiresAt}, nil
}

// PruneOAuthStates deletes every state and pending connect expired at
// now and reports how many.
func (s *Store) PruneOAuthStates(now time.Time) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	total := 0
	for {
		var n int
		err := s.update(func(w writer) error {
			var err error
			n, err = oauthStates.prune(w, now, s.rewrapPage)
			if err == nil && n < s.rewrapPage {
				var more int
				more, err = oauthPending.prune(w, now, s.rewrapPage-n)
				n += more
			}
			return err
		})
		total += n
		if err != nil || n < s.rewrapPage {
			return total, err
		}
	}
}

// A connect started in a browser is bound to it: the owners' page sets a
// cookie holding a random nonce and records the nonce's SHA-256 here,
// beside the state; the callback is taken only from a browser that sends
// the nonce back. Otherwise anyone could start connecting their own
// keychain and have someone else's browser finish it, connecting the
// victim's account to the attacker's keychain. A connect started by the
// admin (API or CLI, no browser) has no binding.

// BindOAuthState binds an unused state to the SHA-256 of a browser nonce
// (64 hex characters). A state is bound at most once.
func (s *Store) BindOAuthState(state, nonceSHA256 string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if len(state) < minOAuthState || len(state) > maxOAuthState {
		return &OAuthStateError{Problem: "is malformed"}
	}
	if !isHex(nonceSHA256, 64) {
		return invalid("binding", "must be 64 lowercase hex characters")
	}
	id := oauthStateID(state)
	return s.update(func(w writer) error {
		switch ok, err := exists(w, key(pfxOAuthState, id)); {
		case err != nil:
			return err
		case !ok:
			return &OAuthStateError{Problem: "is unknown or already used"}
		}
		switch ok, err := exists(w, key(pfxOAuthBinding, id)); {
		case err != nil:
			return err
		case ok:
			return fmt.Errorf("oauth state is already bound: %w", ErrConflict)
		}
		return w.Set(key(pfxOAuthBinding, id), []byte(nonceSHA256))
	})
}

// OAuthStateBinding returns the nonce digest a state is bound to; bound
// is false for a state with no binding, or none at all (TakeOAuthState
// then says which).
func (s *Store) OAuthStateBinding(state string) (nonceSHA256 string, bound bool, err error) {
	if err := s.enter(); err != nil {
		return "", false, err
	}
	defer s.leave()
	if len(state) < minOAuthState || len(state) > maxOAuthState {
		return "", false, nil
	}
	err = s.be.View(context.Background(), func(r reader) error {
		v, err := r.Get(key(pfxOAuthBinding, oauthStateID(state)))
		switch {
		case errors.Is(err, errNoKey):
			return nil
		case err != nil:
			return err
		}
		nonceSHA256, bound = string(v), true
		return nil
	})
	return nonceSHA256, bound, err
}
