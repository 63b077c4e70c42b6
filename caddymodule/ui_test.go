package caddymodule_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keygate/keygate/caddymodule/internal/clock"
)

// ownerSetup is alice's keychain with package @acme/tools (host "tools")
// asking for API_KEY, nothing set or approved yet.
func ownerSetup(g *gateway) (kc, token string) {
	g.t.Helper()
	kc, token = g.newKeychain("alice", "Alice's keys")
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/tools", g.manifest("@acme/tools", "tools", map[string]any{
		"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"},
		"description": "The **API key**: `Dashboard -> Keys`, see [the docs](https://example.com/keys?a=1&b=2).",
	}))
	return kc, token
}

func TestOwnerLoginLink(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)

	// Only the admin makes links, for keychains that exist.
	if st, _ := g.admin("POST", "/v1/keychains/kc_aaaaaaaaaaaaaaaaaaaaaaaaaa/login-link", nil); st != 404 {
		t.Fatalf("link for an unknown keychain: status %d, want 404", st)
	}
	st, _, _ := g.call("POST", g.api+"/v1/keychains/"+kc+"/login-link", "", nil, nil)
	if st != 401 {
		t.Fatalf("link without the admin token: status %d, want 401", st)
	}

	link := g.loginLink(kc)
	u, err := url.Parse(link)
	if err != nil || u.Path != "/ui/login" || len(u.Query().Get("t")) < 43 || !strings.HasPrefix(link, g.api) {
		t.Fatalf("link %q: want %s/ui/login?t=<32 random bytes>", link, g.api)
	}

	c := g.newOwnerClient()
	// A HEAD (a link preview) does not spend the link.
	if st, _, _ := c.do("HEAD", link, nil, nil); st != 200 {
		t.Fatalf("HEAD of the link: status %d", st)
	}
	// The link's GET only asks: it names whom it signs in and sets no
	// cookie.
	st, hdr, body := c.get(link)
	if st != 200 || !strings.Contains(body, "Sign in as alice") || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("opening the link: status %d, Set-Cookie %q: %s", st, hdr.Get("Set-Cookie"), body)
	}
	st, hdr, body = c.openLink(link)
	if st != 200 || !strings.Contains(body, "Signed in") || !strings.Contains(body, "alice") {
		t.Fatalf("first use: status %d: %s", st, body)
	}
	assertPageHeaders(t, hdr)
	ck := sessionCookie(t, hdr)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui" || ck.Secure {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, not Secure over plain HTTP", ck)
	}
	if len(ck.Value) < 43 {
		t.Fatalf("session id has %d characters, want 32 random bytes", len(ck.Value))
	}
	if !strings.Contains(body, `url=/ui/keychains/`+kc) {
		t.Fatal("the signed-in page does not move on to the keychain's page")
	}
	st, _, body = c.get("/ui/keychains/" + kc)
	if st != 200 || !strings.Contains(body, "Alice&#39;s keys") || !strings.Contains(body, "Signed in as <strong>alice</strong>") {
		t.Fatalf("keychain page: status %d: %s", st, body)
	}

	// Single use: the same link again, in a fresh browser, is refused.
	other := g.newOwnerClient()
	st, hdr, body = other.get(link)
	if st != 401 || hdr.Get("Set-Cookie") != "" || strings.Contains(body, "Signed in as") {
		t.Fatalf("second use: status %d, Set-Cookie %q", st, hdr.Get("Set-Cookie"))
	}
	if st, _, _ := other.get("/ui/"); st != 401 {
		t.Fatalf("not signed in: /ui/ status %d, want 401", st)
	}

	// The sign-in is audited as the owner.
	waitFor(t, "owner.login in the audit log", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+kc, nil)
		return strings.Contains(string(b), `"actor":"owner:alice","action":"owner.login"`)
	})
	// The link's GET leaves no access log line (its token is still good
	// then); the POST carries it in the body: it is logged nowhere.
	tok := u.Query().Get("t")
	if n := strings.Count(g.logs(), tok); n > 0 {
		t.Fatalf("the link token is logged %d times", n)
	}
}

