package policy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/store"
)

var (
	testNow  = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	secretA  = bytes.Repeat([]byte{0xA1}, 32)
	secretB  = bytes.Repeat([]byte{0xB2}, 32)
	keyA     = store.SigningKey{ID: "k-a", Secret: secretA}
	keyB     = store.SigningKey{ID: "k-b", Secret: secretB}
	testKC   = store.Keychain{ID: "kc_abcdefghijklmnopqrstuvwxyz", Owner: "alice", TokenVersion: 3}
	testCall = Invocation{
		Keychain:        testKC.ID,
		Package:         "@acme/stripe-tools",
		SHA256:          strings.Repeat("9f", 32),
		KeychainVersion: 3,
		Keys:            []string{"OPENAI_API_KEY", "STRIPE_SECRET_KEY"},
		AppKeys:         []string{"WEBHOOK_SIGNING_SECRET"},
		RequestID:       "req-1",
	}
)

// clock is a settable time source for TokenOptions.Now and LimiterOptions.Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time      { return c.t }
func (c *clock) Add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: testNow} }
func mustTokens(t testing.TB, c *clock, keys ...store.SigningKey) *Tokens {
	t.Helper()
	tk, err := NewTokens(keys, TokenOptions{Now: c.Now})
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tk
}

// forge builds a JWT by hand from any header and claims, signed by sign
// (nil: empty signature). It is how the tests play the attacker.
func forge(header, claims any, sign func(signing string) []byte) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	s := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	var sig []byte
	if sign != nil {
		sig = sign(s)
	}
	return s + "." + enc.EncodeToString(sig)
}

func hs256(key []byte) func(string) []byte {
	return func(s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
}

func hdr(alg, kid string) map[string]any {
	return map[string]any{"alg": alg, "kid": kid, "typ": "JWT"}
}

func keychainClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "keygate", "aud": audKeychain, "sub": testKC.ID, "typ": typKeychain,
		"ver": 3, "jti": "j1", "iat": now.Unix(),
	}
}

func invocationClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss": "keygate", "aud": audInvocation, "sub": testKC.ID, "typ": typInvocation,
		"pkg": testCall.Package, "sha": testCall.SHA256, "kver": 3,
		"keys": testCall.Keys, "app_keys": testCall.AppKeys, "rid": "req-1",
		"jti": "j2", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestKeychainTokenRoundTrip(t *testing.T) {
	c := newClock()
	tk := mustTokens(t, c, keyA)
	tok, err := tk.IssueKeychainToken(testKC)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.VerifyKeychainToken(tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.Keychain != testKC.ID || got.Version != 3 || len(got.ID) != 22 {
		t.Fatalf("claims = %+v", got)
	}
	// Keychain tokens do not expire.
	c.Add(400 * 24 * time.Hour)
	if _, err := tk.VerifyKeychainToken(tok); err != nil {
		t.Fatalf("a year later: %v", err)
	}
	// Each token has its own jti.
	tok2, _ := tk.IssueKeychainToken(testKC)
	got2, _ := tk.VerifyKeychainToken(tok2)
	if tok2 == tok || got2.ID == got.ID {
		t.Fatal("two tokens share a jti")
	}
}

func TestKeychainTokenLayout(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	tok, _ := tk.IssueKeychainToken(testKC)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("%d segments", len(parts))
	}
	var h map[string]any
	var c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(hb, &h); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(cb, &c); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "HS256" || h["kid"] != "k-a" {
		t.Fatalf("header %v", h)
	}
	want := map[string]any{
		"iss": "keygate", "aud": audKeychain, "sub": testKC.ID, "typ": "keychain",
		"ver": float64(3), "iat": float64(testNow.Unix()),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if _, ok := c["jti"].(string); !ok {
		t.Error("no jti")
	}
	if _, ok := c["exp"]; ok {
		t.Error("keychain token has exp")
	}
}

func TestInvocationTokenRoundTrip(t *testing.T) {
	c := newClock()
	tk := mustTokens(t, c, keyA)
	tok, err := tk.MintInvocationToken(testCall)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.VerifyInvocationToken(tok)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !reflect.DeepEqual(got.Invocation, testCall) {
		t.Fatalf("claims = %+v\nwant %+v", got.Invocation, testCall)
	}
	if !got.ExpiresAt.Equal(testNow.Add(5*time.Minute)) || got.ID == "" {
		t.Fatalf("exp %v id %q", got.ExpiresAt, got.ID)
	}
	if !got.HasKey("STRIPE_SECRET_KEY") || got.HasKey("WEBHOOK_SIGNING_SECRET") || got.HasKey("") {
		t.Error("HasKey")
	}
	if !got.HasAppKey("WEBHOOK_SIGNING_SECRET") || got.HasAppKey("STRIPE_SECRET_KEY") {
		t.Error("HasAppKey")
	}
}

func TestInvocationTokenExpiry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		after   time.Duration
		expired bool
	}{
		{"fresh", 0, false},
		{"just before exp", 5*time.Minute - time.Second, false},
		{"within leeway", 5*time.Minute + 4*time.Second, false},
		{"past leeway", 5*time.Minute + 5*time.Second, true},
		{"an hour later", time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tk := mustTokens(t, c, keyA)
			tok, _ := tk.MintInvocationToken(testCall)
			c.Add(tc.after)
			_, err := tk.VerifyInvocationToken(tok)
			if tc.expired {
				if !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrTokenInvalid) {
					t.Fatalf("err = %v, want expired and invalid", err)
				}
				if err.Error() != "token expired" {
					t.Fatalf("message %q", err)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestInvocationTTLOption(t *testing.T) {
	c := newClock()
	tk, err := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, InvocationTTL: time.Minute, Leeway: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := tk.MintInvocationToken(testCall)
	got, _ := tk.VerifyInvocationToken(tok)
	if !got.ExpiresAt.Equal(testNow.Add(time.Minute)) {
		t.Fatalf("exp %v", got.ExpiresAt)
	}
	c.Add(time.Minute + time.Second)
	if _, err := tk.VerifyInvocationToken(tok); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("err = %v", err)
	}
}

// TestHostileTokens feeds both verifiers tokens an attacker could make.
// Each must be refused with an error that wraps ErrTokenInvalid and quotes
// nothing from the token.
func TestHostileTokens(t *testing.T) {
	c := newClock()
	tk := mustTokens(t, c, keyA, store.SigningKey{ID: "old", Secret: secretB, Retired: true})
	kcKey, invKey := derive(secretA, labelKeychain), derive(secretA, labelInvocation)
	good, _ := tk.IssueKeychainToken(testKC)
	goodInv, _ := tk.MintInvocationToken(testCall)
	kcc, inc := keychainClaims(testNow), invocationClaims(testNow)
	gp := strings.Split(good, ".")

	type verifier func(string) error
	vk := func(s string) error { _, err := tk.VerifyKeychainToken(s); return err }
	vi := func(s string) error { _, err := tk.VerifyInvocationToken(s); return err }
	tests := []struct {
		name   string
		verify verifier
		tok    string
		msg    string // "" = any
	}{
		{"empty", vk, "", "malformed token"},
		{"one segment", vk, "abc", "malformed token"},
		{"two segments", vk, gp[0] + "." + gp[1], "malformed token"},
		{"four segments", vk, good + ".x", "malformed token"},
		{"trailing dot", vk, good + ".", "malformed token"},
		{"leading space", vk, " " + good, "malformed token"},
		{"trailing newline", vk, good + "\n", "malformed token"},
		{"padded base64", vk, gp[0] + "==." + gp[1] + "." + gp[2], "malformed token"},
		{"std base64 plus", vk, good[:5] + "+" + good[6:], "malformed token"},
		{"std base64 slash", vk, good[:5] + "/" + good[6:], "malformed token"},
		{"percent-encoded dot", vk, strings.Replace(good, ".", "%2e", 1), "malformed token"},
		{"NUL inside", vk, good[:5] + "\x00" + good[5:], "malformed token"},
		{"not base64", vk, "%%%.%%%.%%%", "malformed token"},
		{"header not json", vk, "bm90IGpzb24." + gp[1] + "." + gp[2], "malformed token"},
		{"huge", vk, strings.Repeat("a", MaxTokenLen+1), "token too long"},
		{"huge but valid prefix", vk, good + strings.Repeat("A", MaxTokenLen), "token too long"},
		{"signature stripped", vk, gp[0] + "." + gp[1] + ".", "bad signature"},
		{"signature of other token", vk, gp[0] + "." + gp[1] + "." + strings.Split(goodInv, ".")[2], "bad signature"},
		{"alg none", vk, forge(map[string]any{"alg": "none", "kid": "k-a"}, kcc, nil), "bad signature"},
		{"alg None", vk, forge(map[string]any{"alg": "None", "kid": "k-a"}, kcc, nil), "bad signature"},
		{"alg HS512 same key", vk, forge(hdr("HS512", "k-a"), kcc, func(s string) []byte {
			m := hmac.New(jwt.SigningMethodHS512.Hash.New, kcKey)
			m.Write([]byte(s))
			return m.Sum(nil)
		}), "bad signature"},
		{"alg RS256 with hmac sig", vk, forge(hdr("RS256", "k-a"), kcc, hs256(kcKey)), "bad signature"},
		{"alg ES256 with hmac sig", vk, forge(hdr("ES256", "k-a"), kcc, hs256(kcKey)), "bad signature"},
		{"alg EdDSA", vk, forge(hdr("EdDSA", "k-a"), kcc, hs256(kcKey)), "bad signature"},
		{"alg missing", vk, forge(map[string]any{"kid": "k-a"}, kcc, hs256(kcKey)), "bad signature"},
		{"alg not a string", vk, forge(map[string]any{"alg": 1, "kid": "k-a"}, kcc, hs256(kcKey)), "bad signature"},
		{"kid missing", vk, forge(map[string]any{"alg": "HS256"}, kcc, hs256(kcKey)), "unknown signing key"},
		{"kid unknown", vk, forge(hdr("HS256", "k-z"), kcc, hs256(kcKey)), "unknown signing key"},
		{"kid path trick", vk, forge(hdr("HS256", "../../../dev/null"), kcc, hs256(kcKey)), "unknown signing key"},
		{"kid empty", vk, forge(hdr("HS256", ""), kcc, hs256(kcKey)), "unknown signing key"},
		{"kid not a string", vk, forge(map[string]any{"alg": "HS256", "kid": []string{"k-a"}}, kcc, hs256(kcKey)), "unknown signing key"},
		{"kid with NUL", vk, forge(hdr("HS256", "k-a\x00"), kcc, hs256(kcKey)), "unknown signing key"},
		{"kid case", vk, forge(hdr("HS256", "K-A"), kcc, hs256(kcKey)), "unknown signing key"},
		{"retired kid", vk, forge(hdr("HS256", "old"), kcc, hs256(derive(secretB, labelKeychain))), "unknown signing key"},
		{"signed with raw secret", vk, forge(hdr("HS256", "k-a"), kcc, hs256(secretA)), "bad signature"},
		{"signed with invocation key", vk, forge(hdr("HS256", "k-a"), kcc, hs256(invKey)), "bad signature"},
		{"invocation token as keychain", vk, goodInv, "bad signature"},
		{"keychain token as invocation", vi, good, "bad signature"},
		{"keychain claims with invocation key", vi, forge(hdr("HS256", "k-a"), kcc, hs256(invKey)), ""},
		{"typ invocation under keychain key", vk, forge(hdr("HS256", "k-a"), with(kcc, "typ", "invocation"), hs256(kcKey)), "wrong token type"},
		{"typ missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "typ", nil), hs256(kcKey)), "wrong token type"},
		{"typ keychain under invocation key", vi, forge(hdr("HS256", "k-a"), with(inc, "typ", "keychain"), hs256(invKey)), "wrong token type"},
		{"aud invocation under keychain key", vk, forge(hdr("HS256", "k-a"), with(kcc, "aud", audInvocation), hs256(kcKey)), "wrong audience"},
		{"aud missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "aud", nil), hs256(kcKey)), "missing claim"},
		{"aud as list", vk, forge(hdr("HS256", "k-a"), with(kcc, "aud", []string{audKeychain}), hs256(kcKey)), "malformed token"},
		{"iss other", vk, forge(hdr("HS256", "k-a"), with(kcc, "iss", "evil"), hs256(kcKey)), "wrong issuer"},
		{"iss missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "iss", nil), hs256(kcKey)), "missing claim"},
		{"sub missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "sub", nil), hs256(kcKey)), "missing claim"},
		{"jti missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "jti", nil), hs256(kcKey)), "missing claim"},
		{"iat missing", vk, forge(hdr("HS256", "k-a"), with(kcc, "iat", nil), hs256(kcKey)), "missing claim"},
		{"iat in future", vk, forge(hdr("HS256", "k-a"), with(kcc, "iat", testNow.Add(time.Hour).Unix()), hs256(kcKey)), "token not valid yet"},
		{"keychain token with past exp", vk, forge(hdr("HS256", "k-a"), with(kcc, "exp", testNow.Add(-time.Hour).Unix()), hs256(kcKey)), "token expired"},
		{"ver as string", vk, forge(hdr("HS256", "k-a"), with(kcc, "ver", "3"), hs256(kcKey)), "malformed token"},
		{"ver negative", vk, forge(hdr("HS256", "k-a"), with(kcc, "ver", -1), hs256(kcKey)), "malformed token"},
		{"claims not an object", vk, forge(hdr("HS256", "k-a"), []int{1}, hs256(kcKey)), "malformed token"},
		{"exp missing", vi, forge(hdr("HS256", "k-a"), with(inc, "exp", nil), hs256(invKey)), "missing claim"},
		{"exp zero", vi, forge(hdr("HS256", "k-a"), with(inc, "exp", 0), hs256(invKey)), "missing claim"},
		{"exp as string", vi, forge(hdr("HS256", "k-a"), with(inc, "exp", "soon"), hs256(invKey)), "malformed token"},
		{"exp float", vi, forge(hdr("HS256", "k-a"), with(inc, "exp", 1.5), hs256(invKey)), "malformed token"},
		{"exp past", vi, forge(hdr("HS256", "k-a"), with(inc, "exp", testNow.Add(-time.Minute).Unix()), hs256(invKey)), "token expired"},
		{"pkg missing", vi, forge(hdr("HS256", "k-a"), with(inc, "pkg", nil), hs256(invKey)), "missing claim"},
		{"sha missing", vi, forge(hdr("HS256", "k-a"), with(inc, "sha", nil), hs256(invKey)), "missing claim"},
		{"keys not a list", vi, forge(hdr("HS256", "k-a"), with(inc, "keys", "STRIPE_SECRET_KEY"), hs256(invKey)), "malformed token"},
		{"aud keychain on invocation", vi, forge(hdr("HS256", "k-a"), with(inc, "aud", audKeychain), hs256(invKey)), "wrong audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.verify(tc.tok)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err %v does not wrap ErrTokenInvalid", err)
			}
			if tc.msg != "" && err.Error() != tc.msg {
				t.Fatalf("message %q, want %q", err, tc.msg)
			}
			assertNoTokenIn(t, err.Error(), tc.tok)
		})
	}
}

// assertNoTokenIn fails when msg quotes any segment of tok.
func assertNoTokenIn(t *testing.T, msg, tok string) {
	t.Helper()
	if len(msg) > 40 {
		t.Fatalf("error message %q is longer than any fixed message", msg)
	}
	for _, seg := range strings.Split(tok, ".") {
		if len(seg) >= 8 && strings.Contains(msg, seg) {
			t.Fatalf("error message %q quotes the token", msg)
		}
	}
}

func TestTokenForgedWithTheRightKeyIsAccepted(t *testing.T) {
	// The forge helper is only meaningful if a correctly forged token (that
	// is, one made with keygate's own derived key) passes: this guards the
	// hostile table against passing for the wrong reason.
	tk := mustTokens(t, newClock(), keyA)
	if _, err := tk.VerifyKeychainToken(forge(hdr("HS256", "k-a"), keychainClaims(testNow), hs256(derive(secretA, labelKeychain)))); err != nil {
		t.Fatalf("keychain: %v", err)
	}
	got, err := tk.VerifyInvocationToken(forge(hdr("HS256", "k-a"), invocationClaims(testNow), hs256(derive(secretA, labelInvocation))))
	if err != nil {
		t.Fatalf("invocation: %v", err)
	}
	if !reflect.DeepEqual(got.Invocation, testCall) {
		t.Fatalf("claims %+v", got.Invocation)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	c := newClock()
	old := mustTokens(t, c, keyA)
	oldKC, _ := old.IssueKeychainToken(testKC)
	oldInv, _ := old.MintInvocationToken(testCall)

	// A new key signs; the old one still verifies.
	rotated := mustTokens(t, c, keyB, keyA)
	newKC, _ := rotated.IssueKeychainToken(testKC)
	if kid := headerKid(t, newKC); kid != "k-b" {
		t.Fatalf("new token kid %q", kid)
	}
	for _, tok := range []string{oldKC, newKC} {
		if _, err := rotated.VerifyKeychainToken(tok); err != nil {
			t.Fatalf("rotated verify: %v", err)
		}
	}
	if _, err := rotated.VerifyInvocationToken(oldInv); err != nil {
		t.Fatalf("rotated verify invocation: %v", err)
	}
	// The old verifier does not know the new key.
	if _, err := old.VerifyKeychainToken(newKC); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("old verifier accepted new kid: %v", err)
	}

	// Retiring the old key makes its tokens fail at once.
	retiredA := keyA
	retiredA.Retired = true
	after := mustTokens(t, c, retiredA, keyB)
	if kid := headerKid(t, mustIssue(t, after)); kid != "k-b" {
		t.Fatalf("signer after retirement %q, want first non-retired", kid)
	}
	if _, err := after.VerifyKeychainToken(oldKC); err == nil || err.Error() != "unknown signing key" {
		t.Fatalf("retired key's token: %v", err)
	}
	if _, err := after.VerifyInvocationToken(oldInv); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("retired key's invocation token: %v", err)
	}
	if _, err := after.VerifyKeychainToken(newKC); err != nil {
		t.Fatalf("live key's token: %v", err)
	}
}

func mustIssue(t *testing.T, tk *Tokens) string {
	t.Helper()
	tok, err := tk.IssueKeychainToken(testKC)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func headerKid(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func TestIssuerOption(t *testing.T) {
	c := newClock()
	a, _ := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, Issuer: "keygate-eu"})
	b, _ := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now})
	tok, _ := a.IssueKeychainToken(testKC)
	if _, err := a.VerifyKeychainToken(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyKeychainToken(tok); err == nil || err.Error() != "wrong issuer" {
		t.Fatalf("other issuer: %v", err)
	}
}

func TestNewTokensErrors(t *testing.T) {
	short := store.SigningKey{ID: "short", Secret: []byte("0123456789abcdef")}
	tests := []struct {
		name string
		keys []store.SigningKey
		o    TokenOptions
	}{
		{"no keys", nil, TokenOptions{}},
		{"only retired", []store.SigningKey{{ID: "r", Secret: secretA, Retired: true}}, TokenOptions{}},
		{"short secret", []store.SigningKey{short}, TokenOptions{}},
		{"empty id", []store.SigningKey{{Secret: secretA}}, TokenOptions{}},
		{"duplicate id", []store.SigningKey{keyA, {ID: "k-a", Secret: secretB}}, TokenOptions{}},
		{"negative ttl", []store.SigningKey{keyA}, TokenOptions{InvocationTTL: -time.Second}},
		{"negative leeway", []store.SigningKey{keyA}, TokenOptions{Leeway: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := NewTokens(tc.keys, tc.o)
			if err == nil || tk != nil {
				t.Fatal("accepted")
			}
			for _, k := range tc.keys {
				if len(k.Secret) > 0 && strings.Contains(err.Error(), string(k.Secret)) {
					t.Fatalf("error %q holds key material", err)
				}
			}
		})
	}
}

func TestMintRefusals(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	if _, err := tk.IssueKeychainToken(store.Keychain{}); err == nil {
		t.Error("keychain without id")
	}
	for _, in := range []Invocation{
		{Package: "p", SHA256: "s"},
		{Keychain: "k", SHA256: "s"},
		{Keychain: "k", Package: "p"},
	} {
		if _, err := tk.MintInvocationToken(in); err == nil {
			t.Errorf("minted %+v", in)
		}
	}
	// A token keygate could not verify is never minted.
	big := testCall
	big.Keys = nil
	for i := 0; i < 100; i++ {
		big.Keys = append(big.Keys, strings.Repeat("K", 100))
	}
	if _, err := tk.MintInvocationToken(big); err == nil {
		t.Error("minted a token over MaxTokenLen")
	}
}

func TestDerivedKeysDiffer(t *testing.T) {
	a, b := derive(secretA, labelKeychain), derive(secretA, labelInvocation)
	if bytes.Equal(a, b) || bytes.Equal(a, secretA) || len(a) != 32 {
		t.Fatal("derived keys are not separate")
	}
	if !bytes.Equal(a, derive(secretA, labelKeychain)) {
		t.Fatal("derivation is not deterministic")
	}
}

func TestTokensConcurrent(t *testing.T) {
	tk := mustTokens(t, newClock(), keyA)
	done := make(chan error)
	for i := 0; i < 4; i++ {
		go func() {
			var err error
			for j := 0; j < 200 && err == nil; j++ {
				var tok string
				if tok, err = tk.MintInvocationToken(testCall); err == nil {
					_, err = tk.VerifyInvocationToken(tok)
				}
			}
			done <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkVerifyKeychainToken(b *testing.B) {
	tk := mustTokens(b, newClock(), keyA)
	tok, _ := tk.IssueKeychainToken(testKC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.VerifyKeychainToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueKeychainToken(b *testing.B) {
	tk := mustTokens(b, newClock(), keyA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.IssueKeychainToken(testKC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintInvocationToken(b *testing.B) {
	tk := mustTokens(b, newClock(), keyA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.MintInvocationToken(testCall); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInvocationToken(b *testing.B) {
	tk := mustTokens(b, newClock(), keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.VerifyInvocationToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInvocationTokenParallel(b *testing.B) {
	tk := mustTokens(b, newClock(), keyA)
	tok, _ := tk.MintInvocationToken(testCall)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := tk.VerifyInvocationToken(tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The Cold benchmarks turn the verified-token cache off: they measure the
// first verification of a token, the Warm ones (above) every later one.
func BenchmarkVerifyKeychainTokenCold(b *testing.B) {
	c := newClock()
	tk, _ := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: -1})
	tok, _ := tk.IssueKeychainToken(testKC)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.VerifyKeychainToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInvocationTokenCold(b *testing.B) {
	c := newClock()
	tk, _ := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: -1})
	tok, _ := tk.MintInvocationToken(testCall)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.VerifyInvocationToken(tok); err != nil {
			b.Fatal(err)
		}
	}
}
