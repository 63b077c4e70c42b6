package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestOwnerLinks(t *testing.T) {
	s, c := memStore(t)
	kc := mustKeychain(t, s)
	tok, exp, err := s.CreateOwnerLink("alice", kc.ID, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(c.Now().Add(15 * time.Minute)) {
		t.Fatalf("expires %v", exp)
	}
	// Only the hash is stored: no key or value holds the token.
	assertNotStored(t, s, tok)
	l, err := s.TakeOwnerLink(tok)
	if err != nil || l.Owner != "alice" || l.Keychain != kc.ID {
		t.Fatalf("take: %+v %v", l, err)
	}
	if _, err := s.TakeOwnerLink(tok); err == nil {
		t.Fatal("a link worked twice")
	} else {
		wantErr(t, err, ErrNotFound)
	}

	// Expired: refused, and gone.
	tok2, _, _ := s.CreateOwnerLink("alice", "", time.Minute)
	c.Add(time.Minute)
	_, err = s.TakeOwnerLink(tok2)
	wantErr(t, err, ErrNotFound)

	for _, tc := range []struct {
		name, owner, kc string
		ttl             time.Duration
	}{
		{"no owner", "", "", time.Minute},
		{"bad keychain", "alice", "kc_nope", time.Minute},
		{"zero ttl", "alice", "", 0},
		{"control char", "al\x00ice", "", time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateOwnerLink(tc.owner, tc.kc, tc.ttl)
			wantErr(t, err, ErrInvalid)
		})
	}
	for _, bad := range []string{"", "x", strings.Repeat("a", 10000), "\x00\xff"} {
		_, err := s.TakeOwnerLink(bad)
		wantErr(t, err, ErrNotFound)
	}
}

func TestOwnerSessions(t *testing.T) {
	s, c := memStore(t)
	tok, sess, err := s.CreateOwnerSession("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sess.CSRF == "" || sess.CSRF == tok {
		t.Fatalf("csrf %q", sess.CSRF)
	}
	assertNotStored(t, s, tok)
	got, err := s.GetOwnerSession(tok)
	if err != nil || got.Owner != "alice" || got.CSRF != sess.CSRF {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetOwnerSession(tok + "x"); err == nil {
		t.Fatal("a wrong token found a session")
	}
	if err := s.DeleteOwnerSession(tok); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetOwnerSession(tok)
	wantErr(t, err, ErrNotFound)
	if err := s.DeleteOwnerSession("unknown"); err != nil {
		t.Fatal(err)
	}

	// Expiry and pruning.
	live, _, _ := s.CreateOwnerSession("bob", 2*time.Hour)
	s.CreateOwnerSession("carol", time.Hour)
	s.CreateOwnerLink("carol", "", time.Minute)
	c.Add(time.Hour)
	_, err = s.GetOwnerSession("nope")
	wantErr(t, err, ErrNotFound)
	n, err := s.PruneOwnerState()
	if err != nil || n != 2 {
		t.Fatalf("pruned %d, want 2 (%v)", n, err)
	}
	if _, err := s.GetOwnerSession(live); err != nil {
		t.Fatalf("live session pruned: %v", err)
	}
	_, _, err = s.CreateOwnerSession("", time.Hour)
	wantErr(t, err, ErrInvalid)
}

// assertNotStored fails if any stored key or value contains needle.
func assertNotStored(t *testing.T, s *Store, needle string) {
	t.Helper()
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{}, func(k, v []byte) error {
			if strings.Contains(string(k), needle) || strings.Contains(string(v), needle) {
				t.Errorf("token stored as is under %q", k[:4])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}
