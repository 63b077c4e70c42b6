package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

var placeholderKey = bytes.Repeat([]byte{0xC3}, 32)

func testClaims() *InvocationClaims {
	return &InvocationClaims{Invocation: testCall, ID: "jti-0123456789abcdef", ExpiresAt: testNow.Add(5 * time.Minute)}
}

func mustPlaceholders(t testing.TB, c *clock) *Placeholders {
	t.Helper()
	p, err := NewPlaceholders(placeholderKey, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlaceholderRoundTrip(t *testing.T) {
	c := newClock()
	p := mustPlaceholders(t, c)
	inv := testClaims()
	inv.GrantEpoch, inv.CodeEpoch = 7, 2
	ph, err := p.Mint(inv, "OPENAI_API_KEY", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Parse(ph)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := PlaceholderClaims{Keychain: inv.Keychain, Package: inv.Package, SHA256Prefix: inv.SHA256[:32],
		TokenID: inv.ID, KeychainVersion: 3, GrantEpoch: 7, CodeEpoch: 2, ExpiresAt: inv.ExpiresAt}
	if got != want {
		t.Fatalf("claims = %+v, want %+v", got, want)
	}
	app, err := p.Mint(inv, "WEBHOOK_SIGNING_SECRET", 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := p.Parse(app); err != nil || !g.App || g.KeyIndex != 2 {
		t.Fatalf("app placeholder: %+v %v", g, err)
	}
	for _, k := range []struct {
		name string
		app  bool
	}{{"NOT_USABLE", false}, {"", false}, {"OPENAI_API_KEY", true}, {"WEBHOOK_SIGNING_SECRET", false}} {
		if _, err := p.Mint(inv, k.name, 0, k.app); err == nil {
			t.Errorf("Mint(%q, app=%v) = nil error, want refusal", k.name, k.app)
		}
	}
}

// TestPlaceholderSurvivesTransports: a placeholder is the same string after
// it went through a header, a URL query, basic-auth userinfo and JSON.
func TestPlaceholderSurvivesTransports(t *testing.T) {
	p := mustPlaceholders(t, newClock())
	inv := testClaims()
	// The longest names keygate allows still fit.
	inv.Package, inv.ID = "@"+strings.Repeat("p", 106)+"/"+strings.Repeat("q", 106), strings.Repeat("j", 22)
	inv.Keys = append(inv.Keys, strings.Repeat("K", 128))
	inv.KeychainVersion, inv.GrantEpoch, inv.CodeEpoch = 1<<40, 1<<40, 1<<40
	for i, key := range []string{"OPENAI_API_KEY", strings.Repeat("K", 128)} {
		ph, err := p.Mint(inv, key, i*300, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(ph) >= 512 {
			t.Fatalf("placeholder is %d bytes", len(ph))
		}
		if q := url.QueryEscape(ph); q != ph {
			t.Errorf("query escaping changes it: %q", q)
		}
		if u := url.UserPassword("user", ph).String(); u != "user:"+ph {
			t.Errorf("userinfo escaping changes it: %q", u)
		}
		if j, _ := json.Marshal(ph); string(j) != `"`+ph+`"` {
			t.Errorf("JSON escaping changes it: %s", j)
		}
		if s, e := NextPlaceholder("Bearer "+ph, 0); s != 7 || e != 7+len(ph) {
			t.Errorf("NextPlaceholder = %d,%d", s, e)
		}
	}
}

func TestPlaceholderRefusals(t *testing.T) {
	c := newClock()
	p := mustPlaceholders(t, c)
	ph, err := p.Mint(testClaims(), "OPENAI_API_KEY", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewPlaceholders(bytes.Repeat([]byte{0xD4}, 32), c.Now)
	forged, _ := other.Mint(testClaims(), "OPENAI_API_KEY", 0, false)
	raw, _ := base64.RawURLEncoding.DecodeString(ph[len(PlaceholderPrefix):])
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 1
	cases := map[string]string{
		"forged with another key": forged,
		"one bit flipped":         PlaceholderPrefix + base64.RawURLEncoding.EncodeToString(flipped),
		"truncated":               ph[:len(ph)-3],
		"no prefix":               ph[len(PlaceholderPrefix):],
		"empty body":              PlaceholderPrefix,
		"padding":                 ph + "==",
		"too long":                PlaceholderPrefix + strings.Repeat("A", 600),
		"not base64":              PlaceholderPrefix + "!!!!",
	}
	for name, s := range cases {
		_, err := p.Parse(s)
		if !errors.Is(err, ErrPlaceholderInvalid) {
			t.Errorf("%s: err = %v, want ErrPlaceholderInvalid", name, err)
			continue
		}
		if strings.Contains(err.Error(), s[min(len(s), 5):]) && len(s) > 5 {
			t.Errorf("%s: the error holds the input", name)
		}
	}
	c.Add(5*time.Minute + 5*time.Second)
	if _, err := p.Parse(ph); !errors.Is(err, ErrPlaceholderExpired) {
		t.Fatalf("expired: err = %v", err)
	}
	if _, err := NewPlaceholders(make([]byte, 31), nil); err == nil {
		t.Fatal("a short key was accepted")
	}
}

func TestReplacePlaceholders(t *testing.T) {
	p := mustPlaceholders(t, newClock())
	ph, _ := p.Mint(testClaims(), "OPENAI_API_KEY", 0, false)
	in := `{"a":"` + ph + `","b":"x` + ph + `","c":"` + ph + `"}`
	out, n, err := ReplacePlaceholders(in, func(s string) (string, error) {
		if _, err := p.Parse(s); err != nil {
			return "", err
		}
		return "sk-live", nil
	})
	// The second stands inside a longer word and is not a placeholder.
	if err != nil || n != 2 || out != `{"a":"sk-live","b":"x`+ph+`","c":"sk-live"}` {
		t.Fatalf("= %q, %d, %v", out, n, err)
	}
	boom := errors.New("boom")
	out, n, err = ReplacePlaceholders("a "+ph, func(string) (string, error) { return "", boom })
	if err != boom || n != 0 || out != "a "+ph {
		t.Fatalf("on error = %q, %d, %v", out, n, err)
	}
	if out, n, _ := ReplacePlaceholders("plain", nil); out != "plain" || n != 0 {
		t.Fatal("a string without placeholders changed")
	}
}

// BenchmarkPlaceholderHeaders finds, verifies and substitutes the
// placeholder of a typical SDK request's headers (target: < 2 us).
func BenchmarkPlaceholderHeaders(b *testing.B) {
	p := mustPlaceholders(b, newClock())
	ph, _ := p.Mint(testClaims(), "OPENAI_API_KEY", 0, false)
	headers := []string{"Bearer " + ph, "application/json", "OpenAI/Python 1.99.0", "gzip, deflate", "keep-alive", "3.13.0", "MacOS", "arm64"}
	sub := func(s string) (string, error) {
		if _, err := p.Parse(s); err != nil {
			return "", err
		}
		return "sk-proj-0123456789abcdef0123456789abcdef", nil
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, h := range headers {
			if _, _, err := ReplacePlaceholders(h, sub); err != nil {
				b.Fatal(err)
			}
		}
	}
}