func TestOwnerLoginLinkExpires(t *testing.T) {
	g := startUIGateway(t, "owner_link_ttl 10m")
	kc, _ := ownerSetup(g)
	link := g.loginLink(kc)

	now := time.Now()
	defer clock.Set(func() time.Time { return now.Add(11 * time.Minute) })()
	c := g.newOwnerClient()
	if st, hdr, _ := c.get(link); st != 401 || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("expired link: status %d, Set-Cookie %q; want 401 and no cookie", st, hdr.Get("Set-Cookie"))
	}
}

func TestOwnerSessionExpires(t *testing.T) {
	g := startUIGateway(t, "owner_session_ttl 1h")
	kc, _ := ownerSetup(g)
	c := g.newOwnerClient()
	c.signIn(kc)
	if st, _, _ := c.get("/ui/"); st != 200 {
		t.Fatalf("fresh session: status %d", st)
	}
	now := time.Now()
	defer clock.Set(func() time.Time { return now.Add(61 * time.Minute) })()
	if st, _, _ := c.get("/ui/"); st != 401 {
		t.Fatalf("expired session: status %d, want 401", st)
	}
}

func TestOwnerPageHeaders(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	c := g.newOwnerClient()
	c.signIn(kc)
	for _, path := range []string{"/ui/", "/ui/keychains/" + kc, "/ui/login", "/ui/nope", "/ui/static/style.css", "/ui/keychains/kc_aaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		_, hdr, _ := c.get(path)
		t.Run(path, func(t *testing.T) { assertPageHeaders(t, hdr) })
	}
	// /ui without the slash lands on the page.
	if st, hdr, _ := c.get("/ui"); st != 301 || hdr.Get("Location") != "/ui/" {
		t.Fatalf("/ui: status %d Location %q", st, hdr.Get("Location"))
	}
}

func assertPageHeaders(t *testing.T, hdr http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range want {
		if got := hdr.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func sessionCookie(t *testing.T, hdr http.Header) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == "keygate_owner" {
			return c
		}
	}
	t.Fatalf("no keygate_owner cookie in %q", hdr.Values("Set-Cookie"))
	return nil
}

