package oauth

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
	"github.com/keygate/keygate/store"
)

func TestConnectCallbackAccessToken(t *testing.T) {
	h := newHarness(t)
	u, err := h.m.Connect(h.kc, testPkg, testKey)
	if err != nil {
		t.Fatal(err)
	}
	q := queryOf(t, u)
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("access_type") != "offline" ||
		q.Get("redirect_uri") != "https://keygate.example/oauth/callback" || q.Get("scope") != "mail.read" || len(q.Get("state")) < 43 {
		t.Fatalf("authorize url query: %v", q)
	}
	back := queryOf(t, h.srv.Authorize(t, u))
	res, err := h.finish(back)
	if err != nil {
		t.Fatal(err)
	}
	if res.Keychain != h.kc || res.Package != testPkg || res.Key != testKey || !res.ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) {
		t.Fatalf("result %+v", res)
	}
	tok, meta := h.stored()
	if meta.Kind != store.SecretKindOAuth || meta.AllowedHosts[0] != "gmail.googleapis.com" || meta.Scopes[0] != "mail.read" ||
		!meta.ConnectedAt.Equal(h.clock.Now()) || tok.RefreshToken == "" {
		t.Fatalf("stored %+v", meta)
	}
	if got := h.token(h.m); got != tok.AccessToken {
		t.Fatal("AccessToken is not the stored token")
	}
	if h.srv.Calls(oauthtest.GrantAuthorizationCode) != 1 || h.srv.Calls(oauthtest.GrantRefreshToken) != 0 {
		t.Fatal("unexpected token calls")
	}
	if !h.audit.has(EventConnect, "started") || !h.audit.has(EventCallback, "pending") || !h.audit.has(EventConfirm, "ok") {
		t.Fatalf("audit: %v", h.audit.all())
	}
}

func TestConnectWithoutPKCE(t *testing.T) {
	h := newHarness(t)
	h.pkce = false
	h.m = h.manager()
	u, err := h.m.Connect(h.kc, testPkg, testKey)
	if err != nil {
		t.Fatal(err)
	}
	if queryOf(t, u).Has("code_challenge") {
		t.Fatal("challenge sent with pkce off")
	}
	if _, err := h.finish(queryOf(t, h.srv.Authorize(t, u))); err != nil {
		t.Fatal(err)
	}
}

func TestConnectRefuses(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, kc, key string
		want          error
		mentions      string
	}{
		{"unknown provider", h.kc, "GHOST_TOKEN", ErrConfig, "ghost"},
		{"not an oauth key", h.kc, testPlain, ErrConfig, testPlain},
		{"undeclared key", h.kc, "NOPE", ErrConfig, "NOPE"},
		{"app key", h.kc, testApp, ErrConfig, testApp},
		{"missing client secret", h.kc, "LONELY_TOKEN", ErrConfig, "UNSET_SECRET"},
		{"unknown keychain", "kc_aaaaaaaaaaaaaaaaaaaaaaaaaa", testKey, store.ErrNotFound, "kc_"},
	} {
		_, err := h.m.Connect(tc.kc, testPkg, tc.key)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mentions) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestCallbackStateChecks(t *testing.T) {
	h := newHarness(t)
	other, err := h.st.CreateKeychain("bob", "", "")
	if err != nil {
		t.Fatal(err)
	}

	// Replayed: the second use of a state fails and stores nothing new.
	q := h.begin(h.kc)
	if _, err := h.finish(q); err != nil {
		t.Fatal(err)
	}
	_, v1 := h.stored()
	if _, err := h.finish(q); !errors.Is(err, ErrState) {
		t.Fatalf("replay: %v", err)
	}
	if _, v2 := h.stored(); v2.Version != v1.Version {
		t.Fatal("replay stored a token")
	}

	// Expired.
	q = h.begin(other.ID)
	h.clock.Add(store.OAuthStateTTL)
	if _, err := h.finish(q); !errors.Is(err, ErrState) {
		t.Fatalf("expired: %v", err)
	}
	// Bound to its keychain: bob's state connects bob only, alice's stays.
	q = h.begin(other.ID)
	res, err := h.finish(q)
	if err != nil || res.Keychain != other.ID {
		t.Fatalf("%+v %v", res, err)
	}
	if _, v3 := h.stored(); v3.Version != v1.Version {
		t.Fatal("bob's connect changed alice's token")
	}

	// Forged, empty and oversized states.
	for _, bad := range []string{strings.Repeat("A", 43), "", "x", strings.Repeat("s", 5000)} {
		if _, err := h.m.Callback(context.Background(), "code", bad, "", testBrowser); !errors.Is(err, ErrState) {
			t.Errorf("state of %d bytes: %v", len(bad), err)
		}
	}
	if !h.audit.has(EventCallback, "bad_state") {
		t.Fatal("bad state not audited")
	}
}

