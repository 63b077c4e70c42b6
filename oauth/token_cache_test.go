package oauth

import (
	"context"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

// TestAccessTokenForDecodesOncePerVersion: between refreshes the access
// token comes from the one decoded for the record's version, without the
// record being opened again; a new version (a rewrite, or a delete and
// re-create) is read anew, and so is a record that is no longer a token.
func TestAccessTokenForDecodesOncePerVersion(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	put := func(access string) store.SecretMeta {
		t.Helper()
		h.clock.Add(time.Second) // a new record has new times, as on a real clock
		meta, err := h.st.PutOAuthToken(h.kc, testKey, store.OAuthToken{AccessToken: access, RefreshToken: "rt-" + access,
			Expiry: h.clock.Now().Add(time.Hour)}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		return meta
	}
	get := func(meta store.SecretMeta, want string) {
		t.Helper()
		got, err := h.m.AccessTokenFor(ctx, h.kc, testPkg, testKey, meta)
		if err != nil || got != want {
			t.Fatalf("AccessTokenFor = %q, %v; want %q", got, err, want)
		}
	}
	m1 := put("at-one")
	get(m1, "at-one")
	// Opened once: with the record gone from the store, the same version's
	// metadata still gets the token decoded for it, the store untouched.
	if err := h.st.DeleteSecret(h.kc, testKey); err != nil {
		t.Fatal(err)
	}
	get(m1, "at-one")
	// Re-created (version 1 again, new times): read anew.
	m2 := put("at-two")
	if m2.Version != m1.Version {
		t.Fatalf("re-created at version %d, want %d for this test", m2.Version, m1.Version)
	}
	get(m2, "at-two")
	// Rewritten: the new version is read; stale metadata reads the store.
	m3 := put("at-three")
	get(m3, "at-three")
	get(m1, "at-three")
	// Near expiry, the cached token is not used: a refresh is due.
	h.clock.Add(time.Hour)
	if got, _ := h.m.AccessTokenFor(ctx, h.kc, testPkg, testKey, m3); got == "at-three" {
		t.Fatal("an expired cached token was returned")
	}
	// A value set by hand is not a token, whatever was cached.
	plain, err := h.st.PutSecret(h.kc, testKey, []byte("pasted"), store.SecretOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.AccessTokenFor(ctx, h.kc, testPkg, testKey, plain); err == nil {
		t.Fatal("a hand-set value was taken for an access token")
	}
}