func TestOwnerCSRF(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	c := g.newOwnerClient()
	c.signIn(kc)
	c.get("/ui/keychains/" + kc)
	good := c.csrf
	if good == "" {
		t.Fatal("the page carries no CSRF token")
	}
	set := func() url.Values {
		return url.Values{"name": {"API_KEY"}, "value": {"sk_csrf_" + randHex(t, 8)}, "allowed_hosts": {"127.0.0.1"}}
	}
	path := "/ui/keychains/" + kc + "/secret"
	tests := []struct {
		name string
		csrf string
		hdr  map[string]string
	}{
		{name: "no token", csrf: "", hdr: map[string]string{"Origin": g.api, "Sec-Fetch-Site": "same-origin"}},
		{name: "wrong token", csrf: good[:len(good)-2] + "xx", hdr: map[string]string{"Origin": g.api, "Sec-Fetch-Site": "same-origin"}},
		{name: "cross-site fetch", csrf: good, hdr: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{name: "same-site, other origin", csrf: good, hdr: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{name: "foreign Origin", csrf: good, hdr: map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := set()
			f.Set("csrf", tc.csrf)
			if tc.csrf == "" {
				f.Del("csrf")
			}
			st, hdr, body := c.do("POST", path, f, tc.hdr)
			if st != 403 {
				t.Fatalf("status %d, want 403: %s", st, body)
			}
			assertPageHeaders(t, hdr)
			if names := g.secretNames(kc); len(names) != 0 {
				t.Fatalf("a refused form stored %v", names)
			}
		})
	}
	// Another owner's token does not work for this session either.
	bobKC, _ := g.newKeychain("bob", "")
	bob := g.newOwnerClient()
	bob.signIn(bobKC)
	bob.get("/ui/")
	f := set()
	f.Set("csrf", bob.csrf)
	if st, _, _ := c.post(path, f); st != 403 {
		t.Fatalf("bob's CSRF token in alice's session: status %d, want 403", st)
	}
	// The page's own post works.
	if st, hdr, body := c.post(path, set()); st != 303 || !strings.HasPrefix(hdr.Get("Location"), "/ui/keychains/"+kc+"?done=saved") {
		t.Fatalf("same-origin post: status %d Location %q: %s", st, hdr.Get("Location"), body)
	}
	if names := g.secretNames(kc); !slices.Equal(names, []string{"API_KEY"}) {
		t.Fatalf("secrets after the post: %v", names)
	}
	// As with the API, a field the form does not send keeps its value.
	if st, _, _ := c.post(path, url.Values{"name": {"API_KEY"}, "value": {"sk_new_" + randHex(t, 8)}}); st != 303 {
		t.Fatalf("post without allowed_hosts: status %d", st)
	}
	if b := g.mustAdmin(200, "GET", "/v1/keychains/"+kc+"/secrets", nil); !strings.Contains(string(b), `"allowed_hosts":["127.0.0.1"]`) {
		t.Fatalf("allowed_hosts lost: %s", b)
	}
}

func TestOwnerSeesOnlyOwnKeychains(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	kc2, _ := g.newKeychain("alice", "staging keys")
	bobKC, _ := g.newKeychain("bob", "Bob's keys")
	g.mustAdmin(204, "PUT", "/v1/keychains/"+bobKC+"/secrets/BOB_ONLY", map[string]any{"value": "v_" + randHex(t, 8)})

	c := g.newOwnerClient()
	c.signIn(kc)
	st, _, index := c.get("/ui/")
	if st != 200 || !strings.Contains(index, kc) || !strings.Contains(index, kc2) {
		t.Fatalf("index: status %d; want both of alice's keychains", st)
	}
	if strings.Contains(index, bobKC) || strings.Contains(index, "BOB_ONLY") || strings.Contains(index, "Bob&#39;s") {
		t.Fatal("alice's index shows bob's keychain")
	}

	_, _, missing := c.get("/ui/keychains/kc_aaaaaaaaaaaaaaaaaaaaaaaaaa")
	st, _, foreign := c.get("/ui/keychains/" + bobKC)
	if st != 404 || strings.Contains(foreign, "BOB_ONLY") {
		t.Fatalf("bob's keychain: status %d, want 404", st)
	}
	if missing != foreign {
		t.Fatal("another owner's keychain answers differently from one that does not exist")
	}
	posts := []struct {
		path string
		form url.Values
	}{
		{"/secret", url.Values{"name": {"STOLEN"}, "value": {"x"}}},
		{"/secret/delete", url.Values{"name": {"BOB_ONLY"}}},
		{"/grant", url.Values{"package": {"@acme/tools"}, "key": {"API_KEY"}, "op": {"approve"}, "sha256": {testSHA}}},
	}
	for _, p := range posts {
		if st, _, _ := c.post("/ui/keychains/"+bobKC+p.path, p.form); st != 404 {
			t.Errorf("POST %s on bob's keychain: status %d, want 404", p.path, st)
		}
	}
	if names := g.secretNames(bobKC); !slices.Equal(names, []string{"BOB_ONLY"}) {
		t.Fatalf("bob's secrets changed: %v", names)
	}
	if _, ok := g.grantKeys(bobKC, "@acme/tools"); ok {
		t.Fatal("alice approved a package on bob's keychain")
	}
}

func TestOwnerGrantsAndAgentCalls(t *testing.T) {
	g := startUIGateway(t, "")
	kc, token := ownerSetup(g)
	c := g.newOwnerClient()
	c.signIn(kc)

	// Refused before anything is set: 403 no_grant, with the page's link.
	st, hdr, body := g.agent("tools", token, nil)
	if st != 403 {
		t.Fatalf("agent before approval: status %d", st)
	}
	setURL, _ := problem(t, hdr, body)["set_url"].(string)
	if want := g.api + "/ui/keychains/" + kc + "?package=%40acme%2Ftools"; setURL != want {
		t.Fatalf("set_url %q, want %q", setURL, want)
	}
	// The page honours ?package=: that package is called out and first.
	c.g.mustAdmin(201, "PUT", "/v1/packages/@aaa/first", g.manifest("@aaa/first", "first"))
	st, _, page := c.get(strings.TrimPrefix(setURL, g.api))
	if st != 200 || !strings.Contains(page, `class="callout"><strong>@acme/tools</strong> asks for your approval.`) {
		t.Fatalf("?package= page: status %d: %s", st, page)
	}
	if i, j := strings.Index(page, `<h3>@acme/tools`), strings.Index(page, `<h3>@aaa/first`); i < 0 || j < 0 || i > j {
		t.Fatal("the package of ?package= is not listed first")
	}
	if !strings.Contains(page, `badge warn">Not set</span>`) {
		t.Fatal("the requested key without a value does not show Not set")
	}

	secret := "sk_live_" + randHex(t, 12)
	st, hdr, _ = c.post("/ui/keychains/"+kc+"/secret", url.Values{
		"name": {"API_KEY"}, "value": {secret}, "allowed_hosts": {"127.0.0.1"}, "rotation_hint_days": {"90"}, "focus": {"@acme/tools"},
	})
	if st != 303 || !strings.Contains(hdr.Get("Location"), "package=%40acme%2Ftools") {
		t.Fatalf("set secret: status %d Location %q", st, hdr.Get("Location"))
	}
	// Not approved yet: still refused.
	if st, _, _ := g.agent("tools", token, nil); st != 403 {
		t.Fatalf("agent with the value set but no approval: status %d", st)
	}
	approve := url.Values{"package": {"@acme/tools"}, "key": {"API_KEY"}, "op": {"approve"}, "sha256": {testSHA}, "approval": {g.packageApproval("@acme/tools")}}
	if st, _, body := c.post("/ui/keychains/"+kc+"/grant", approve); st != 303 {
		t.Fatalf("approve: status %d: %s", st, body)
	}
	if keys, _ := g.grantKeys(kc, "@acme/tools"); !slices.Equal(keys, []string{"API_KEY"}) {
		t.Fatalf("grant keys %v", keys)
	}
	if st, _, body := g.agent("tools", token, nil); st != 200 {
		t.Fatalf("agent after approval: status %d: %s", st, body)
	}
	_, _, page = c.get("/ui/keychains/" + kc)
	if !strings.Contains(page, "Approved, ready") || !strings.Contains(page, `value="revoke"`) {
		t.Fatal("the page does not show the approval")
	}

	// Revoke the key: the next call fails at once.
	revoke := url.Values{"package": {"@acme/tools"}, "key": {"API_KEY"}, "op": {"revoke"}}
	if st, _, _ := c.post("/ui/keychains/"+kc+"/grant", revoke); st != 303 {
		t.Fatalf("revoke: status %d", st)
	}
	if st, _, _ := g.agent("tools", token, nil); st != 428 {
		t.Fatalf("agent after revoking the key: status %d, want 428", st)
	}

	// Approving code the page did not show is refused.
	stale := url.Values{}
	for k, v := range approve {
		stale[k] = v
	}
	stale.Set("sha256", strings.Repeat("0", 64))
	if st, _, body := c.post("/ui/keychains/"+kc+"/grant", stale); st != 409 || !strings.Contains(body, "changed while the page was open") {
		t.Fatalf("approve with an old sha256: status %d", st)
	}
	stale.Set("sha256", testSHA)
	stale.Set("approval", strings.Repeat("0", 64))
	if st, _, body := c.post("/ui/keychains/"+kc+"/grant", stale); st != 409 || !strings.Contains(body, "changed while the page was open") {
		t.Fatalf("approve with an old manifest's approval digest: status %d", st)
	}
	c.post("/ui/keychains/"+kc+"/grant", approve)

	// The package's code changes: the grant goes stale, the page says so
	// with both hashes, toggles are refused, re-approval works.
	newSHA := strings.Repeat("ab", 32)
	m := g.manifest("@acme/tools", "tools", map[string]any{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}})
	m["sha256"] = newSHA
	g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", m)
	if st, _, _ := g.agent("tools", token, nil); st != 403 {
		t.Fatalf("agent with a stale grant: status %d", st)
	}
	_, _, page = c.get("/ui/keychains/" + kc)
	if !strings.Contains(page, "Code changed: approval paused") || !strings.Contains(page, `title="`+testSHA+`"`) || !strings.Contains(page, `title="`+newSHA+`"`) {
		t.Fatal("the page does not show the stale grant with both sha256")
	}
	approve.Set("sha256", newSHA)
	approve.Set("approval", g.packageApproval("@acme/tools"))
	if st, _, body := c.post("/ui/keychains/"+kc+"/grant", approve); st != 409 || !strings.Contains(body, "Re-approve") {
		t.Fatalf("toggle on a stale grant: status %d", st)
	}
	if st, _, _ := c.post("/ui/keychains/"+kc+"/grant", url.Values{"package": {"@acme/tools"}, "op": {"reapprove"}, "sha256": {newSHA}, "approval": {g.packageApproval("@acme/tools")}}); st != 303 {
		t.Fatalf("re-approve: status %d", st)
	}
	if st, _, _ := g.agent("tools", token, nil); st != 200 {
		t.Fatalf("agent after re-approval: status %d", st)
	}

	// Revoke the package; then delete the secret.
	if st, _, _ := c.post("/ui/keychains/"+kc+"/grant", url.Values{"package": {"@acme/tools"}, "op": {"revoke_all"}}); st != 303 {
		t.Fatalf("revoke all: status %d", st)
	}
	if st, _, _ := g.agent("tools", token, nil); st != 403 {
		t.Fatalf("agent after revoking the package: status %d", st)
	}
	if st, _, _ := c.post("/ui/keychains/"+kc+"/secret/delete", url.Values{"name": {"API_KEY"}}); st != 303 {
		t.Fatalf("delete: status %d", st)
	}
	if names := g.secretNames(kc); len(names) != 0 {
		t.Fatalf("secrets after delete: %v", names)
	}

	// Every change is audited as the owner, and the page shows the trail.
	waitFor(t, "owner events", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+kc, nil)
		s := string(b)
		return strings.Contains(s, `"actor":"owner:alice","action":"secret.delete"`) &&
			strings.Contains(s, `"actor":"owner:alice","action":"grant.delete"`) &&
			strings.Contains(s, `"actor":"owner:alice","action":"secret.put"`) &&
			strings.Contains(s, `"actor":"owner:alice","action":"grant.put"`)
	})
	_, _, page = c.get("/ui/keychains/" + kc)
	if !strings.Contains(page, "<td>owner:alice</td><td>secret.delete</td>") {
		t.Fatal("the page's audit trail lacks the owner's change")
	}
	if strings.Contains(g.bodies.String(), secret) || strings.Contains(g.logs(), secret) {
		t.Fatal("the secret value appears in a page or a log")
	}
}