func TestCallbackDenied(t *testing.T) {
	h := newHarness(t)
	h.srv.SetDeny(true)
	q := h.begin(h.kc)
	if q.Get("error") != "access_denied" {
		t.Fatalf("callback %v", q)
	}
	if _, err := h.finish(q); !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	if h.hasToken(h.kc) || h.srv.Calls(oauthtest.GrantAuthorizationCode) != 0 {
		t.Fatal("denied callback stored or exchanged")
	}
	// The state was used up by the refusal.
	h.srv.SetDeny(false)
	if _, err := h.m.Callback(context.Background(), "code", q.Get("state"), "", testBrowser); !errors.Is(err, ErrState) {
		t.Fatalf("reuse after denial: %v", err)
	}
	// Some other provider error code, and a hostile one that is not echoed.
	for _, e := range []string{"server_error", "<script>alert(1)</script>"} {
		q := h.begin(h.kc)
		_, err := h.m.Callback(context.Background(), "", q.Get("state"), e, testBrowser)
		if !errors.Is(err, ErrDenied) || strings.Contains(err.Error(), "<script>") {
			t.Fatalf("error=%s: %v", e, err)
		}
	}
	if !h.audit.has(EventCallback, "denied") || !h.audit.has(EventCallback, "provider_error") {
		t.Fatalf("audit: %v", h.audit.all())
	}
}

func TestCallbackMissingCode(t *testing.T) {
	h := newHarness(t)
	q := h.begin(h.kc)
	if _, err := h.m.Callback(context.Background(), "", q.Get("state"), "", testBrowser); !errors.Is(err, ErrBadCallback) {
		t.Fatalf("err = %v", err)
	}
	if h.hasToken(h.kc) {
		t.Fatal("stored without a code")
	}
}

func TestCallbackBadProviderAnswers(t *testing.T) {
	for _, tc := range []struct {
		mode oauthtest.Mode
		want error
	}{
		{oauthtest.Down, ErrUnavailable},
		{oauthtest.Slow, ErrUnavailable},
		{oauthtest.HTML, ErrUnavailable},
		{oauthtest.NotJSON, ErrExchange},
		{oauthtest.NoAccessToken, ErrExchange},
		{oauthtest.InvalidGrant, ErrExchange},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			h := newHarness(t)
			q := h.begin(h.kc)
			h.srv.SetFail(tc.mode)
			if _, err := h.finish(q); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if h.hasToken(h.kc) {
				t.Fatal("a failed exchange stored a token")
			}
		})
	}
}

func TestCallbackWrongVerifierIsRefused(t *testing.T) {
	h := newHarness(t)
	u, err := h.m.Connect(h.kc, testPkg, testKey)
	if err != nil {
		t.Fatal(err)
	}
	// Swap the challenge: the provider then sees a verifier that does not match.
	pu, _ := url.Parse(u)
	q := pu.Query()
	q.Set("code_challenge", strings.Repeat("A", 43))
	pu.RawQuery = q.Encode()
	if _, err := h.finish(queryOf(t, h.srv.Authorize(t, pu.String()))); !errors.Is(err, ErrExchange) {
		t.Fatalf("err = %v", err)
	}
}

func TestNoExpiryIsNotRefreshed(t *testing.T) {
	h := newHarness(t)
	h.srv.SetExpiresIn(0)
	first := h.connect()
	if _, meta := h.stored(); !meta.ExpiresAt.IsZero() {
		t.Fatalf("expires_at %v", meta.ExpiresAt)
	}
	h.clock.Add(365 * 24 * time.Hour)
	if h.token(h.m) != first || h.srv.Calls(oauthtest.GrantRefreshToken) != 0 {
		t.Fatal("a token without expiry was refreshed")
	}
}

func TestDisconnect(t *testing.T) {
	h := newHarness(t)
	h.connect()
	tok, _ := h.stored()
	if err := h.m.Disconnect(context.Background(), h.kc, testPkg, testKey); err != nil {
		t.Fatal(err)
	}
	if h.hasToken(h.kc) {
		t.Fatal("token still stored")
	}
	if r := h.srv.Revoked(); len(r) != 1 || r[0] != tok.RefreshToken {
		t.Fatal("refresh token not revoked at the provider")
	}
	if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("after disconnect: %v", err)
	}
	// A provider that fails to revoke does not undo the local delete.
	h.connect()
	h.srv.SetFail(oauthtest.Down)
	if err := h.m.Disconnect(context.Background(), h.kc, testPkg, testKey); err != nil || h.hasToken(h.kc) {
		t.Fatalf("disconnect with provider down: %v", err)
	}
	if err := h.m.Disconnect(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second disconnect: %v", err)
	}
	if !h.audit.has(EventDisconnect, "revoked") || !h.audit.has(EventDisconnect, "revoke_failed") {
		t.Fatalf("audit: %v", h.audit.all())
	}
}

func queryOf(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
