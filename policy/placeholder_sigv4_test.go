package policy

import (
	"bytes"
	"strings"
	"testing"
)

// The secret of a placeholder is fixed by it and keygate's key: another
// placeholder or another key gives another, and it is no placeholder
// itself (the proxy never substitutes it).
func TestSigV4Secret(t *testing.T) {
	c := newClock()
	p := mustPlaceholders(t, c)
	ph, err := p.Mint(testClaims(), "OPENAI_API_KEY", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	s := p.SigV4Secret(ph)
	if s != p.SigV4Secret(ph) || !strings.HasPrefix(s, SigV4SecretPrefix) || len(s) != len(SigV4SecretPrefix)+40 {
		t.Fatalf("secret %d bytes, stable %v", len(s), s == p.SigV4Secret(ph))
	}
	if ContainsPlaceholder(s) || strings.Contains(s, ph) || strings.Contains(ph, s[len(SigV4SecretPrefix):]) {
		t.Fatal("the secret looks like, or holds, the placeholder")
	}
	if p.SigV4Secret(ph+"x") == s {
		t.Fatal("another placeholder gives the same secret")
	}
	other, _ := NewPlaceholders(bytes.Repeat([]byte{0x3C}, 32), c.Now)
	if other.SigV4Secret(ph) == s {
		t.Fatal("another keygate key gives the same secret")
	}
}
