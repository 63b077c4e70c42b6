package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// hostileTokens are seeds for the token fuzzers: the classic JWT attacks,
// built around a valid token so that the fuzzer starts close to the edge.
func hostileTokens(valid string, signKey []byte, claims map[string]any) []string {
	p := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	return []string{
		valid,
		"",
		".",
		"..",
		"...",
		p[0],
		p[0] + "." + p[1],
		p[0] + "." + p[1] + ".",
		valid + ".",
		valid + "." + p[2],
		valid + "\n",
		" " + valid,
		p[0] + "=." + p[1] + "." + p[2],
		strings.ToUpper(valid),
		strings.Replace(valid, ".", "%2e", -1),
		strings.Replace(valid, ".", "%2E", 1),
		strings.Repeat("A", MaxTokenLen+1),
		valid + strings.Repeat("A", MaxTokenLen),
		strings.Repeat(p[0]+".", 1000),
		"!!!.@@@.###",
		b64([]byte("null")) + "." + b64([]byte("null")) + ".",
		b64([]byte("{}")) + "." + b64([]byte("{}")) + ".",
		b64([]byte(`{"alg":"HS256"}`)) + "." + b64([]byte(`[]`)) + "." + p[2],
		forge(map[string]any{"alg": "none"}, claims, nil),
		forge(map[string]any{"alg": "none", "kid": "k-a"}, claims, nil),
		forge(map[string]any{"alg": "NONE", "kid": "k-a"}, claims, nil),
		forge(hdr("RS256", "k-a"), claims, hs256(signKey)),
		forge(hdr("ES256", "k-a"), claims, hs256(signKey)),
		forge(hdr("PS256", "k-a"), claims, hs256(signKey)),
		forge(hdr("EdDSA", "k-a"), claims, hs256(signKey)),
		forge(hdr("HS512", "k-a"), claims, hs256(signKey)),
		forge(hdr("HS384", "k-a"), claims, hs256(signKey)),
		forge(hdr("HS256", "../../../../etc/passwd"), claims, hs256(signKey)),
		forge(hdr("HS256", "/dev/zero"), claims, hs256(signKey)),
		forge(hdr("HS256", "k-a/../k-a"), claims, hs256(signKey)),
		forge(hdr("HS256", "k-a\u0000"), claims, hs256(signKey)),
		forge(hdr("HS256", "k-\u0430"), claims, hs256(signKey)),
		forge(hdr("HS256", "k-a"), claims, hs256(secretA)),
		forge(map[string]any{"alg": "HS256", "kid": "k-a", "jku": "https://evil.example/keys"}, claims, hs256(secretA)),
		forge(map[string]any{"alg": "HS256", "kid": "k-a", "crit": []string{"exp"}}, claims, nil),
		forge(hdr("HS256", "k-a"), claims, nil),
	}
}

func FuzzVerifyKeychainToken(f *testing.F) {
	c := newClock()
	cached := mustTokens(f, c, keyA)
	uncached, err := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	// The valid seed is built from fixed claims: fuzz workers run this setup
	// again, and a freshly issued token (random jti) would differ in each.
	valid := forge(hdr("HS256", "k-a"), keychainClaims(testNow), hs256(derive(secretA, labelKeychain)))
	want, err := uncached.VerifyKeychainToken(valid)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range hostileTokens(valid, derive(secretA, labelKeychain), keychainClaims(testNow)) {
		f.Add(s)
	}
	f.Add(forge(hdr("HS256", "k-a"), invocationClaims(testNow), hs256(derive(secretA, labelInvocation))))
	f.Fuzz(func(t *testing.T, tok string) {
		for _, tk := range []*Tokens{cached, uncached} {
			got, err := tk.VerifyKeychainToken(tok)
			if err == nil {
				if tok != valid || got != want {
					t.Fatalf("accepted a token keygate did not mint: %+v", got)
				}
				continue
			}
			checkTokenError(t, err, tok)
		}
	})
}

