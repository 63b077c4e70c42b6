package integration

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

// Two nodes sharing one store: oauth_multinode_test.go.

// oauthWorld is keygate with the stand-in provider "stub", a package
// @it/mail whose MAIL_TOKEN is an OAuth key, and a keychain granting it.
type oauthWorld struct {
	in      *Instance
	srv     *oauthtest.Server
	pkgCode *Upstream
	kc      string
	kcToken string
	bodies  strings.Builder // every API answer, for the leak scan
	// confirmVia is the node that takes the owner's confirmation (nil: in).
	confirmVia *Instance
}

const oauthPkg = "@it/mail"

func newOAuthWorld(t *testing.T) *oauthWorld {
	t.Helper()
	return newOAuthWorldWith(t, NewUpstream(t, echoAuthorization).Addr, Config{})
}

// newOAuthWorldWith is newOAuthWorld with its egress route to upstream
// (host:port) and the Caddyfile's template, global options and extra sites
// taken from cfg.
func newOAuthWorldWith(t *testing.T, upstream string, cfg Config) *oauthWorld {
	t.Helper()
	w := &oauthWorld{srv: oauthtest.New(), pkgCode: NewUpstream(t, nil)}
	t.Cleanup(w.srv.Close)
	w.in = Start(t, Config{
		Secret:         "MAIL_TOKEN",
		Upstream:       upstream,
		KeygateOptions: oauthStubOptions(w.srv, "http://127.0.0.1:{{.APIPort}}"),
		Template:       cfg.Template,
		GlobalOptions:  cfg.GlobalOptions,
		ExtraPorts:     cfg.ExtraPorts,
		ExtraSites:     cfg.ExtraSites,
	})

	// A manifest naming a provider the operator has not configured.
	manifest := w.manifest()
	bad := map[string]any{}
	for k, v := range manifest {
		bad[k] = v
	}
	unknown := map[string]any{}
	for k, v := range manifest["keys"].([]any)[0].(map[string]any) {
		unknown[k] = v
	}
	unknown["oauth"] = map[string]any{"provider": "nowhere", "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}
	bad["keys"] = []any{unknown}
	p := wantProblem(t, "manifest with an unknown provider", w.api(t, "PUT", "/v1/packages/"+oauthPkg, bad), http.StatusBadRequest, "invalid")
	if !strings.Contains(p.Detail, "nowhere") || p.Field != "keys[0].oauth.provider" {
		t.Errorf("unknown provider: detail %q field %q, want it named", p.Detail, p.Field)
	}

	w.install(t)
	return w
}

// oauthStubOptions are the keygate options for the stand-in provider
// "stub", with refreshes due 60s ahead of expiry.
func oauthStubOptions(srv *oauthtest.Server, publicURL string) string {
	return `public_url ` + publicURL + `
		oauth_refresh_before 60s
		oauth_provider stub {
			authorize_url ` + srv.AuthorizeURL() + `
			token_url ` + srv.TokenURL() + `
			revoke_url ` + srv.RevokeURL() + `
			extra_authorize_params prompt=consent
		}`
}

func (w *oauthWorld) manifest() map[string]any {
	oauthKey := map[string]any{"name": "MAIL_TOKEN", "required": true, "description": "Read your mail.", "hosts": []string{"127.0.0.1"},
		"oauth": map[string]any{"provider": "stub", "scopes": []string{"mail.read"}, "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}}
	return map[string]any{"name": oauthPkg, "version": "1.0.0", "sha256": sha256Hex("mail/v1"), "host": "mail", "upstream": w.pkgCode.URL,
		"keys":     []any{oauthKey},
		"app_keys": []any{map[string]any{"name": "CLIENT_ID", "required": true}, map[string]any{"name": "CLIENT_SECRET", "required": true}}}
}

// install puts the package and its client credentials through w.in and
// makes a keychain granted its OAuth key.
func (w *oauthWorld) install(t *testing.T) {
	t.Helper()
	if r := w.api(t, "PUT", "/v1/packages/"+oauthPkg, w.manifest()); r.Status != http.StatusCreated {
		t.Fatalf("put package: %s", r)
	}
	for name, v := range map[string]string{"CLIENT_ID": w.srv.ClientID, "CLIENT_SECRET": w.srv.ClientSecret} {
		if r := w.api(t, "PUT", "/v1/packages/"+oauthPkg+"/app-secrets/"+name, map[string]string{"value": v}); r.Status != http.StatusNoContent {
			t.Fatalf("app secret %s: %s", name, r)
		}
	}
	w.kc, w.kcToken = w.in.newKeychain(t, "oauth-owner")
	w.in.grant(t, w.kc, oauthPkg, "MAIL_TOKEN")
}

func (w *oauthWorld) api(t *testing.T, method, path string, body any) reply {
	t.Helper()
	r := w.in.callAPI(t, method, path, body)
	w.bodies.Write(r.Body)
	return r
}

// connect runs the owner's whole connect: the API's authorize URL, the
// provider's approval, keygate's callback and the owner's confirmation.
func (w *oauthWorld) connect(t *testing.T) string {
	t.Helper()
	r := w.api(t, "POST", "/v1/keychains/"+w.kc+"/connect/"+url.PathEscape(oauthPkg)+"/MAIL_TOKEN", nil)
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil || !strings.HasPrefix(out.AuthorizeURL, w.srv.AuthorizeURL()+"?") {
		t.Fatalf("connect: %s", r)
	}
	callback := w.srv.Authorize(t, out.AuthorizeURL)
	if !strings.HasPrefix(callback, w.in.APIURL+"/oauth/callback?") {
		t.Fatalf("the provider sent the owner elsewhere than keygate's callback")
	}
	cb := sendT(t, "GET", callback, "", nil, nil)
	w.bodies.Write(cb.Body)
	if !strings.Contains(string(cb.Body), "Is this the account") {
		t.Fatalf("callback: %s", cb)
	}
	via := w.confirmVia
	if via == nil {
		via = w.in
	}
	ok := confirmConnect(t, via, w.in.APIURL, cb)
	w.bodies.Write(ok.Body)
	if ok.Status != http.StatusOK || !strings.Contains(string(ok.Body), "is connected") {
		t.Fatalf("confirm: %s", ok)
	}
	return callback
}

func (w *oauthWorld) secret(t *testing.T) (meta map[string]any, found bool) {
	t.Helper()
	r := w.api(t, "GET", "/v1/keychains/"+w.kc+"/secrets", nil)
	var list []map[string]any
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &list) != nil {
		t.Fatalf("list secrets: %s", r)
	}
	for _, m := range list {
		if m["name"] == "MAIL_TOKEN" {
			return m, true
		}
	}
	return nil, false
}

// egress calls the stand-in API through keygate as the package's code and
// returns the Authorization the API received.
func (w *oauthWorld) egress(t *testing.T, inv string) (reply, string) {
	t.Helper()
	r := w.in.callEgress(t, inv, "GET", "/api/messages", nil)
	if r.Status != http.StatusOK {
		return r, ""
	}
	return r, seenAuthorization(t, r.Header)
}

func TestOAuthConnectRefreshAndFaults(t *testing.T) {
	w := newOAuthWorld(t)
	in, srv := w.in, w.srv
	states := []string{}

	// A callback whose state keygate never issued: 400, nothing stored.
	bad := sendT(t, "GET", in.APIURL+"/oauth/callback?code=forged&state=forged-state", "", http.Header{"Accept": {"application/json"}}, nil)
	wantProblem(t, "forged state", bad, http.StatusBadRequest, "oauth_state")
	if _, found := w.secret(t); found {
		t.Fatal("a forged callback stored a secret")
	}

	// Connect through the CLI too: it prints the authorize URL only.
	res := in.MustCLI("", "connect", w.kc, oauthPkg, "MAIL_TOKEN")
	cliURL := strings.TrimSpace(res.Stdout)
	if !strings.HasPrefix(cliURL, srv.AuthorizeURL()+"?") || strings.Contains(cliURL, "\n") {
		t.Fatalf("keygate connect printed %q", redact(res.Stdout))
	}
	if u, _ := url.Parse(cliURL); u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("prompt") != "consent" ||
		u.Query().Get("redirect_uri") != in.APIURL+"/oauth/callback" {
		t.Errorf("authorize URL lacks PKCE, the extra params or the redirect_uri: %s", redact(cliURL))
	}

	// Denied at the provider: 400 with a clear message, nothing stored.
	srv.SetDeny(true)
	denied := sendT(t, "GET", srv.Authorize(t, cliURL), "", nil, nil)
	srv.SetDeny(false)
	if denied.Status != http.StatusBadRequest || !strings.Contains(string(denied.Body), "declined") {
		t.Errorf("access_denied callback: %d %s", denied.Status, denied.Body)
	}
	if _, found := w.secret(t); found {
		t.Fatal("a denied callback stored a secret")
	}

	// Connect; a replay of the same callback is refused.
	callback := w.connect(t)
	states = append(states, mustQuery(t, callback, "state"))
	replay := sendT(t, "GET", callback, "", http.Header{"Accept": {"application/json"}}, nil)
	wantProblem(t, "replayed callback", replay, http.StatusBadRequest, "oauth_state")
	meta, found := w.secret(t)
	if !found || meta["kind"] != "oauth" || meta["expires_at"] == nil || meta["connected_at"] == nil {
		t.Fatalf("listing after connect: %v", meta)
	}
	if sc, _ := meta["scopes"].([]any); len(sc) != 1 || sc[0] != "mail.read" {
		t.Errorf("listing scopes: %v", meta["scopes"])
	}

	// Egress injects the access token; between refreshes no provider call.
	inv := in.mintInvocation(t, w.pkgCode, "mail", w.kcToken)
	var first string
	for i := 0; i < 5; i++ {
		r, seen := w.egress(t, inv)
		if r.Status != http.StatusOK || !strings.HasPrefix(seen, "Bearer at-") {
			t.Fatalf("egress %d: %s (upstream saw %q)", i, r, redact(seen))
		}
		if first == "" {
			first = seen
		} else if seen != first {
			t.Fatal("the token changed between refreshes")
		}
	}
	if n := srv.Calls(oauthtest.GrantRefreshToken); n != 0 {
		t.Fatalf("%d refresh calls for a fresh token", n)
	}

	// A token within refresh_before of expiry: 50 requests at once, one
	// refresh, all with the new token.
	srv.SetExpiresIn(30) // < oauth_refresh_before: due at once
	w.connect(t)
	srv.SetExpiresIn(3600)
	var wg sync.WaitGroup
	seen := make([]string, 50)
	status := make([]int, 50)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryHTTP(nil, "GET", in.EgressURL+"/api/messages", "", bearer(inv), nil)
			if err == nil {
				status[i], seen[i] = r.Status, seenAuthorization(t, r.Header)
			}
		}()
	}
	wg.Wait()
	if n := srv.Calls(oauthtest.GrantRefreshToken); n != 1 {
		t.Errorf("50 concurrent requests at expiry made %d refresh calls, want 1", n)
	}
	for i := range seen {
		if status[i] != http.StatusOK || seen[i] != seen[0] || seen[i] == first || !strings.HasPrefix(seen[i], "Bearer at-") {
			t.Fatalf("request %d: status %d, token the same as the others: %v", i, status[i], seen[i] == seen[0])
		}
	}

	// The provider refuses the refresh token: 428 reconnect_required.
	srv.SetExpiresIn(30)
	w.connect(t)
	srv.SetFail(oauthtest.InvalidGrant)
	r, _ := w.egress(t, inv)
	p := wantProblem(t, "invalid_grant", r, http.StatusPreconditionRequired, "reconnect_required")
	if !strings.HasPrefix(p.SetURL, in.APIURL+"/ui/keychains/"+w.kc) || p.Key != "MAIL_TOKEN" {
		t.Errorf("reconnect_required: set_url %q key %q", p.SetURL, p.Key)
	}

	// The provider down: the still-valid token, then 503 once it expired.
	srv.SetFail(oauthtest.OK)
	srv.SetExpiresIn(1)
	w.connect(t)
	srv.SetFail(oauthtest.Down)
	var last reply
	if !eventually(10*time.Second, 100*time.Millisecond, func() bool {
		last, _ = w.egress(t, inv)
		return last.Status == http.StatusServiceUnavailable
	}) {
		t.Fatalf("provider down with an expired token: %s, want 503", last)
	}
	wantProblem(t, "provider down", last, http.StatusServiceUnavailable, "oauth_unavailable")
	srv.SetFail(oauthtest.OK)

	// Deleting the secret disconnects, revoking at the provider.
	revoked := len(srv.Revoked())
	if r := w.api(t, "DELETE", "/v1/keychains/"+w.kc+"/secrets/MAIL_TOKEN", nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %s", r)
	}
	if len(srv.Revoked()) != revoked+1 {
		t.Error("deleting the token did not revoke it at the provider")
	}
	if _, found := w.secret(t); found {
		t.Error("the token is still listed after delete")
	}
	r, _ = w.egress(t, inv)
	wantProblem(t, "after disconnect", r, http.StatusPreconditionRequired, "missing_keys")

	// Nothing of the protocol's secrets anywhere keygate writes or says.
	audit := w.api(t, "GET", "/v1/audit?limit=1000", nil)
	if !strings.Contains(string(audit.Body), "oauth.refresh") || !strings.Contains(string(audit.Body), "oauth.callback") {
		t.Errorf("the audit log lacks the oauth events")
	}
	outputs := map[string]string{"logs": in.Logs(), "audit": string(audit.Body), "cli output": in.CLIOutput(), "api answers": w.bodies.String()}
	for _, s := range srv.Secrets() {
		AssertNotContains(t, "a code, verifier, token or the client secret", s, outputs)
	}
	for _, s := range states {
		AssertNotContains(t, "an oauth state", s, map[string]string{"logs": in.Logs(), "audit": string(audit.Body)})
	}
}

// echoAuthorization answers with the Authorization the stand-in API got:
// as it is (which keygate scrubs from the answer, as from any echo) and
// hex-encoded (which the test reads).
func echoAuthorization(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen-Authorization", r.Header.Get("Authorization"))
	w.Header().Set("X-Seen-Authorization-Hex", hex.EncodeToString([]byte(r.Header.Get("Authorization"))))
	w.WriteHeader(http.StatusOK)
}

// seenAuthorization is the Authorization the stand-in API got, from its
// echo; the raw echo must have been scrubbed.
func seenAuthorization(t testing.TB, h http.Header) string {
	t.Helper()
	b, _ := hex.DecodeString(h.Get("X-Seen-Authorization-Hex"))
	if raw := h.Get("X-Seen-Authorization"); raw != "" && !strings.Contains(raw, "[redacted by keygate]") {
		t.Errorf("the echoed access token reached the caller: %q", redact(raw))
	}
	return string(b)
}

func mustQuery(t *testing.T, raw, name string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Query().Get(name) == "" {
		t.Fatalf("no %s in a URL", name)
	}
	return u.Query().Get(name)
}
