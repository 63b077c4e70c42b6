package ownerpage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Owner sign-in state (login links and sessions) lives in the store
// (store/owner_sessions.go), keyed by the SHA-256 of each token: every
// node of a shared database serves every owner, and a restart or reload
// signs no one out.

// bearerCSRF is the CSRF token of an owner signed in by a platform JWT on
// each request, who has no server-side state to hold one: an HMAC under
// a key derived from keygate's signing key, which every node shares and
// no page on another site can know.
func bearerCSRF(key []byte, owner string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("keygate owner csrf\x00"))
	m.Write([]byte(owner))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