func FuzzVerifyInvocationToken(f *testing.F) {
	c := newClock()
	cached := mustTokens(f, c, keyA)
	uncached, err := NewTokens([]store.SigningKey{keyA}, TokenOptions{Now: c.Now, CacheSize: -1})
	if err != nil {
		f.Fatal(err)
	}
	valid := forge(hdr("HS256", "k-a"), invocationClaims(testNow), hs256(derive(secretA, labelInvocation)))
	want, err := uncached.VerifyInvocationToken(valid)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range hostileTokens(valid, derive(secretA, labelInvocation), invocationClaims(testNow)) {
		f.Add(s)
	}
	f.Add(forge(hdr("HS256", "k-a"), keychainClaims(testNow), hs256(derive(secretA, labelKeychain))))
	f.Fuzz(func(t *testing.T, tok string) {
		for _, tk := range []*Tokens{cached, uncached} {
			got, err := tk.VerifyInvocationToken(tok)
			if err == nil {
				if tok != valid || !reflect.DeepEqual(got, want) {
					t.Fatalf("accepted a token keygate did not mint: %+v", got)
				}
				continue
			}
			checkTokenError(t, err, tok)
		}
	})
}

func checkTokenError(t *testing.T, err error, tok string) {
	t.Helper()
	if !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("error %v does not wrap ErrTokenInvalid", err)
	}
	msg := err.Error()
	if len(msg) > 40 || (len(tok) >= 4 && strings.Contains(msg, tok)) {
		t.Fatalf("error message %q may quote the token", msg)
	}
}

func FuzzMatchHost(f *testing.F) {
	seeds := [][3]string{
		{"api.stripe.com", "api.stripe.com", "443"},
		{"api.stripe.com", "API.STRIPE.COM.", ""},
		{"api.stripe.com", "api.stripe.com.evil.com", "443"},
		{"api.stripe.com", "evilapi.stripe.com", "443"},
		{"api.stripe.com", "api-stripe.com", "443"},
		{"api.stripe.com", "api.stripe.com..", "443"},
		{"api.stripe.com", "\u0430pi.stripe.com", "443"},
		{"api.stripe.com", "api%2estripe.com", "443"},
		{"api.stripe.com", "api.stripe.com%2e", "443"},
		{"api.stripe.com", "", "443"},
		{"*.stripe.com", "stripe.com", "443"},
		{"*.stripe.com", "a.b.stripe.com", "443"},
		{"*.stripe.com", "a.stripe.com", "443"},
		{"*.stripe.com:443", "a.stripe.com", "443"},
		{"*.stripe.com:443", "a.stripe.com", "8443"},
		{"*.0.0.1", "127.0.0.1", ""},
		{"127.0.0.1", "127.0.0.1", "80"},
		{"127.0.0.1:80", "127.1", "80"},
		{"[::1]:8443", "::1", "8443"},
		{"[::1]:8443", "[::1]", "8443"},
		{"::1", "0::1", ""},
		{"fe80::1%eth0", "fe80::1%eth0", ""},
		{"::ffff:127.0.0.1", "127.0.0.1", ""},
		{"[::1", "[::1", ""},
		{"*", "a", ""},
		{"*.", "a.", ""},
		{"a:b:c", "a:b:c", ""},
		{"x:65535", "x", "65535"},
		{"x:65536", "x", "65536"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, host, port string) {
		got := MatchHost(pattern, host, port)
		if got != HostAllowed([]string{pattern}, host, port) {
			t.Fatal("HostAllowed disagrees with MatchHost")
		}
		if !got {
			return
		}
		if host == "" {
			t.Fatal("matched an empty host")
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; c >= 0x80 || c <= ' ' || c == '%' || c == '/' || c == '@' {
				t.Fatalf("matched a host with byte %q", c)
			}
		}
		pHost, pPort := refSplit(pattern)
		if pPort != "" && pPort != port {
			t.Fatalf("pattern port %q matched port %q", pPort, port)
		}
		bareHost := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if pip, err := netip.ParseAddr(pHost); err == nil {
			hip, err := netip.ParseAddr(bareHost)
			if err != nil || hip != pip {
				t.Fatalf("IP pattern %q matched %q", pattern, host)
			}
			return
		}
		if _, err := netip.ParseAddr(bareHost); err == nil {
			t.Fatalf("name pattern %q matched IP %q", pattern, host)
		}
		h := strings.ToLower(strings.TrimSuffix(host, "."))
		p := strings.ToLower(strings.TrimSuffix(pHost, "."))
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			label, found := strings.CutSuffix(h, "."+rest)
			if !found || label == "" || strings.Contains(label, ".") || strings.Contains(rest, "*") {
				t.Fatalf("wildcard %q matched %q", pattern, host)
			}
			return
		}
		if h != p || strings.Contains(p, "*") {
			t.Fatalf("exact pattern %q matched %q", pattern, host)
		}
	})
}

// refSplit splits a pattern into host and port with the standard library,
// as a cross-check on splitPattern.
func refSplit(p string) (host, port string) {
	if h, pt, err := net.SplitHostPort(p); err == nil {
		return h, pt
	}
	return strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"), ""
}

