package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func testState(kc string, n byte) OAuthState {
	return OAuthState{State: strings.Repeat(string('a'+n), 43), Keychain: kc, Package: "@a/b", Key: "GMAIL_TOKEN",
		Verifier: strings.Repeat("v", 43) + string('a'+n), RedirectURI: "https://kg.example/oauth/callback"}
}

func TestOAuthStateTakeOnce(t *testing.T) {
	s, c, kc := oauthSetup(t)
	st := testState(kc.ID, 0)
	if err := s.PutOAuthState(st); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.PutOAuthState(st), ErrConflict)
	got, err := s.TakeOAuthState(st.State, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Keychain != kc.ID || got.Package != "@a/b" || got.Key != "GMAIL_TOKEN" || got.Verifier != st.Verifier ||
		got.RedirectURI != st.RedirectURI || !got.ExpiresAt.Equal(c.Now().Add(OAuthStateTTL)) {
		t.Fatalf("got %+v", got)
	}
	_, err = s.TakeOAuthState(st.State, c.Now())
	wantErr(t, err, ErrOAuthState)
	wantErr(t, err, ErrInvalid)
}

func TestOAuthStateNotInTheClear(t *testing.T) {
	s, _, kc := oauthSetup(t)
	st := testState(kc.ID, 1)
	if err := s.PutOAuthState(st); err != nil {
		t.Fatal(err)
	}
	err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: nil}, func(k, v []byte) error {
			for _, secret := range []string{st.State, st.Verifier} {
				if bytes.Contains(k, []byte(secret)) || bytes.Contains(v, []byte(secret)) {
					t.Errorf("state or verifier stored in the clear under %q", k)
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOAuthStateExpires(t *testing.T) {
	s, c, kc := oauthSetup(t)
	st := testState(kc.ID, 2)
	if err := s.PutOAuthState(st); err != nil {
		t.Fatal(err)
	}
	_, err := s.TakeOAuthState(st.State, c.Now().Add(OAuthStateTTL))
	var se *OAuthStateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), st.State) {
		t.Fatal("error quotes the state")
	}
	// Expired is also gone: the next try reads "unknown".
	_, err = s.TakeOAuthState(st.State, c.Now())
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "unknown") {
		t.Fatalf("err = %v", err)
	}
}

