package ownerpage

import (
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keygate/keygate/caddymodule/gateway"
)

func newTestOwnerState(t *testing.T) (*ownerState, *time.Time) {
	t.Helper()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	t.Cleanup(SetClock(func() time.Time { return now }))
	return &ownerState{
		links:    make(map[[sha256.Size]byte]loginLink),
		sessions: make(map[[sha256.Size]byte]ownerSession),
		csrfKey:  []byte("k"),
	}, &now
}

func TestLoginLinkSingleUseAndExpiry(t *testing.T) {
	s, now := newTestOwnerState(t)
	tok, exp, err := s.newLink("alice", "kc_x", 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("expiry %v", exp)
	}
	for k := range s.links {
		if string(k[:]) == tok {
			t.Fatal("the map holds the token itself, not its hash")
		}
	}
	if l, ok := s.consumeLink(tok); !ok || l.owner != "alice" || l.keychain != "kc_x" {
		t.Fatalf("first use: %+v %v", l, ok)
	}
	if _, ok := s.consumeLink(tok); ok {
		t.Fatal("a link worked twice")
	}

	tok, _, _ = s.newLink("alice", "kc_x", 15*time.Minute)
	*now = now.Add(15 * time.Minute)
	if _, ok := s.consumeLink(tok); ok {
		t.Fatal("an expired link worked")
	}
	if len(s.links) != 0 {
		t.Fatal("an expired link that was tried stays in memory")
	}
}

func TestSessionExpiryAndEnd(t *testing.T) {
	s, now := newTestOwnerState(t)
	id, sess, err := s.newSession("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 43 || len(sess.csrf) != 43 || id == sess.csrf {
		t.Fatalf("session id and CSRF token must be distinct 32-byte values: %d %d", len(id), len(sess.csrf))
	}
	if got, ok := s.session(id); !ok || got.owner != "alice" {
		t.Fatal("fresh session not found")
	}
	s.endSession(id)
	if _, ok := s.session(id); ok {
		t.Fatal("ended session still works")
	}
	id, _, _ = s.newSession("alice", time.Hour)
	*now = now.Add(time.Hour)
	if _, ok := s.session(id); ok {
		t.Fatal("expired session still works")
	}
}

func TestOwnerMapsAreBounded(t *testing.T) {
	s, now := newTestOwnerState(t)
	first, _, _ := s.newLink("alice", "kc_x", time.Minute)
	*now = now.Add(time.Second)
	for i := 0; i < ownerMapMax+50; i++ {
		if _, _, err := s.newLink("alice", "kc_x", time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.newSession("alice", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.links) > ownerMapMax || len(s.sessions) > ownerMapMax {
		t.Fatalf("maps grew to %d links and %d sessions, bound %d", len(s.links), len(s.sessions), ownerMapMax)
	}
	if _, ok := s.consumeLink(first); ok {
		t.Fatal("the link closest to expiry should have made room first")
	}
}

func TestBearerCSRF(t *testing.T) {
	s, _ := newTestOwnerState(t)
	if s.bearerCSRF("alice") == s.bearerCSRF("bob") || s.bearerCSRF("alice") != s.bearerCSRF("alice") {
		t.Fatal("the bearer CSRF token must be stable per owner and differ between owners")
	}
	other := &ownerState{csrfKey: []byte("other")}
	if other.bearerCSRF("alice") == s.bearerCSRF("alice") {
		t.Fatal("the bearer CSRF token must depend on the process's key")
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tls       bool
		publicURL string
		secure    bool
	}{
		{"plain HTTP", false, "", false},
		{"TLS at Caddy", true, "", true},
		{"TLS at a proxy in front", false, "https://keys.example", true},
	} {
		h := &Page{app: &gateway.App{PublicURL: tc.publicURL}}
		r := httptest.NewRequest("GET", "http://keys.example/ui/login", nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		h.setSessionCookie(w, r, "id", time.Now().Add(time.Hour))
		c := w.Result().Cookies()[0]
		if c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui" {
			t.Errorf("%s: cookie %+v", tc.name, c)
		}
	}
}