func TestOwnerPageNeverShowsValues(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	viaAPI := "sk_api_" + randHex(t, 12)
	g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/OTHER", map[string]any{"value": viaAPI, "allowed_hosts": []string{"api.example.com"}})
	c := g.newOwnerClient()
	c.signIn(kc)
	g.bodies.Reset()

	viaPage := "sk_page_" + randHex(t, 12)
	c.get("/ui/")
	c.post("/ui/keychains/"+kc+"/secret", url.Values{"name": {"API_KEY"}, "value": {viaPage}, "allowed_hosts": {"127.0.0.1"}})
	// Refused inputs: the friendly errors must not repeat the value, even
	// when it was typed into the wrong field.
	bad := []url.Values{
		{"name": {"API_KEY"}, "value": {viaPage + "\r\nX: y"}, "allowed_hosts": {"127.0.0.1"}},
		{"name": {"API_KEY"}, "value": {viaPage}, "allowed_hosts": {viaPage + "/x"}},
		{"name": {"API_KEY"}, "value": {viaPage}, "rotation_hint_days": {viaPage}},
		{"name": {"bad name"}, "value": {viaPage}},
		{"name": {"API_KEY"}, "value": {strings.Repeat("v", 9000)}},
	}
	for i, f := range bad {
		st, _, body := c.post("/ui/keychains/"+kc+"/secret", f)
		if st != 400 || !strings.Contains(body, `class="error"`) {
			t.Errorf("bad input %d: status %d, want 400 with a message", i, st)
		}
	}
	c.get("/ui/")
	c.get("/ui/keychains/" + kc)
	c.get("/ui/keychains/" + kc + "?package=@acme/tools")

	waitFor(t, "audit", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+kc, nil)
		return strings.Contains(string(b), `"actor":"owner:alice","action":"secret.put"`)
	})
	pages := g.bodies.String()
	if !strings.Contains(pages, "OTHER") || !strings.Contains(pages, `badge ok">Set</span>`) {
		t.Fatal("the pages do not show the secrets; the scan would prove nothing")
	}
	for what, v := range map[string]string{"value set through the API": viaAPI, "value set on the page": viaPage} {
		if strings.Contains(pages, v) {
			t.Errorf("a page holds the %s", what)
		}
		if strings.Contains(g.logs(), v) {
			t.Errorf("the log holds the %s", what)
		}
	}
	if strings.Count(pages, `type="password"`) == 0 || strings.Count(pages, `type="password" name="value" autocomplete="off"`) != strings.Count(pages, `type="password"`) {
		t.Error("every value input must be a password input with autocomplete=off")
	}
}