func FuzzDecodeManifest(f *testing.F) {
	valid := `{"name":"@acme/stripe-tools","version":"1.4.0","sha256":"` + strings.Repeat("9f", 32) + `",` +
		`"host":"stripe-tools","upstream":"http://127.0.0.1:9001",` +
		`"keys":[{"name":"STRIPE_SECRET_KEY","required":true,"description":"Stripe secret key: Dashboard -> Developers -> API keys.","hosts":["api.stripe.com"]}],` +
		`"app_keys":[{"name":"WEBHOOK_SIGNING_SECRET","required":false,"description":"..."}]}`
	seeds := []string{
		valid,
		"",
		"null",
		"{}",
		"[]",
		valid + valid,
		valid + " x",
		strings.Replace(valid, `"version"`, `"evil":1,"version"`, 1),
		strings.Replace(valid, `"name":"@acme/stripe-tools"`, `"name":"@acme/stripe-tools","name":"@evil/x"`, 1),
		strings.Replace(valid, `"NAME"`, `"Name"`, 1),
		strings.Replace(valid, "stripe-tools\",\"upstream", "STRIPE-tools\",\"upstream", 1),
		strings.Replace(valid, "api.stripe.com", "\u0430pi.stripe.com", 1),
		strings.Replace(valid, "api.stripe.com", "api%2estripe.com", 1),
		strings.Replace(valid, "api.stripe.com", "*.stripe.com", 1),
		strings.Replace(valid, "api.stripe.com", "[::1]:8443", 1),
		strings.Replace(valid, "api.stripe.com", "*", 1),
		strings.Replace(valid, "http://127.0.0.1:9001", "file:///etc/passwd", 1),
		strings.Replace(valid, "http://127.0.0.1:9001", "http://user:pass@127.0.0.1/", 1),
		strings.Replace(valid, strings.Repeat("9f", 32), strings.Repeat("9F", 32), 1),
		strings.Replace(valid, strings.Repeat("9f", 32), strings.Repeat("zz", 32), 1),
		strings.Replace(valid, "STRIPE_SECRET_KEY", "STRIPE\u0000KEY", 1),
		strings.Replace(valid, "STRIPE_SECRET_KEY", "../../etc/passwd", 1),
		strings.Replace(valid, `"keys":[`, `"keys":[{"name":"STRIPE_SECRET_KEY"},`, 1),
		strings.Replace(valid, `"upstream"`, `"updated_at":"2025-01-01T00:00:00+05:00","upstream"`, 1),
		strings.Replace(valid, `"upstream"`, `"updated_at":"9999-12-31T23:59:59-23:59","upstream"`, 1),
		strings.Replace(valid, `true`, `"true"`, 1),
		strings.Replace(valid, `"required":true`, `"required":1e400`, 1),
		"\ufeff" + valid,
		strings.Repeat("[", 10000),
		`{"name":"` + strings.Repeat("a", 1<<16) + `"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := store.DecodeManifest(data)
		if err != nil {
			return
		}
		b1, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("decoded manifest does not encode: %v", err)
		}
		m2, err := store.DecodeManifest(b1)
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v\n%s", err, b1)
		}
		b2, err := json.Marshal(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the manifest:\n%s\n%s", b1, b2)
		}
		if !m.UpdatedAt.Equal(m2.UpdatedAt) {
			t.Fatal("updated_at changed")
		}
	})
}

// FuzzPlaceholder: parsing never panics, accepts only what was minted, and
// finding candidates stays within the input.
func FuzzPlaceholder(f *testing.F) {
	p, err := NewPlaceholders(bytes.Repeat([]byte{0xC3}, 32), newClock().Now)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := p.Mint(&InvocationClaims{Invocation: testCall, ID: "jti-1", ExpiresAt: testNow.Add(time.Minute)}, "OPENAI_API_KEY", 0, false)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{valid, "Bearer " + valid, PlaceholderPrefix, "kgph_AAAA", "xkgph_" + valid, valid[:40]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if c, err := p.Parse(s); err == nil && s != valid {
			t.Fatalf("accepted %q: %+v", s, c)
		}
		for from := 0; ; {
			start, end := NextPlaceholder(s, from)
			if start < 0 {
				break
			}
			if start < from || end > len(s) || end < start+len(PlaceholderPrefix) {
				t.Fatalf("candidate %d..%d outside %d..%d", start, end, from, len(s))
			}
			from = end
		}
	})
}
