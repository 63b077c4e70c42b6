package ownerpage

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/caddyserver/caddy/v2"
	"github.com/golang-jwt/jwt/v5"
)

// OwnerIssuer is a platform that already has users and signs JWTs for
// them: keygate accepts such a JWT as proof that its `sub` is a keychain
// owner, presented as `Authorization: Bearer` on /ui/ or exchanged at
// POST /ui/session for a session cookie.
//
// Only asymmetric algorithms are accepted, each bound to the type of key
// it needs, so that a public key can never serve as an HMAC secret. Key
// files are read when the config loads; reload to pick up a new key.
type OwnerIssuer struct {
	// Expected `iss`. Required.
	Issuer string `json:"issuer,omitempty"`

	// Expected `aud` (one of the token's audiences). Required.
	Audience string `json:"audience,omitempty"`

	// PEM file of one or more public keys (PKIX "PUBLIC KEY", PKCS #1
	// "RSA PUBLIC KEY" or "CERTIFICATE"). One of this and jwks_file.
	PublicKeyFile string `json:"public_key_file,omitempty"`

	// JSON Web Key Set file (RFC 7517); keys are chosen by `kid`.
	JWKSFile string `json:"jwks_file,omitempty"`

	// Accepted `alg` values, from EdDSA, RS256, RS384, RS512, PS256,
	// PS384, PS512, ES256, ES384 and ES512. Default: EdDSA, RS256, ES256.
	Algorithms []string `json:"algorithms,omitempty"`

	// Clock skew allowed on exp, nbf and iat. Default: 30s.
	Leeway caddy.Duration `json:"leeway,omitempty"`
}

var defaultOwnerAlgs = []string{"EdDSA", "RS256", "ES256"}

// asymmetricAlgs maps each accepted alg to the key type it verifies with.
var asymmetricAlgs = map[string]string{
	"EdDSA": "ed25519",
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
	"PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"ES256": "P-256", "ES384": "P-384", "ES512": "P-521",
}

// ownerKey is one verification key with its optional JWKS kid and alg.
type ownerKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// issuerVerifier checks platform JWTs; built once, used by every request.
type issuerVerifier struct {
	parser *jwt.Parser
	keys   []ownerKey
	algs   []string
}

// ownerClaims are the claims keygate reads; the parser checks the rest.
type ownerClaims struct {
	jwt.RegisteredClaims
}

var errOwnerToken = errors.New("the platform token is not valid")

func (o *OwnerIssuer) build() (*issuerVerifier, error) {
	if o.Issuer == "" {
		return nil, errors.New("owner_issuer: the issuer is required")
	}
	if o.Audience == "" {
		return nil, errors.New("owner_issuer: audience is required")
	}
	if (o.PublicKeyFile == "") == (o.JWKSFile == "") {
		return nil, errors.New("owner_issuer: set exactly one of public_key_file and jwks_file")
	}
	algs := o.Algorithms
	if len(algs) == 0 {
		algs = defaultOwnerAlgs
	}
	for _, a := range algs {
		if _, ok := asymmetricAlgs[a]; !ok {
			return nil, fmt.Errorf("owner_issuer: algorithm %q is not accepted; use EdDSA, RS256/384/512, PS256/384/512 or ES256/384/512 (never HS* or none)", a)
		}
	}
	leeway := time.Duration(o.Leeway)
	if leeway == 0 {
		leeway = 30 * time.Second
	}
	if leeway < 0 || leeway > 5*time.Minute {
		return nil, errors.New("owner_issuer: leeway must be between 0 and 5m")
	}
	var keys []ownerKey
	var err error
	if o.PublicKeyFile != "" {
		keys, err = loadPEMKeys(o.PublicKeyFile)
	} else {
		keys, err = loadJWKS(o.JWKSFile)
	}
	if err != nil {
		return nil, fmt.Errorf("owner_issuer: %w", err)
	}
	usable := 0
	for _, k := range keys {
		for _, a := range algs {
			if keyFits(k, a) {
				usable++
				break
			}
		}
	}
	if usable == 0 {
		return nil, fmt.Errorf("owner_issuer: no key fits the accepted algorithms %s", strings.Join(algs, ", "))
	}
	return &issuerVerifier{
		keys: keys,
		algs: slices.Clone(algs),
		parser: jwt.NewParser(
			jwt.WithValidMethods(algs),
			jwt.WithIssuer(o.Issuer),
			jwt.WithAudience(o.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(leeway),
		),
	}, nil
}

// keyFits reports whether k may verify tokens of alg: the key type must be
// the one alg needs, and a JWKS key that names its alg only that alg.
func keyFits(k ownerKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pk := k.key.(type) {
	case ed25519.PublicKey:
		return asymmetricAlgs[alg] == "ed25519"
	case *rsa.PublicKey:
		return asymmetricAlgs[alg] == "rsa" && pk.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return asymmetricAlgs[alg] == pk.Curve.Params().Name
	}
	return false
}

// verify returns the owner a platform JWT names. Its error says nothing of
// the token.
func (v *issuerVerifier) verify(tok string) (string, error) {
	var c ownerClaims
	_, err := v.parser.ParseWithClaims(tok, &c, v.keyFunc)
	if err != nil {
		return "", errOwnerToken
	}
	if !validOwner(c.Subject) {
		return "", errOwnerToken
	}
	return c.Subject, nil
}

// keyFunc picks the keys that may verify this token: by kid when the token
// names one, and always only keys of the type its alg needs.
func (v *issuerVerifier) keyFunc(t *jwt.Token) (any, error) {
	alg, _ := t.Header["alg"].(string)
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if kid != "" && k.kid != "" && k.kid != kid {
			continue
		}
		if keyFits(k, alg) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, errOwnerToken
	}
	return set, nil
}