func TestOwnerDescriptionIsEscaped(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := g.newKeychain("alice", "")
	evil := "<script>alert(1)</script> <img src=x onerror=alert(2)> \"><b>x</b> " +
		"[click](javascript:alert(3)) [data](data:text/html,<script>alert(4)</script>) " +
		"[quote](https://ok.example/\"onmouseover=alert(5)) **bold <i>it</i>** `<code>` " +
		"[fine](https://example.com/a?b=1&c=2)"
	g.mustAdmin(201, "PUT", "/v1/packages/@evil/pkg", g.manifest("@evil/pkg", "evil", map[string]any{
		"name": "EVIL_KEY", "required": false, "description": evil,
	}))
	c := g.newOwnerClient()
	c.signIn(kc)
	_, _, page := c.get("/ui/keychains/" + kc)
	for _, bad := range []string{"<script", "<img", `href="javascript:`, `href="data:`, "<b>x", "<i>it", `"onmouseover`, "onerror=alert(2)>"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	for _, good := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"<strong>bold &lt;i&gt;it&lt;/i&gt;</strong>",
		"<code>&lt;code&gt;</code>",
		`<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">fine</a>`,
	} {
		if !strings.Contains(page, good) {
			t.Errorf("the page lacks %q", good)
		}
	}
}