func TestOAuthStatePrune(t *testing.T) {
	s, c, kc := oauthSetup(t)
	for i := range byte(3) {
		if err := s.PutOAuthState(testState(kc.ID, i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(OAuthStateTTL / 2)
	fresh := testState(kc.ID, 5)
	if err := s.PutOAuthState(fresh); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOAuthStates(c.Now()); err != nil || n != 0 {
		t.Fatalf("pruned %d %v before expiry", n, err)
	}
	c.Add(OAuthStateTTL/2 + time.Second)
	// Putting a new state prunes the expired ones on the way.
	if err := s.PutOAuthState(testState(kc.ID, 6)); err != nil {
		t.Fatal(err)
	}
	if keys := countPrefix(t, s, pfxOAuthState); keys != 2 {
		t.Fatalf("%d states left, want 2", keys)
	}
	c.Add(OAuthStateTTL)
	if n, err := s.PruneOAuthStates(c.Now()); err != nil || n != 2 {
		t.Fatalf("pruned %d %v", n, err)
	}
	if countPrefix(t, s, pfxOAuthState)+countPrefix(t, s, pfxOAuthExpiry) != 0 {
		t.Fatal("records left after pruning")
	}
}

func countPrefix(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.be.View(context.Background(), func(r reader) error {
		return r.Iterate(iterOptions{Prefix: []byte(prefix), KeysOnly: true}, func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOAuthStateBadInput(t *testing.T) {
	s, c, kc := oauthSetup(t)
	for _, tc := range []struct {
		name  string
		edit  func(*OAuthState)
		field string
	}{
		{"short state", func(st *OAuthState) { st.State = "abc" }, "state"},
		{"bad keychain", func(st *OAuthState) { st.Keychain = "nope" }, "keychain"},
		{"bad package", func(st *OAuthState) { st.Package = "nope" }, "package"},
		{"bad key", func(st *OAuthState) { st.Key = "1X" }, "key"},
		{"short verifier", func(st *OAuthState) { st.Verifier = "v" }, "verifier"},
		{"no redirect", func(st *OAuthState) { st.RedirectURI = "" }, "redirect_uri"},
	} {
		st := testState(kc.ID, 0)
		tc.edit(&st)
		var ve *ValidationError
		if err := s.PutOAuthState(st); !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	if countPrefix(t, s, pfxOAuthState) != 0 {
		t.Fatal("a refused state was stored")
	}
	for _, bad := range []string{"", "short", strings.Repeat("x", 513)} {
		if _, err := s.TakeOAuthState(bad, c.Now()); !errors.Is(err, ErrOAuthState) {
			t.Errorf("take %d bytes: %v", len(bad), err)
		}
	}
}

func TestOAuthStateTampered(t *testing.T) {
	s, c, kc := oauthSetup(t)
	st := testState(kc.ID, 0)
	if err := s.PutOAuthState(st); err != nil {
		t.Fatal(err)
	}
	k := key(pfxOAuthState, oauthStateID(st.State))
	raw := rawGet(t, s, k)
	// Rebind the state to another keychain in its clear metadata.
	other := mustKeychain(t, s)
	rawSet(t, s, k, bytes.Replace(raw, []byte(kc.ID), []byte(other.ID), 1))
	_, err := s.TakeOAuthState(st.State, c.Now())
	wantErr(t, err, ErrCorrupt)
}

// TestOAuthStateBinding: a state is bound once, to a nonce digest, which
// goes with the state when it is taken or pruned.
func TestOAuthStateBinding(t *testing.T) {
	s, clk := memStore(t)
	kc := mustKeychain(t, s)
	st := testState(kc.ID, 5)
	digest := strings.Repeat("ab", 32)
	if err := s.BindOAuthState(st.State, digest); !errors.Is(err, ErrOAuthState) {
		t.Fatalf("binding an unknown state: %v", err)
	}
	if err := s.PutOAuthState(st); err != nil {
		t.Fatal(err)
	}
	if _, bound, err := s.OAuthStateBinding(st.State); err != nil || bound {
		t.Fatalf("unbound state: bound %v, %v", bound, err)
	}
	for _, bad := range []string{"", "AB" + digest[2:], digest[:63], digest + "0", strings.Repeat("g", 64)} {
		if err := s.BindOAuthState(st.State, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("binding %q: %v, want invalid", bad, err)
		}
	}
	if err := s.BindOAuthState(st.State, digest); err != nil {
		t.Fatal(err)
	}
	if err := s.BindOAuthState(st.State, strings.Repeat("cd", 32)); !errors.Is(err, ErrConflict) {
		t.Fatalf("binding again: %v, want conflict", err)
	}
	if got, bound, err := s.OAuthStateBinding(st.State); err != nil || !bound || got != digest {
		t.Fatalf("binding: %q %v %v", got, bound, err)
	}
	if _, bound, err := s.OAuthStateBinding("short"); err != nil || bound {
		t.Fatalf("malformed state: bound %v, %v", bound, err)
	}
	if _, err := s.TakeOAuthState(st.State, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, bound, _ := s.OAuthStateBinding(st.State); bound {
		t.Fatal("the binding outlived its state")
	}

	// Pruned with its expired state.
	st2 := testState(kc.ID, 6)
	if err := s.PutOAuthState(st2); err != nil {
		t.Fatal(err)
	}
	if err := s.BindOAuthState(st2.State, digest); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneOAuthStates(clk.Now().Add(OAuthStateTTL + time.Second)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, bound, _ := s.OAuthStateBinding(st2.State); bound {
		t.Fatal("the binding outlived its pruned state")
	}
}