// validOwner accepts what the store accepts as an owner: 1 to 256
// printable runes.
func validOwner(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > 256 {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func loadPEMKeys(path string) ([]ownerKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading public_key_file: %w", err)
	}
	var keys []ownerKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pk any
		switch b.Type {
		case "PUBLIC KEY":
			pk, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pk, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pk = cert.PublicKey
			}
		default:
			// A private key in this file is a mistake worth stopping for.
			if strings.Contains(b.Type, "PRIVATE") {
				return nil, fmt.Errorf("public_key_file %s holds a private key; give keygate the public key only", path)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("public_key_file %s: %s block: %w", path, b.Type, err)
		}
		keys = append(keys, ownerKey{key: pk})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("public_key_file %s holds no PEM public key", path)
	}
	return keys, nil
}

// jwk is the part of RFC 7517/7518/8037 keygate reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
	D   string `json:"d"`
}

func loadJWKS(path string) ([]ownerKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading jwks_file: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("jwks_file %s is not a JSON Web Key Set: %w", path, err)
	}
	var keys []ownerKey
	for i, k := range set.Keys {
		if k.D != "" {
			return nil, fmt.Errorf("jwks_file %s: keys[%d] is a private key; give keygate public keys only", path, i)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("jwks_file %s: keys[%d]: %w", path, i, err)
		}
		if pk == nil {
			continue // a key type keygate does not verify with (oct, ...)
		}
		keys = append(keys, ownerKey{kid: k.Kid, alg: k.Alg, key: pk})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks_file %s holds no usable signing key", path)
	}
	return keys, nil
}

// publicKey decodes the key; nil for key types that are skipped, among
// them "oct": a shared secret is never a verification key here.
func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, nil
		}
		x, err := b64(k.X, "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, errors.New("an Ed25519 x must be 32 bytes")
		}
		return ed25519.PublicKey(x), nil
	case "RSA":
		n, err := b64(k.N, "n")
		if err != nil {
			return nil, err
		}
		e, err := b64(k.E, "e")
		if err != nil {
			return nil, err
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA exponent")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, errors.New("bad RSA exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, nil
		}
		x, err := b64(k.X, "x")
		if err != nil {
			return nil, err
		}
		y, err := b64(k.Y, "y")
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("%s coordinates must be %d bytes", k.Crv, size)
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(curve, point)
	}
	return nil, nil
}

func b64(s, field string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s is not base64url", field)
	}
	return b, nil
}