func TestOwnerLogout(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	c := g.newOwnerClient()
	c.signIn(kc)
	c.get("/ui/")
	st, hdr, _ := c.post("/ui/logout", url.Values{})
	if st != 200 {
		t.Fatalf("logout: status %d", st)
	}
	if ck := sessionCookie(t, hdr); ck.MaxAge >= 0 || ck.Value != "" {
		t.Fatalf("logout cookie %+v: want it cleared", ck)
	}
	// The old session id is dead even if a browser kept sending it.
	if st, _, _ := c.get("/ui/"); st != 401 {
		t.Fatalf("after logout: status %d", st)
	}
}

// platformKey writes an Ed25519 public key as PEM and returns the private
// key that signs the platform's tokens.
func platformKey(t *testing.T) (ed25519.PrivateKey, string, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "platform.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, path, pemBytes
}

func platformToken(t *testing.T, key any, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOwnerIssuer(t *testing.T) {
	priv, path, pemBytes := platformKey(t)
	g := startUIGateway(t, `owner_issuer https://platform.example {
			audience keygate
			public_key_file `+path+`
		}`)
	kc, _ := ownerSetup(g)
	bobKC, _ := g.newKeychain("bob", "")
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "https://platform.example", "aud": "keygate", "sub": "alice",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := platformToken(t, priv, jwt.SigningMethodEdDSA, claims(nil))

	c := g.newOwnerClient()
	st, _, page := c.do("GET", "/ui/", nil, map[string]string{"Authorization": "Bearer " + good})
	if st != 200 || !strings.Contains(page, kc) || strings.Contains(page, bobKC) {
		t.Fatalf("bearer on /ui/: status %d", st)
	}
	if st, _, _ := c.do("GET", "/ui/keychains/"+bobKC, nil, map[string]string{"Authorization": "Bearer " + good}); st != 404 {
		t.Fatalf("bearer for alice on bob's keychain: status %d, want 404", st)
	}
	// A bearer-signed form still needs the page's CSRF token.
	f := url.Values{"name": {"API_KEY"}, "value": {"v_" + randHex(t, 6)}, "allowed_hosts": {"127.0.0.1"}}
	if st, _, _ := c.do("POST", "/ui/keychains/"+kc+"/secret", f, map[string]string{"Authorization": "Bearer " + good}); st != 403 {
		t.Fatalf("bearer form without CSRF: status %d, want 403", st)
	}
	f.Set("csrf", c.csrf)
	if st, _, _ := c.do("POST", "/ui/keychains/"+kc+"/secret", f, map[string]string{"Authorization": "Bearer " + good}); st != 303 {
		t.Fatalf("bearer form with CSRF: status %d, want 303", st)
	}

	refused := map[string]string{
		"wrong audience": platformToken(t, priv, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["aud"] = "other" })),
		"wrong issuer":   platformToken(t, priv, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })),
		"expired":        platformToken(t, priv, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no exp":         platformToken(t, priv, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"no sub":         platformToken(t, priv, jwt.SigningMethodEdDSA, claims(func(c jwt.MapClaims) { delete(c, "sub") })),
		// The classic confusion: HS256 keyed with the public key's bytes.
		"HS256 with the public key": platformToken(t, pemBytes, jwt.SigningMethodHS256, claims(nil)),
		"alg none":                  unsignedToken(claims(nil)),
		"other key":                 platformToken(t, otherEd25519(t), jwt.SigningMethodEdDSA, claims(nil)),
	}
	for name, tok := range refused {
		t.Run(name, func(t *testing.T) {
			st, _, body := c.do("GET", "/ui/", nil, map[string]string{"Authorization": "Bearer " + tok})
			if st != 401 || strings.Contains(body, kc) {
				t.Fatalf("status %d, want 401", st)
			}
			st, hdr, _ := g.newOwnerClient().do("POST", "/ui/session", nil, map[string]string{"Authorization": "Bearer " + tok})
			if st != 401 || hdr.Get("Set-Cookie") != "" {
				t.Fatalf("exchange: status %d, Set-Cookie %q", st, hdr.Get("Set-Cookie"))
			}
		})
	}

	// A token in a form field is refused even when valid: any site could
	// post its own and sign the victim's browser in as someone else.
	if st, hdr, _ := g.newOwnerClient().do("POST", "/ui/session", url.Values{"token": {good}}, nil); st != 401 || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("exchange by form: status %d, Set-Cookie %q; want 401 and no cookie", st, hdr.Get("Set-Cookie"))
	}
	// Exchange for a session cookie by header.
	s := g.newOwnerClient()
	st, hdr, _ := s.do("POST", "/ui/session", nil, map[string]string{"Authorization": "Bearer " + good})
	if st != 200 {
		t.Fatalf("exchange by header: status %d", st)
	}
	if ck := sessionCookie(t, hdr); !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui" {
		t.Fatalf("exchange by header: cookie %+v", ck)
	}
	if st, _, page := s.get("/ui/"); st != 200 || !strings.Contains(page, kc) {
		t.Fatalf("exchange by header, then /ui/: status %d", st)
	}
	if strings.Contains(g.logs(), good[strings.LastIndexByte(good, '.')+1:]) {
		t.Fatal("the platform token's signature is in the log")
	}
}

