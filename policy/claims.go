package policy

import (
	"errors"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeychainClaims is what a verified keychain token says. The caller must
// still compare Version with the keychain's current TokenVersion: a rotation
// makes every earlier token fail there.
type KeychainClaims struct {
	Keychain string // sub
	Version  uint64 // ver
	ID       string // jti
}

// Invocation is what keygate puts into an invocation token for one call into
// a package.
type Invocation struct {
	Keychain, Package, SHA256 string
	KeychainVersion           uint64
	// The grant's and the package's epochs at minting (store.Grant.Epoch,
	// store.Manifest.CodeEpoch): the token is void once either moved.
	GrantEpoch, CodeEpoch uint64
	Keys, AppKeys         []string // usable user keys and app keys
	RequestID             string
}

// InvocationClaims is what a verified invocation token says.
type InvocationClaims struct {
	Invocation
	ID        string
	ExpiresAt time.Time
}

// HasKey reports whether the token lets its holder use the user key name.
func (c *InvocationClaims) HasKey(name string) bool {
	return name != "" && slices.Contains(c.Keys, name)
}

// HasAppKey reports whether the token lets its holder use the app key name.
func (c *InvocationClaims) HasAppKey(name string) bool {
	return name != "" && slices.Contains(c.AppKeys, name)
}

// clone returns a copy that shares no slice with c.
func (c InvocationClaims) clone() InvocationClaims {
	c.Keys = slices.Clone(c.Keys)
	c.AppKeys = slices.Clone(c.AppKeys)
	return c
}

// The token types, carried in the typ claim and in the audience.
const (
	typKeychain   = "keychain"
	typInvocation = "invocation"
	audKeychain   = "keygate:keychain"
	audInvocation = "keygate:invocation"
)

// errWrongType is returned by the claims' Validate methods so that the
// verifier can tell it apart from the library's own claim errors.
var errWrongType = errors.New("wrong token type")

// The wire structs below implement jwt.Claims with plain fields instead of
// embedding jwt.RegisteredClaims: aud as a string instead of a list, times
// as int64 seconds, and the *NumericDate and []string the validator asks
// for served from buffers inside the struct. That saves several allocations
// per verification on the hot path. Tokens that keygate did not mint never
// get as far as these fields mattering: the signature is checked first.

// registered holds the registered claims both token types carry.
type registered struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	Type     string `json:"typ"`
	ID       string `json:"jti"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp,omitempty"`

	audBuf [1]string
	iatBuf jwt.NumericDate
	expBuf jwt.NumericDate
}

func (r *registered) GetExpirationTime() (*jwt.NumericDate, error) {
	if r.Expires == 0 {
		return nil, nil
	}
	r.expBuf.Time = time.Unix(r.Expires, 0)
	return &r.expBuf, nil
}

func (r *registered) GetIssuedAt() (*jwt.NumericDate, error) {
	if r.IssuedAt == 0 {
		return nil, nil
	}
	r.iatBuf.Time = time.Unix(r.IssuedAt, 0)
	return &r.iatBuf, nil
}

func (r *registered) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }
func (r *registered) GetIssuer() (string, error)              { return r.Issuer, nil }
func (r *registered) GetSubject() (string, error)             { return r.Subject, nil }

func (r *registered) GetAudience() (jwt.ClaimStrings, error) {
	if r.Audience == "" {
		return nil, nil
	}
	r.audBuf[0] = r.Audience
	return r.audBuf[:], nil
}

// check is the part of Validate both token types share: the type, and the
// claims without which the token means nothing.
func (r *registered) check(typ string) error {
	if r.Type != typ {
		return errWrongType
	}
	if r.Subject == "" || r.ID == "" || r.IssuedAt == 0 {
		return jwt.ErrTokenRequiredClaimMissing
	}
	return nil
}

// keychainWire is a keychain token's payload.
type keychainWire struct {
	registered
	Version uint64 `json:"ver"`
}

// Validate is called by the jwt parser after the signature and the standard
// claims have been checked.
func (c *keychainWire) Validate() error { return c.check(typKeychain) }

// invocationWire is an invocation token's payload.
type invocationWire struct {
	registered
	Package         string   `json:"pkg"`
	SHA256          string   `json:"sha"`
	KeychainVersion uint64   `json:"kver"`
	GrantEpoch      uint64   `json:"gep,omitempty"`
	CodeEpoch       uint64   `json:"cep,omitempty"`
	Keys            []string `json:"keys"`
	AppKeys         []string `json:"app_keys"`
	RequestID       string   `json:"rid,omitempty"`
}

func (c *invocationWire) Validate() error {
	if err := c.check(typInvocation); err != nil {
		return err
	}
	if c.Package == "" || c.SHA256 == "" {
		return jwt.ErrTokenRequiredClaimMissing
	}
	return nil
}

// Interface guards.
var (
	_ jwt.ClaimsValidator = (*keychainWire)(nil)
	_ jwt.ClaimsValidator = (*invocationWire)(nil)
)
