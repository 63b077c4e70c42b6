package oauth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
	"github.com/keygate/keygate/store"
)

// toExpiry moves the clock to 30s before the token expires: inside
// refresh_before (60s), still valid.
func (h *harness) toExpiry() {
	_, meta := h.stored()
	h.clock.Add(meta.ExpiresAt.Sub(h.clock.Now()) - 30*time.Second)
}

func TestRefreshRotates(t *testing.T) {
	h := newHarness(t)
	first := h.connect()
	old, oldMeta := h.stored()
	h.toExpiry()
	got := h.token(h.m)
	now, meta := h.stored()
	if got == first || got != now.AccessToken || now.RefreshToken == old.RefreshToken {
		t.Fatal("refresh did not store a new access token and rotated refresh token")
	}
	if !meta.ConnectedAt.Equal(oldMeta.ConnectedAt) || !meta.ExpiresAt.Equal(h.clock.Now().Add(time.Hour)) ||
		meta.AllowedHosts[0] != "gmail.googleapis.com" || meta.Version != oldMeta.Version+1 {
		t.Fatalf("meta after refresh %+v", meta)
	}
	if h.srv.Calls(oauthtest.GrantRefreshToken) != 1 || !h.audit.has(EventRefresh, "ok") {
		t.Fatal("refresh not called once or not audited")
	}
	// The fresh token is served without another call.
	if h.token(h.m) != got || h.srv.Calls(oauthtest.GrantRefreshToken) != 1 {
		t.Fatal("refreshed again")
	}
}

func TestRefreshCoalescedInProcess(t *testing.T) {
	h := newHarness(t)
	h.connect()
	h.toExpiry()
	tokens := concurrently(t, 50, func(int) *Manager { return h.m }, h)
	if n := h.srv.Calls(oauthtest.GrantRefreshToken); n != 1 {
		t.Fatalf("%d refresh calls, want 1", n)
	}
	allSame(t, tokens, h)
}

func TestRefreshLeasedAcrossNodes(t *testing.T) {
	h := newHarness(t)
	h.connect()
	nodes := []*Manager{h.m, h.manager()}
	h.toExpiry()
	tokens := concurrently(t, 40, func(i int) *Manager { return nodes[i%2] }, h)
	if n := h.srv.Calls(oauthtest.GrantRefreshToken); n != 1 {
		t.Fatalf("%d refresh calls, want 1", n)
	}
	allSame(t, tokens, h)
}

func concurrently(t *testing.T, n int, node func(int) *Manager, h *harness) []string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		tokens = make([]string, n)
		errs   = make([]error, n)
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tokens[i], errs[i] = node(i).AccessToken(context.Background(), h.kc, testPkg, testKey)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

func allSame(t *testing.T, tokens []string, h *harness) {
	t.Helper()
	now, _ := h.stored()
	for i, tok := range tokens {
		if tok != now.AccessToken {
			t.Fatalf("caller %d got another token than the refreshed one", i)
		}
	}
}

func TestRefreshInvalidGrant(t *testing.T) {
	h := newHarness(t)
	h.connect()
	h.toExpiry()
	h.srv.SetFail(oauthtest.InvalidGrant)
	for range 3 {
		if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, ErrReconnect) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := h.srv.Calls(oauthtest.GrantRefreshToken); n != 1 {
		t.Fatalf("%d refresh calls: a refused refresh token was tried again", n)
	}
	if !h.audit.has(EventRefresh, "reconnect_required") {
		t.Fatal("not audited")
	}
	// Reconnecting clears it.
	h.srv.SetFail(oauthtest.OK)
	h.connect()
}

func TestRefreshProviderDown(t *testing.T) {
	for _, mode := range []oauthtest.Mode{oauthtest.Down, oauthtest.Slow, oauthtest.HTML, oauthtest.NotJSON, oauthtest.NoAccessToken} {
		t.Run(string(mode), func(t *testing.T) {
			h := newHarness(t)
			first := h.connect()
			h.toExpiry()
			h.srv.SetFail(mode)
			// Still valid: the old token is used.
			if got := h.token(h.m); got != first {
				t.Fatal("did not fall back to the still-valid token")
			}
			// Expired (and past the first 1s backoff): one more call, then
			// 503s without calling.
			h.clock.Add(time.Minute)
			for range 5 {
				if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("err = %v", err)
				}
			}
			if n := h.srv.Calls(oauthtest.GrantRefreshToken); n != 2 {
				t.Fatalf("%d calls, want 2", n)
			}
		})
	}
}

func TestRefreshBackoffGrows(t *testing.T) {
	h := newHarness(t)
	h.connect()
	_, meta := h.stored()
	h.clock.Add(meta.ExpiresAt.Sub(h.clock.Now()) + time.Second) // expired
	h.srv.SetFail(oauthtest.Down)
	try := func() error {
		_, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey)
		return err
	}
	calls := func() int { return h.srv.Calls(oauthtest.GrantRefreshToken) }
	want := 0
	for _, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		if err := try(); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
		want++
		if calls() != want {
			t.Fatalf("calls = %d, want %d", calls(), want)
		}
		h.clock.Add(wait - time.Millisecond)
		try()
		if calls() != want {
			t.Fatalf("called again before %s", wait)
		}
		h.clock.Add(time.Millisecond)
	}
	h.srv.SetFail(oauthtest.OK)
	if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if h.health(h.m).failures != 0 {
		t.Fatal("backoff not reset by a success")
	}
}

func (h *harness) health(m *Manager) keyHealth {
	return m.health(userRef(h.kc, testPkg, testKey))
}

func TestAccessTokenNotConnected(t *testing.T) {
	h := newHarness(t)
	if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("err = %v", err)
	}
	if _, err := h.st.PutSecret(h.kc, testKey, []byte("pasted"), store.SecretOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.AccessToken(context.Background(), h.kc, testPkg, testKey); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("hand-set value: %v", err)
	}
}

func TestAppAccessToken(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	first, err := h.m.AppAccessToken(ctx, testPkg, testApp)
	if err != nil {
		t.Fatal(err)
	}
	again, err := h.m.AppAccessToken(ctx, testPkg, testApp)
	if err != nil || again != first || h.srv.Calls(oauthtest.GrantClientCredentials) != 1 {
		t.Fatalf("not reused: %v", err)
	}
	_, meta, err := h.st.GetAppOAuthToken(testPkg, testApp)
	if err != nil || meta.AllowedHosts[0] != "api.example.com" || meta.Scopes[0] != "app" {
		t.Fatalf("%+v %v", meta, err)
	}
	h.clock.Add(time.Hour - 30*time.Second)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if tok, err := h.m.AppAccessToken(ctx, testPkg, testApp); err != nil || tok == first {
				t.Errorf("renewal: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := h.srv.Calls(oauthtest.GrantClientCredentials); n != 2 {
		t.Fatalf("%d client_credentials calls, want 2", n)
	}
	h.clock.Add(2 * time.Hour)
	h.srv.SetFail(oauthtest.Down)
	if _, err := h.m.AppAccessToken(ctx, testPkg, testApp); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("down: %v", err)
	}
	if _, err := h.m.AppAccessToken(ctx, testPkg, testKey); !errors.Is(err, ErrConfig) {
		t.Fatalf("user key as app key: %v", err)
	}
}