func TestOwnerIssuerNotConfigured(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := ownerSetup(g)
	c := g.newOwnerClient()
	// Without owner_issuer no bearer token is accepted on /ui/, not even
	// the admin token.
	if st, _, body := c.do("GET", "/ui/", nil, map[string]string{"Authorization": "Bearer " + g.adminToken}); st != 401 || strings.Contains(body, kc) {
		t.Fatalf("admin token on /ui/: status %d, want 401", st)
	}
	if st, _, _ := c.do("POST", "/ui/session", url.Values{"token": {"x.y.z"}}, nil); st != 404 {
		t.Fatalf("/ui/session without an issuer: status %d, want 404", st)
	}
}

func unsignedToken(c jwt.MapClaims) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	b, _ := json.Marshal(c)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + "."
}

func otherEd25519(t *testing.T) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// A grant may name a key the package's newer manifest no longer asks for:
// the manifest changed, so the grant is paused until re-approved, which
// drops the old key; toggling another key then works.
func TestOwnerApproveAfterKeyDropped(t *testing.T) {
	g := startUIGateway(t, "")
	kc, _ := g.newKeychain("alice", "")
	key := func(name string) map[string]any { return map[string]any{"name": name, "required": false} }
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/tools", g.manifest("@acme/tools", "tools", key("OLD_KEY"), key("NEW_KEY")))
	g.mustAdmin(200, "PUT", "/v1/keychains/"+kc+"/grants/@acme/tools", map[string]any{"keys": []string{"OLD_KEY"}})
	g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", g.manifest("@acme/tools", "tools", key("NEW_KEY")))

	c := g.newOwnerClient()
	c.signIn(kc)
	c.get("/ui/keychains/" + kc)
	approval := g.packageApproval("@acme/tools")
	approve := url.Values{"package": {"@acme/tools"}, "key": {"NEW_KEY"}, "op": {"approve"}, "sha256": {testSHA}, "approval": {approval}}
	if st, _, body := c.post("/ui/keychains/"+kc+"/grant", approve); st != 409 || !strings.Contains(body, "Re-approve") {
		t.Fatalf("toggle on a grant paused by the manifest change: status %d", st)
	}
	if st, _, _ := c.post("/ui/keychains/"+kc+"/grant", url.Values{"package": {"@acme/tools"}, "op": {"reapprove"}, "sha256": {testSHA}, "approval": {approval}}); st != 303 {
		t.Fatalf("re-approve: status %d", st)
	}
	if keys, _ := g.grantKeys(kc, "@acme/tools"); len(keys) != 0 {
		t.Fatalf("re-approved grant keys %v, want none", keys)
	}
	st, _, body := c.post("/ui/keychains/"+kc+"/grant", approve)
	if st != 303 {
		t.Fatalf("approve: status %d: %s", st, body)
	}
	if keys, _ := g.grantKeys(kc, "@acme/tools"); !slices.Equal(keys, []string{"NEW_KEY"}) {
		t.Fatalf("grant keys %v, want [NEW_KEY]", keys)
	}
}

