package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func testPending(kc string, n byte) OAuthPending {
	return OAuthPending{ID: strings.Repeat(string('p'+n), 43), Keychain: kc, Package: "@a/b", Key: "GMAIL_TOKEN",
		Account: "alice@example.test", AllowedHosts: []string{"gmail.googleapis.com"}, Browser: strings.Repeat("ab", 32),
		Token: OAuthToken{AccessToken: "at-pending-secret", RefreshToken: "rt-pending-secret", Expiry: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}}
}

// TestOAuthPendingTakeOnce: only the browser it names takes a pending
// connect, once; another browser's attempt leaves it; an expired one is
// refused and gone; nothing of the token or id is stored in the clear.
func TestOAuthPendingTakeOnce(t *testing.T) {
	s, c, kc := oauthSetup(t)
	p := testPending(kc.ID, 0)
	if err := s.PutOAuthPending(p); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.PutOAuthPending(p), ErrConflict)
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{}, func(k, v []byte) error {
			for _, secret := range []string{p.ID, p.Token.AccessToken, p.Token.RefreshToken} {
				if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
					t.Errorf("pending id or token stored in the clear under %q", k)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeOAuthPending(p.ID, strings.Repeat("cd", 32), c.Now(), true); !errors.Is(err, ErrOAuthPendingBrowser) {
		t.Fatalf("another browser: %v", err)
	}
	got, err := s.TakeOAuthPending(p.ID, p.Browser, c.Now(), true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Keychain != kc.ID || got.Account != p.Account || got.Token.AccessToken != p.Token.AccessToken ||
		got.Token.RefreshToken != p.Token.RefreshToken || len(got.AllowedHosts) != 1 || !got.ExpiresAt.Equal(c.Now().Add(OAuthPendingTTL)) {
		t.Fatalf("got %+v", got)
	}
	if _, err := s.TakeOAuthPending(p.ID, p.Browser, c.Now(), true); !errors.Is(err, ErrOAuthPending) {
		t.Fatalf("replayed: %v", err)
	}
	if strings.Contains(got.String()+got.GoString(), "secret") {
		t.Fatalf("String shows the token: %s", got)
	}

	p = testPending(kc.ID, 1)
	if err := s.PutOAuthPending(p); err != nil {
		t.Fatal(err)
	}
	c.Add(OAuthPendingTTL)
	if _, err := s.TakeOAuthPending(p.ID, p.Browser, c.Now(), true); !errors.Is(err, ErrOAuthPending) {
		t.Fatalf("expired: %v", err)
	}
	if n := countPrefix(t, s, pfxOAuthPending) + countPrefix(t, s, pfxOAuthPendingExpiry); n != 0 {
		t.Fatalf("an expired pending connect left %d keys", n)
	}
	p = testPending(kc.ID, 2)
	if err := s.PutOAuthPending(p); err != nil {
		t.Fatal(err)
	}
	c.Add(OAuthPendingTTL)
	if n, err := s.PruneOAuthStates(c.Now()); err != nil || n != 1 || countPrefix(t, s, pfxOAuthPending) != 0 {
		t.Fatalf("prune: %d %v", n, err)
	}
}

func TestOAuthPendingRefusesBadInput(t *testing.T) {
	s, _, kc := oauthSetup(t)
	for name, mut := range map[string]func(*OAuthPending){
		"short id":     func(p *OAuthPending) { p.ID = "x" },
		"bad browser":  func(p *OAuthPending) { p.Browser = "nothex" },
		"long account": func(p *OAuthPending) { p.Account = strings.Repeat("a", 1100) },
		"no token":     func(p *OAuthPending) { p.Token.AccessToken = "" },
		"bad key":      func(p *OAuthPending) { p.Key = "no spaces" },
	} {
		p := testPending(kc.ID, 3)
		mut(&p)
		if err := s.PutOAuthPending(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if countPrefix(t, s, pfxOAuthPending) != 0 {
		t.Fatal("refused input stored something")
	}
}
