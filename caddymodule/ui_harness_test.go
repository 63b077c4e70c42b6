package caddymodule_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// startUIGateway runs keygate in this process for the owners' page tests,
// with public_url pointing at the API site, as it would in production.
// apiOptions goes into the keygate_api block.
func startUIGateway(t *testing.T, apiOptions string) *gateway {
	t.Helper()
	return startGateway(t, gatewayOptions{apiOptions: apiOptions, publicURL: true})
}

// newKeychain creates a keychain for owner and returns its id and token.
func (g *gateway) newKeychain(owner, name string) (id, token string) {
	g.t.Helper()
	var kc struct{ ID, Token string }
	if err := json.Unmarshal(g.mustAdmin(201, "POST", "/v1/keychains", map[string]any{"owner": owner, "name": name}), &kc); err != nil {
		g.t.Fatal(err)
	}
	return kc.ID, kc.Token
}

// loginLink mints a login link for kc with the admin API.
func (g *gateway) loginLink(kc string) string {
	g.t.Helper()
	var out struct {
		URL       string `json:"url"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal(g.mustAdmin(200, "POST", "/v1/keychains/"+kc+"/login-link", nil), &out); err != nil {
		g.t.Fatal(err)
	}
	if out.URL == "" || out.ExpiresAt == "" {
		g.t.Fatalf("login-link answer lacks url or expires_at: %+v", out)
	}
	return out.URL
}

// ownerClient is a browser stand-in: a cookie jar, no redirects followed,
// and the Origin and Sec-Fetch-Site a same-origin form post carries.
type ownerClient struct {
	g    *gateway
	http *http.Client
	csrf string
}

func (g *gateway) newOwnerClient() *ownerClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	return &ownerClient{g: g, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// signIn follows a fresh login link for kc.
func (c *ownerClient) signIn(kc string) {
	c.g.t.Helper()
	st, _, body := c.openLink(c.g.loginLink(kc))
	if st != 200 || !strings.Contains(body, "Signed in") {
		c.g.t.Fatalf("login link: status %d: %s", st, body)
	}
}

var linkTokenField = regexp.MustCompile(`name="t" value="([^"]+)"`)

// openLink opens a sign-in link and confirms on the pages it shows, as
// an owner clicking "Sign in" (and, when the browser is signed in
// already, clicking it again) does.
func (c *ownerClient) openLink(link string) (int, http.Header, string) {
	c.g.t.Helper()
	st, hdr, body := c.get(link)
	for i := 0; i < 2; i++ {
		m := linkTokenField.FindStringSubmatch(body)
		if st != 200 || m == nil || hdr.Get("Set-Cookie") != "" {
			break
		}
		form := url.Values{"t": {html.UnescapeString(m[1])}}
		if strings.Contains(body, `name="replace"`) {
			form.Set("replace", "1")
			form.Set("csrf", c.csrf)
		}
		st, hdr, body = c.do("POST", "/ui/login", form, map[string]string{"Origin": c.g.api, "Sec-Fetch-Site": "same-origin"})
	}
	return st, hdr, body
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and remembers the CSRF token it carries.
func (c *ownerClient) get(u string) (int, http.Header, string) {
	c.g.t.Helper()
	return c.do("GET", u, nil, nil)
}

func (c *ownerClient) do(method, u string, form url.Values, hdr map[string]string) (int, http.Header, string) {
	c.g.t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = c.g.api + u
	}
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.g.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.g.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.g.t.Fatal(err)
	}
	c.g.bodies.Write(b)
	if m := csrfField.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return res.StatusCode, res.Header, string(b)
}

// post submits a form as the page would, with the CSRF token of the last
// page fetched, from this origin.
func (c *ownerClient) post(path string, form url.Values) (int, http.Header, string) {
	c.g.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, form, map[string]string{"Origin": c.g.api, "Sec-Fetch-Site": "same-origin"})
}

// secretNames lists the names of a keychain's stored secrets.
func (g *gateway) secretNames(kc string) []string {
	g.t.Helper()
	var out []struct{ Name string }
	json.Unmarshal(g.mustAdmin(200, "GET", "/v1/keychains/"+kc+"/secrets", nil), &out)
	var names []string
	for _, s := range out {
		names = append(names, s.Name)
	}
	return names
}

// packageApproval is the package's approval digest, which the owners'
// page posts back with every decision.
func (g *gateway) packageApproval(name string) string {
	g.t.Helper()
	var m struct{ Approval string }
	json.Unmarshal(g.mustAdmin(200, "GET", "/v1/packages/"+url.PathEscape(name), nil), &m)
	if m.Approval == "" {
		g.t.Fatalf("package %s has no approval digest", name)
	}
	return m.Approval
}

// grantKeys returns the keys of a keychain's grant for pkg, and whether
// there is one.
func (g *gateway) grantKeys(kc, pkg string) ([]string, bool) {
	g.t.Helper()
	var out []struct {
		Package string
		Keys    []string
	}
	json.Unmarshal(g.mustAdmin(200, "GET", "/v1/keychains/"+kc+"/grants", nil), &out)
	for _, gr := range out {
		if gr.Package == pkg {
			return gr.Keys, true
		}
	}
	return nil, false
}
