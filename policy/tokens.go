package policy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/store"
)

// MaxTokenLen is the longest token keygate mints or looks at. Longer input
// is refused before any decoding, so an attacker cannot make the verifier
// chew through megabytes of base64 and JSON.
const MaxTokenLen = 8 << 10

// minSigningKeyLen is the shortest signing secret NewTokens accepts: HS256
// is only as strong as its key, and store.SigningKey secrets are 32 bytes.
const minSigningKeyLen = 32

// ErrTokenInvalid is wrapped by every verification failure.
var ErrTokenInvalid = errors.New("invalid token")

// ErrTokenExpired is returned for a token whose exp has passed; it wraps
// ErrTokenInvalid too.
var ErrTokenExpired error = &tokenError{"token expired"}

// The verification failures. They are fixed values, so a message can never
// hold any part of the token.
var (
	errTooLong       error = &tokenError{"token too long"}
	errMalformed     error = &tokenError{"malformed token"}
	errBadSignature  error = &tokenError{"bad signature"}
	errUnknownKey    error = &tokenError{"unknown signing key"}
	errTokenType     error = &tokenError{errWrongType.Error()}
	errWrongAudience error = &tokenError{"wrong audience"}
	errWrongIssuer   error = &tokenError{"wrong issuer"}
	errNotYetValid   error = &tokenError{"token not valid yet"}
	errMissingClaim  error = &tokenError{"missing claim"}
	errBadClaims     error = &tokenError{"invalid claims"}
)

// tokenError is a verification failure: a fixed message that wraps
// ErrTokenInvalid.
type tokenError struct{ msg string }

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return ErrTokenInvalid }

// TokenOptions tunes Tokens. The zero value is ready to use.
type TokenOptions struct {
	Issuer        string        // default "keygate"
	InvocationTTL time.Duration // default 5m
	Leeway        time.Duration // default 5s; clock skew allowed on exp and iat
	Now           func() time.Time
	// CacheSize is how many verified tokens of each type are remembered (by
	// hash) so that verifying them again is cheap; see verifiedCache.
	// 0 = DefaultTokenCacheSize, < 0 = no cache.
	CacheSize int
}

// Tokens issues and verifies keychain and invocation tokens. It is safe for
// concurrent use; build it again (NewTokens) when the signing keys change.
type Tokens struct {
	issuer     string
	ttl        time.Duration
	now        func() time.Time
	leeway     time.Duration
	keychain   tokenKind
	invocation tokenKind
	kcCache    *verifiedCache[KeychainClaims]
	invCache   *verifiedCache[InvocationClaims]
}

// tokenKind is everything one token type needs, built once in NewTokens.
type tokenKind struct {
	typ, aud string
	parser   *jwt.Parser
	keyfunc  jwt.Keyfunc
	verify   map[string]any // kid -> derived key, as []byte already boxed for the parser
	sign     []byte         // derived key of the signing kid
	header   string         // base64url of the JOSE header naming the signing kid
	// macs holds HMAC-SHA256 states keyed with sign, reset after use:
	// hmac.New (two hash states and the padded key) cost more than the MAC
	// of a whole token.
	macs sync.Pool
}

// Labels for deriving one key per token type from each signing secret.
const (
	labelKeychain   = "keygate keychain token v1"
	labelInvocation = "keygate invocation token v1"
)