// TestOwnerLoginConfirmHostile: the sign-in POST takes a link only from
// keygate's own page, never replaces a session without that session's
// CSRF token, and refuses a bad token.
func TestOwnerLoginConfirmHostile(t *testing.T) {
	g := startUIGateway(t, "")
	alice, _ := ownerSetup(g)
	mallory, _ := g.newKeychain("mallory", "")
	link := g.loginLink(mallory)
	tok := link[strings.Index(link, "t=")+2:]
	tok, _ = url.QueryUnescape(tok)
	c := g.newOwnerClient()

	for _, hdr := range []map[string]string{
		nil, // no Origin, no Sec-Fetch-Site: a non-browser client, allowed by CrossOriginProtection
		{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "null"},
	}[1:] {
		st, h, body := c.do("POST", "/ui/login", url.Values{"t": {tok}}, hdr)
		if st != 403 || h.Get("Set-Cookie") != "" || strings.Contains(body, "Signed in") {
			t.Fatalf("cross-site sign-in %v: status %d", hdr, st)
		}
	}
	same := map[string]string{"Origin": g.api, "Sec-Fetch-Site": "same-origin"}
	for _, bad := range []string{"", "x", strings.Repeat("a", 5000), tok + "x"} {
		if st, h, _ := c.do("POST", "/ui/login", url.Values{"t": {bad}}, same); st != 401 || h.Get("Set-Cookie") != "" {
			t.Fatalf("token %.10q: status %d, want 401 and no cookie", bad, st)
		}
	}

	// Signed in as alice: mallory's link asks again, and a replace without
	// alice's CSRF token is asked again too.
	c.signIn(alice)
	for _, form := range []url.Values{{"t": {tok}}, {"t": {tok}, "replace": {"1"}}, {"t": {tok}, "replace": {"1"}, "csrf": {"forged"}}} {
		st, h, body := c.do("POST", "/ui/login", form, same)
		if st != 200 || h.Get("Set-Cookie") != "" || !strings.Contains(body, "This browser is signed in as <strong>alice</strong>") {
			t.Fatalf("replacing alice's session with %v: status %d", form, st)
		}
	}
	if _, _, body := c.get("/ui/"); !strings.Contains(body, "Signed in as <strong>alice</strong>") {
		t.Fatal("alice's session was replaced")
	}
	// With her own page's confirmation it is replaced.
	if st, _, body := c.openLink(link); st != 200 || !strings.Contains(body, "Signed in") {
		t.Fatalf("confirmed replace: status %d", st)
	}
	if _, _, body := c.get("/ui/"); !strings.Contains(body, "Signed in as <strong>mallory</strong>") {
		t.Fatal("the confirmed sign-in did not take")
	}
}
