package ownerpage

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func sign(t *testing.T, m jwt.SigningMethod, key any, kid string, mod func(jwt.MapClaims)) string {
	t.Helper()
	now := time.Now()
	c := jwt.MapClaims{"iss": "https://p.example", "aud": []string{"other", "keygate"}, "sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if mod != nil {
		mod(c)
	}
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestIssuerJWKS(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecX, _ := ecPriv.PublicKey.Bytes() // 04 || X || Y
	set := map[string]any{"keys": []map[string]any{
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64u(edPub)},
		{"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "x": b64u(ecX[1:33]), "y": b64u(ecX[33:])},
		{"kty": "RSA", "kid": "rsa", "n": b64u(rsaPriv.N.Bytes()), "e": "AQAB"},
		{"kty": "oct", "kid": "hmac", "k": b64u([]byte("shared secret"))},
		{"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": b64u(edPub)},
	}}
	raw, _ := json.Marshal(set)
	iss := &OwnerIssuer{Issuer: "https://p.example", Audience: "keygate", JWKSFile: writeFile(t, "jwks.json", raw)}
	v, err := iss.build()
	if err != nil {
		t.Fatal(err)
	}
	if len(v.keys) != 3 {
		t.Fatalf("loaded %d keys, want 3 (oct and use=enc skipped)", len(v.keys))
	}
	for name, tok := range map[string]string{
		"EdDSA by kid":  sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", nil),
		"ES256 by kid":  sign(t, jwt.SigningMethodES256, ecPriv, "ec", nil),
		"RS256 by kid":  sign(t, jwt.SigningMethodRS256, rsaPriv, "rsa", nil),
		"EdDSA, no kid": sign(t, jwt.SigningMethodEdDSA, edPriv, "", nil),
	} {
		if owner, err := v.verify(tok); err != nil || owner != "alice" {
			t.Errorf("%s: owner %q, err %v", name, owner, err)
		}
	}
	for name, tok := range map[string]string{
		"wrong kid":              sign(t, jwt.SigningMethodEdDSA, edPriv, "ec", nil),
		"HS256 with the oct key": sign(t, jwt.SigningMethodHS256, []byte("shared secret"), "hmac", nil),
		"RS384 not accepted":     sign(t, jwt.SigningMethodRS384, rsaPriv, "rsa", nil),
		"bad sub":                sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", func(c jwt.MapClaims) { c["sub"] = "a\x00b" }),
		"future iat":             sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }),
		"not yet valid":          sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }),
	} {
		if _, err := v.verify(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIssuerConfigRefusals(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ecPriv)
	edFile := writeFile(t, "ed.pem", pemPublic(t, edPub))
	tests := []struct {
		name string
		iss  OwnerIssuer
		want string
	}{
		{"HS256", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: edFile, Algorithms: []string{"HS256"}}, "never HS"},
		{"none", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: edFile, Algorithms: []string{"none"}}, "not accepted"},
		{"no audience", OwnerIssuer{Issuer: "i", PublicKeyFile: edFile}, "audience"},
		{"no issuer", OwnerIssuer{Audience: "a", PublicKeyFile: edFile}, "issuer"},
		{"two key files", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: edFile, JWKSFile: edFile}, "exactly one"},
		{"no key file", OwnerIssuer{Issuer: "i", Audience: "a"}, "exactly one"},
		{"key type fits no alg", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: edFile, Algorithms: []string{"RS256"}}, "no key fits"},
		{"small RSA", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: writeFile(t, "rsa.pem", pemPublic(t, &rsaSmall.PublicKey))}, "no key fits"},
		{"private key", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: writeFile(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}, "private key"},
		{"private JWK", OwnerIssuer{Issuer: "i", Audience: "a", JWKSFile: writeFile(t, "priv.json", []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"`+b64u(edPub)+`","d":"AAAA"}]}`))}, "private key"},
		{"missing file", OwnerIssuer{Issuer: "i", Audience: "a", PublicKeyFile: filepath.Join(t.TempDir(), "nope.pem")}, "reading public_key_file"},
	}
	for _, tc := range tests {
		_, err := tc.iss.build()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