// NewTokens builds the issuer and verifier from keygate's signing keys. The
// first key that is not retired signs; every key that is not retired
// verifies; retired keys are ignored, so tokens they signed fail at once.
func NewTokens(keys []store.SigningKey, o TokenOptions) (*Tokens, error) {
	if o.Issuer == "" {
		o.Issuer = "keygate"
	}
	if o.InvocationTTL == 0 {
		o.InvocationTTL = 5 * time.Minute
	}
	if o.Leeway == 0 {
		o.Leeway = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InvocationTTL < 0 || o.Leeway < 0 {
		return nil, errors.New("policy: invocation TTL and leeway must not be negative")
	}
	t := &Tokens{
		issuer:   o.Issuer,
		ttl:      o.InvocationTTL,
		now:      o.Now,
		leeway:   o.Leeway,
		kcCache:  newVerifiedCache[KeychainClaims](o.CacheSize),
		invCache: newVerifiedCache[InvocationClaims](o.CacheSize),
	}
	t.keychain = tokenKind{typ: typKeychain, aud: audKeychain, verify: map[string]any{}}
	t.invocation = tokenKind{typ: typInvocation, aud: audInvocation, verify: map[string]any{}}

	seen := make(map[string]bool, len(keys))
	signer := ""
	for i, k := range keys {
		// Errors name the key's position and id, never its material.
		if k.ID == "" {
			return nil, fmt.Errorf("policy: signing key %d has no id", i)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("policy: signing key id %q appears twice", k.ID)
		}
		seen[k.ID] = true
		if k.Retired {
			continue
		}
		if len(k.Secret) < minSigningKeyLen {
			return nil, fmt.Errorf("policy: signing key %q is shorter than %d bytes", k.ID, minSigningKeyLen)
		}
		kck, ink := derive(k.Secret, labelKeychain), derive(k.Secret, labelInvocation)
		t.keychain.verify[k.ID] = kck
		t.invocation.verify[k.ID] = ink
		if signer == "" {
			signer = k.ID
			t.keychain.sign, t.invocation.sign = kck, ink
		}
	}
	if signer == "" {
		return nil, errors.New("policy: no signing key that is not retired")
	}
	hdr, err := json.Marshal(map[string]string{"alg": jwt.SigningMethodHS256.Alg(), "kid": signer, "typ": "JWT"})
	if err != nil {
		return nil, fmt.Errorf("policy: encoding token header: %w", err)
	}
	for _, k := range []*tokenKind{&t.keychain, &t.invocation} {
		k.header = base64.RawURLEncoding.EncodeToString(hdr)
		opts := []jwt.ParserOption{
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(o.Issuer),
			jwt.WithAudience(k.aud),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(o.Leeway),
			jwt.WithTimeFunc(o.Now),
			jwt.WithStrictDecoding(),
		}
		if k.typ == typInvocation {
			opts = append(opts, jwt.WithExpirationRequired())
		}
		k.parser = jwt.NewParser(opts...)
		k.keyfunc = k.key
	}
	return t, nil
}

// derive returns HMAC-SHA256(secret, label): one key per token type.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// key is the jwt.Keyfunc: it picks the derived key by the header's kid.
// Unknown and retired kids have no entry, so the token is refused.
func (k *tokenKind) key(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	if key, ok := k.verify[kid]; ok {
		return key, nil
	}
	return nil, errUnknownKey
}

// IssueKeychainToken returns a new token for the keychain at its current
// TokenVersion. It has no exp: it lives until the keychain's token is
// rotated (which bumps the version) or the signing key is retired.
func (t *Tokens) IssueKeychainToken(kc store.Keychain) (string, error) {
	if kc.ID == "" {
		return "", errors.New("policy: keychain has no id")
	}
	w := keychainWire{Version: kc.TokenVersion}
	t.fill(&w.registered, &t.keychain, kc.ID, 0)
	return t.keychain.encode(&w)
}

// VerifyKeychainToken checks a keychain token's signature, type, audience
// and issuer and returns its claims. Every error wraps ErrTokenInvalid.
func (t *Tokens) VerifyKeychainToken(tok string) (KeychainClaims, error) {
	if len(tok) > MaxTokenLen {
		return KeychainClaims{}, errTooLong
	}
	var key cacheKey
	if t.kcCache != nil {
		key = t.kcCache.key(tok)
		if c, ok := t.kcCache.get(key, t.now()); ok {
			return c, nil
		}
	}
	var w keychainWire
	if err := t.keychain.parse(tok, &w); err != nil {
		return KeychainClaims{}, err
	}
	c := KeychainClaims{Keychain: w.Subject, Version: w.Version, ID: w.ID}
	if t.kcCache != nil {
		t.kcCache.put(key, c, t.until(w.Expires))
	}
	return c, nil
}

// MintInvocationToken returns a token for one call into a package, valid
// for the configured TTL. The caller decides the usable keys (Decide).
func (t *Tokens) MintInvocationToken(in Invocation) (string, error) {
	tok, _, err := t.MintInvocation(in)
	return tok, err
}

// VerifyInvocationToken checks an invocation token's signature, type,
// audience, issuer and expiry and returns its claims. Every error wraps
// ErrTokenInvalid; an expired token's also wraps ErrTokenExpired.
func (t *Tokens) VerifyInvocationToken(tok string) (InvocationClaims, error) {
	c, shared, err := t.verifyInvocation(tok)
	if shared {
		c = c.clone()
	}
	return c, err
}

// VerifyInvocationTokenShared is VerifyInvocationToken for a caller that
// only reads the claims' Keys and AppKeys: they may be the verified-token
// cache's own, and are never to be changed. It saves their copy on every
// call of a token seen before.
func (t *Tokens) VerifyInvocationTokenShared(tok string) (InvocationClaims, error) {
	c, _, err := t.verifyInvocation(tok)
	return c, err
}

// verifyInvocation verifies tok; shared says the claims' slices are the
// cache's.
func (t *Tokens) verifyInvocation(tok string) (_ InvocationClaims, shared bool, _ error) {
	if len(tok) > MaxTokenLen {
		return InvocationClaims{}, false, errTooLong
	}
	var key cacheKey
	if t.invCache != nil {
		key = t.invCache.key(tok)
		if c, ok := t.invCache.get(key, t.now()); ok {
			return c, true, nil
		}
	}
	var w invocationWire
	if err := t.invocation.parse(tok, &w); err != nil {
		return InvocationClaims{}, false, err
	}
	c := InvocationClaims{
		Invocation: Invocation{
			Keychain:        w.Subject,
			Package:         w.Package,
			SHA256:          w.SHA256,
			KeychainVersion: w.KeychainVersion,
			GrantEpoch:      w.GrantEpoch,
			CodeEpoch:       w.CodeEpoch,
			Keys:            w.Keys,
			AppKeys:         w.AppKeys,
			RequestID:       w.RequestID,
		},
		ID:        w.ID,
		ExpiresAt: time.Unix(w.Expires, 0),
	}
	if t.invCache != nil {
		// The caller owns the slices it gets; the cache keeps its own.
		t.invCache.put(key, c.clone(), t.until(w.Expires))
	}
	return c, false, nil
}

// until is when a token with this exp stops verifying: exp plus leeway, as
// the jwt validator has it. exp 0 (none) gives the zero time: never.
func (t *Tokens) until(exp int64) time.Time {
	if exp == 0 {
		return time.Time{}
	}
	return time.Unix(exp, 0).Add(t.leeway)
}

// fill sets the registered claims of a token about to be signed; ttl 0
// means no exp.
func (t *Tokens) fill(r *registered, k *tokenKind, sub string, ttl time.Duration) {
	now := t.now()
	r.Issuer, r.Audience, r.Subject, r.Type = t.issuer, k.aud, sub, k.typ
	r.ID = newJTI()
	r.IssuedAt = now.Unix()
	if ttl > 0 {
		r.Expires = now.Add(ttl).Unix()
	}
}

// newJTI returns 128 random bits, base64url.
func newJTI() string {
	b := jtiBufs.Get().(*[16]byte)
	defer jtiBufs.Put(b)
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// jtiBufs saves the allocation of the random bytes, which escape into the
// random reader.
var jtiBufs = sync.Pool{New: func() any { return new([16]byte) }}

// encode signs claims with the kind's signing key. The header is fixed per
// Tokens, so it is encoded once in NewTokens instead of per token.
func (k *tokenKind) encode(claims jwt.Claims) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("policy: encoding claims: %w", err)
	}
	b := mintBufs.Get().(*mintBuf)
	defer mintBufs.Put(b)
	return k.signPayload(b, payload)
}

