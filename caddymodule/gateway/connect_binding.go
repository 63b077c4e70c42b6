package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"

	"github.com/keygate/keygate/oauth"
)

// A connect the owners' page starts is bound to the browser that started
// it (store.BindOAuthState says why): the page sets a cookie holding a
// random nonce, named after the state, and the callback is taken only
// from a browser that sends it back. The cookie is SameSite=Lax, so the
// provider's redirect back (a top-level navigation from another site)
// carries it, and its path is the callback's alone.

// ConnectBindingCookie names the cookie of the connect started with state:
// one per connect, so two started at once do not undo each other.
func ConnectBindingCookie(state string) string {
	sum := sha256.Sum256([]byte(state))
	return "keygate_connect_" + hex.EncodeToString(sum[:8])
}

// NewConnectNonce returns a fresh nonce and the digest the store keeps.
func NewConnectNonce() (nonce, digest string) {
	b := make([]byte, 32)
	rand.Read(b)
	nonce = base64.RawURLEncoding.EncodeToString(b)
	return nonce, ConnectNonceDigest(nonce)
}

// ConnectNonceDigest is the hex SHA-256 of a nonce.
func ConnectNonceDigest(nonce string) string {
	sum := sha256.Sum256([]byte(nonce))
	return hex.EncodeToString(sum[:])
}

// ConnectBindingHolds reports whether r carries the nonce whose digest a
// state is bound to.
func ConnectBindingHolds(r *http.Request, state, digest string) bool {
	c, err := r.Cookie(ConnectBindingCookie(state))
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(ConnectNonceDigest(c.Value)), []byte(digest)) == 1
}

// ConnectBindingCookieFor is the cookie that binds a connect to this
// browser (value set) or forgets it (value empty).
func ConnectBindingCookieFor(state, nonce string, secure bool, maxAge int) *http.Cookie {
	if nonce == "" {
		maxAge = -1
	}
	return &http.Cookie{
		Name:     ConnectBindingCookie(state),
		Value:    nonce,
		Path:     oauth.CallbackPath,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// After the callback the exchanged connect waits for the owner's
// confirmation (store.OAuthPending), bound to the browser that finished
// the callback by a second cookie of the same kind: SameSite=Strict, since
// the confirmation is a same-origin POST and no other site's request may
// carry it.

// PendingCookie names the cookie of the pending connect id.
func PendingCookie(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "keygate_pending_" + hex.EncodeToString(sum[:8])
}

// PendingCookieFor binds the pending connect id to this browser (nonce
// set) or forgets it (nonce empty).
func PendingCookieFor(id, nonce string, secure bool, maxAge int) *http.Cookie {
	c := ConnectBindingCookieFor(id, nonce, secure, maxAge)
	c.Name, c.SameSite = PendingCookie(id), http.SameSiteStrictMode
	return c
}

// PendingBrowser is the nonce digest r's cookie for the pending connect id
// carries, "" when it carries none.
func PendingBrowser(r *http.Request, id string) string {
	c, err := r.Cookie(PendingCookie(id))
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return ""
	}
	return ConnectNonceDigest(c.Value)
}
