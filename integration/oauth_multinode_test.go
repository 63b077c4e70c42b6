package integration

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

// TestOAuthTwoNodesOneRefresh is issue #14's missing case: two nodes on
// one PostgreSQL database, 50 requests at expiry spread over both, one
// call to the provider. The stand-in provider rotates refresh tokens and
// refuses a spent one, so a second refresh anywhere would also show as a
// 428; a second expiry round proves the rotated refresh token was stored.
func TestOAuthTwoNodesOneRefresh(t *testing.T) {
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	upstream := NewUpstream(t, echoAuthorization)
	dsn := pgDatabase(t, t.Name())
	cfg := Config{
		Template:       pgCaddyfile,
		MasterKey:      base64.StdEncoding.EncodeToString(randomBytes(t, 32)),
		AdminToken:     RandomToken(t, "kgadm_test_"),
		Secret:         "MAIL_TOKEN",
		Upstream:       upstream.Addr,
		Env:            []string{"KEYGATE_TEST_DSN=" + dsn},
		KeygateOptions: oauthStubOptions(srv, "http://127.0.0.1:{{.APIPort}}"),
	}
	n1 := Start(t, cfg)
	// Both nodes name node 1's API as the public URL (as a balancer's
	// would be): the callback lands on node 1.
	cfg.KeygateOptions = oauthStubOptions(srv, n1.APIURL)
	n2 := Start(t, cfg)
	nodes := []*Instance{n1, n2}

	// The owner's confirmation lands on the other node: the pending
	// connect is in the shared store.
	w := &oauthWorld{in: n1, srv: srv, pkgCode: NewUpstream(t, nil), confirmVia: n2}
	w.install(t)
	states := []string{mustQuery(t, w.connect(t), "state")}
	// Node 1 learns of the token node 2 stored by notification.
	var inv string
	if !eventually(5*time.Second, 20*time.Millisecond, func() bool {
		inv = n1.mintInvocationOK(w.pkgCode, "mail", w.kcToken)
		return inv != ""
	}) {
		t.Fatal("node 1 never saw the connect confirmed on node 2")
	}
	w.confirmVia = nil // the reconnects below are confirmed on node 1, as they start there

	// Connected on node 1, served with no refresh. Only node 1 serves it:
	// node 2 would cache the record, and learn of the reconnect below by
	// notification, a moment later, serving this still-valid token until
	// then.
	r, err := tryHTTP(nil, "GET", n1.EgressURL+"/api/messages", "", bearer(inv), nil)
	if err != nil || r.Status != http.StatusOK {
		t.Fatalf("egress before expiry: %v %s", err, r)
	}
	first := seenAuthorization(t, r.Header)
	if !strings.HasPrefix(first, "Bearer at-") {
		t.Fatal("the upstream did not get the access token")
	}
	if n := srv.Calls(oauthtest.GrantRefreshToken); n != 0 {
		t.Fatalf("%d refresh calls for a fresh token", n)
	}

	// Round 1: a token due at once (expires_in 30 < oauth_refresh_before
	// 60s); the provider answers slowly, so one node's refresh is still
	// running while the other node's requests arrive.
	srv.SetExpiresIn(30)
	states = append(states, mustQuery(t, w.connect(t), "state"))
	srv.SetExpiresIn(3600)
	srv.SetSlowFor(300 * time.Millisecond)
	srv.SetFail(oauthtest.Slow)
	round1 := burstOneRefresh(t, srv, nodes, inv, first)
	srv.SetFail(oauthtest.OK)

	// Round 2: both nodes now refresh an hour ahead, so the 3600s token of
	// round 1 is due; the refresh token it must use is round 1's rotated
	// one, which only works if it was stored (once, and last).
	srv.SetExpiresIn(7200)
	for _, in := range nodes {
		c := in.Config
		c.KeygateOptions = strings.Replace(c.KeygateOptions, "oauth_refresh_before 60s", "oauth_refresh_before 3700s", 1)
		in.Reload(c)
	}
	burstOneRefresh(t, srv, nodes, inv, round1)

	// Nothing of the protocol's secrets in either node's log or any answer.
	audit := w.api(t, "GET", "/v1/audit?limit=1000", nil)
	outputs := map[string]string{"node 1 log": n1.Logs(), "node 2 log": n2.Logs(), "audit": string(audit.Body),
		"cli output": n1.CLIOutput() + n2.CLIOutput(), "api answers": w.bodies.String()}
	for _, s := range srv.Secrets() {
		AssertNotContains(t, "a code, verifier, token or the client secret", s, outputs)
	}
	// A state is in the connect answer's authorize URL by design.
	for _, s := range states {
		AssertNotContains(t, "an oauth state", s, map[string]string{"node 1 log": n1.Logs(), "node 2 log": n2.Logs(), "audit": string(audit.Body)})
	}
}

// burstOneRefresh fires 50 egress requests at once, alternating between
// nodes, and fails t unless each got 200 with one same new token and the
// provider saw exactly one refresh. It returns the new Authorization.
func burstOneRefresh(t *testing.T, srv *oauthtest.Server, nodes []*Instance, inv, old string) string {
	t.Helper()
	const n = 50
	before := srv.Calls(oauthtest.GrantRefreshToken)
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		seen   = make([]string, n)
		status = make([]int, n)
		errs   = make([]error, n)
	)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := tryHTTP(nil, "GET", nodes[i%len(nodes)].EgressURL+"/api/messages", "", bearer(inv), nil)
			errs[i] = err
			if err == nil {
				status[i], seen[i] = r.Status, seenAuthorization(t, r.Header)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := srv.Calls(oauthtest.GrantRefreshToken) - before; got != 1 {
		t.Errorf("%d concurrent requests at expiry on %d nodes made %d refresh calls, want 1", n, len(nodes), got)
	}
	for i := range seen {
		where := fmt.Sprintf("request %d (node %d)", i, i%len(nodes)+1)
		switch {
		case errs[i] != nil:
			t.Fatalf("%s: %v", where, errs[i])
		case status[i] != http.StatusOK:
			t.Fatalf("%s: status %d, want 200", where, status[i])
		case !strings.HasPrefix(seen[i], "Bearer at-") || seen[i] == old:
			t.Fatalf("%s: the upstream did not get a new access token", where)
		case seen[i] != seen[0]:
			t.Fatalf("%s: another token than request 0's", where)
		}
	}
	return seen[0]
}