// macInto appends the HMAC of signing with k.sign to dst, on a pooled HMAC.
func (k *tokenKind) macInto(dst, signing []byte) []byte {
	h, _ := k.macs.Get().(hash.Hash)
	if h == nil {
		h = hmac.New(sha256.New, k.sign)
	}
	h.Write(signing)
	dst = h.Sum(dst)
	h.Reset()
	k.macs.Put(h)
	return dst
}

// parse verifies tok into claims with the kind's parser and maps every
// failure onto one of the fixed token errors.
func (k *tokenKind) parse(tok string, claims jwt.Claims) error {
	if !tokenChars(tok) {
		return errMalformed
	}
	if _, err := k.parser.ParseWithClaims(tok, claims, k.keyfunc); err != nil {
		return tokenErr(err)
	}
	return nil
}

// tokenChars reports whether tok holds only base64url characters and dots.
// The base64 decoder skips CR and LF, so without this check "tok\n" would
// verify as tok: we accept exactly the bytes we minted.
func tokenChars(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if !tokenAlphabet[tok[i]] {
			return false
		}
	}
	return true
}

var tokenAlphabet = func() (a [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") {
		a[c] = true
	}
	return a
}()

// tokenErr maps an error from the jwt parser to a fixed error. The parser's
// own messages are dropped: some quote parts of the token (the alg, say).
func tokenErr(err error) error {
	switch {
	case errors.Is(err, errWrongType):
		return errTokenType
	case errors.Is(err, errUnknownKey):
		return errUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errWrongAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errWrongIssuer
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return errNotYetValid
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errMissingClaim
	default:
		return errBadClaims
	}
}
