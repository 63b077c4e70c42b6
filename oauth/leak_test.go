package oauth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

// TestNothingLeaks drives every path that returns an error or audits,
// then checks that no code, state, verifier, token or client secret shows
// up in any error or audit argument.
func TestNothingLeaks(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	var errs []error
	keep := func(_ any, err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	access := func() { keep(h.m.AccessToken(ctx, h.kc, testPkg, testKey)) }

	q := h.begin(h.kc)
	keep(h.finish(q))
	keep(h.finish(q)) // replay
	keep(h.m.Callback(ctx, q.Get("code"), q.Get("state")+"x", "", testBrowser))
	for _, mode := range []oauthtest.Mode{oauthtest.Down, oauthtest.Slow, oauthtest.HTML, oauthtest.NotJSON, oauthtest.NoAccessToken, oauthtest.InvalidGrant} {
		q := h.begin(h.kc)
		h.srv.SetFail(mode)
		keep(h.finish(q))
		h.srv.SetFail(oauthtest.OK)
	}
	h.srv.SetDeny(true)
	keep(h.finish(h.begin(h.kc)))
	h.srv.SetDeny(false)
	q = h.begin(h.kc)
	keep(h.m.Callback(ctx, "", q.Get("state"), "", testBrowser))
	h.srv.SetIDToken(map[string]any{"sub": "s-1", "email": "alice@example.test"})
	p, err := h.exchange(h.begin(h.kc))
	if err != nil {
		t.Fatal(err)
	}
	h.srv.SetIDToken(nil)
	h.states = append(h.states, p.ID)
	keep(h.m.Confirm(p.ID, strings.Repeat("0f", 32)))
	keep(h.m.Cancel(p.ID, strings.Repeat("0f", 32)))
	keep(h.m.Confirm(p.ID, testBrowser))
	keep(h.m.Confirm(p.ID, testBrowser)) // replay
	keep(h.m.Confirm(p.ID+"x", testBrowser))

	for _, mode := range []oauthtest.Mode{oauthtest.Down, oauthtest.Slow, oauthtest.HTML, oauthtest.NotJSON, oauthtest.NoAccessToken, oauthtest.InvalidGrant} {
		h.connect()
		h.toExpiry()
		h.srv.SetFail(mode)
		access()
		h.clock.Add(2 * time.Minute)
		access()
		h.srv.SetFail(oauthtest.OK)
		h.clock.Add(time.Hour)
	}
	h.connect()
	h.srv.SetFail(oauthtest.Down)
	keep(nil, h.m.Disconnect(ctx, h.kc, testPkg, testKey))
	keep(nil, h.m.Disconnect(ctx, h.kc, testPkg, testKey))
	keep(h.m.AppAccessToken(ctx, testPkg, testApp))
	h.srv.SetFail(oauthtest.OK)
	access()

	if len(errs) < 20 {
		t.Fatalf("only %d errors collected: the scenarios did not run", len(errs))
	}
	secrets := append(h.srv.Secrets(), h.states...)
	var seen []string
	for _, err := range errs {
		seen = append(seen, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	seen = append(seen, h.audit.all()...)
	for _, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("implausibly short secret %q", s)
		}
		for _, line := range seen {
			if strings.Contains(line, s) {
				t.Fatalf("a secret value appears in: %s", strings.ReplaceAll(line, s, "[THE SECRET]"))
			}
		}
	}
}
