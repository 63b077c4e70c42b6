package integration

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startExample runs the shipped Caddyfile.example (its ports moved to
// free ones) and the demo program in examples/echo-tools, as the README
// has a newcomer do.
func startExample(t *testing.T) (in *Instance, root, pkgAddr string) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer(
		"127.0.0.1:8080", "127.0.0.1:{{.APIPort}}", "http://:8080", "http://:{{.APIPort}}",
		"127.0.0.1:8081", "127.0.0.1:{{.EgressPort}}", "http://:8081", "http://:{{.EgressPort}}",
		"127.0.0.1:8082", "127.0.0.1:{{.IngressPort}}", ".keygate.localhost:8082", ".keygate.localhost:{{.IngressPort}}",
		"127.0.0.1:9100", "127.0.0.1:{{index .Extra 1}}",
	).Replace(string(src))
	tmpl = strings.Replace(tmpl, "{\n", "{\n\tadmin {{.AdminAddr}}\n\tpersist_config off\n", 1)
	in = Start(t, Config{Template: tmpl, FirstRun: true, ExtraPorts: 2})
	pkgAddr = "127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0])
	startEchoTools(t, root, pkgAddr, "127.0.0.1:"+strconv.Itoa(in.Ports.Extra[1]), in.EgressURL+"/demo")
	return in, root, pkgAddr
}

// putExampleManifest registers examples/<file> with its upstream moved to
// pkgAddr.
func putExampleManifest(t *testing.T, in *Instance, root, pkgAddr, file string) {
	t.Helper()
	manifest, err := os.ReadFile(filepath.Join(root, "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(in.Dir, file)
	if err := os.WriteFile(mf, []byte(strings.Replace(string(manifest), "127.0.0.1:9001", pkgAddr, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	in.MustCLI("", "package", "put", mf)
}

// TestREADMEOwnerInTheLoop follows the README's "The owner in the loop" on
// Caddyfile.example: an agent call waits while the owner, in a browser
// (here an HTTP client with a cookie jar posting the page's forms), sets
// the value and approves the package; then a package whose manifest asks
// the owner before each call is held at egress until the owner approves
// it on "Waiting for you".
func TestREADMEOwnerInTheLoop(t *testing.T) {
	in, root, pkgAddr := startExample(t)
	var kc struct{ ID, Token string }
	if err := json.Unmarshal([]byte(in.MustCLI("", "keychain", "create", "--owner", "bob", "--json").Stdout), &kc); err != nil {
		t.Fatal(err)
	}
	noteSensitive(kc.Token)
	putExampleManifest(t, in, root, pkgAddr, "keygate.package.json")
	var link struct{ URL string }
	json.Unmarshal([]byte(in.MustCLI("", "keychain", "login-link", kc.ID, "--json").Stdout), &link)
	b := newBrowser(t, in)
	b.signIn(link.URL)
	waiting := "/ui/keychains/" + kc.ID + "/waiting"

	agent := func(hdr map[string]string) <-chan reply {
		ch := make(chan reply, 1)
		go func() {
			h := bearer(kc.Token)
			for k, v := range hdr {
				h.Set(k, v)
			}
			r, err := tryHTTP(httpClient, "GET", in.IngressURL+"/", "echo-tools.keygate.localhost", h, nil)
			if err != nil {
				t.Error(err)
			}
			ch <- r
		}()
		return ch
	}
	awaitPage := func(want string) string {
		t.Helper()
		var body string
		if !eventually(10*time.Second, 100*time.Millisecond, func() bool { _, body = b.get(waiting); return strings.Contains(body, want) }) {
			t.Fatalf("the waiting page never showed %q:\n%s", want, body)
		}
		return body
	}

	// 1. The call waits for what is missing.
	ch := agent(map[string]string{"Prefer": "wait=120"})
	awaitPage("Needs the package approved")
	b.get("/ui/keychains/" + kc.ID + "?package=@demo/echo-tools")
	if st, _ := b.post("/ui/keychains/"+kc.ID+"/secret", url.Values{"name": {"DEMO_API_KEY"}, "value": {"demo-key-123"}, "allowed_hosts": {"127.0.0.1"}}); st != http.StatusSeeOther {
		t.Fatalf("setting the value on the page: %d", st)
	}
	_, page := b.get("/ui/keychains/" + kc.ID + "?package=@demo/echo-tools")
	sha := regexp.MustCompile(`name="sha256" value="([0-9a-f]{64})"><input type="hidden" name="approval" value="([^"]*)"`).FindStringSubmatch(page)
	if sha == nil {
		t.Fatal("no package to approve on the keychain page")
	}
	for _, form := range []url.Values{{"op": {"approve_package"}}, {"op": {"approve"}, "key": {"DEMO_API_KEY"}}} {
		form.Set("package", "@demo/echo-tools")
		form.Set("sha256", sha[1])
		form.Set("approval", html.UnescapeString(sha[2]))
		if st, _ := b.post("/ui/keychains/"+kc.ID+"/grant", form); st != http.StatusSeeOther {
			t.Fatalf("approving on the page (%s): %d", form.Get("op"), st)
		}
	}
	select {
	case r := <-ch:
		if r.Status != 200 || r.Header.Get("Preference-Applied") != "wait" || !strings.Contains(string(r.Body), "keygate answered 200") {
			t.Fatalf("the waiting call: %s", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting call never came back")
	}

	// 2. A package that asks its owner before each GET /hello.
	putExampleManifest(t, in, root, pkgAddr, "keygate.approve.package.json")
	in.MustCLI("", "grant", kc.ID, "@demo/echo-tools", "DEMO_API_KEY")
	ch = agent(nil)
	body := awaitPage("GET 127.0.0.1/hello")
	if out := in.MustCLI("", "pending", "list", kc.ID).Stdout; !strings.Contains(out, "GET 127.0.0.1/hello") {
		t.Fatalf("keygate pending list: %s", out)
	}
	id := regexp.MustCompile(`id="call-(hc_[a-z0-9]+)"`).FindStringSubmatch(body)
	if id == nil {
		t.Fatal("no held call on the page")
	}
	if st, _ := b.post(waiting+"/"+id[1], url.Values{"decision": {"once"}}); st != http.StatusSeeOther {
		t.Fatalf("approving on the waiting page: %d", st)
	}
	select {
	case r := <-ch:
		if r.Status != 200 || !strings.Contains(string(r.Body), "keygate answered 200") {
			t.Fatalf("the approved call: %s", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the approved call never came back")
	}
	if strings.Contains(in.Logs(), "demo-key-123") {
		t.Fatal("the key is in the log")
	}
}

// browser is an owner's browser: cookies, no redirects followed, same-
// origin form posts carrying the CSRF token of the last page.
type browser struct {
	t    *testing.T
	in   *Instance
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, in *Instance) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, in: in, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var browserCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := browserCSRF.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return res.StatusCode, string(body)
}

var browserLinkToken = regexp.MustCompile(`name="t" value="([^"]+)"`)

// signIn opens a sign-in link and confirms it on the page it shows, as a
// person does.
func (b *browser) signIn(link string) {
	b.t.Helper()
	st, body := b.get(link)
	m := browserLinkToken.FindStringSubmatch(body)
	if st != http.StatusOK || m == nil {
		b.t.Fatalf("sign-in link: %d", st)
	}
	if st, body = b.post("/ui/login", url.Values{"t": {html.UnescapeString(m[1])}}); st != http.StatusOK || !strings.Contains(body, "Signed in") {
		b.t.Fatalf("sign-in: %d", st)
	}
}

func (b *browser) get(u string) (int, string) {
	if !strings.HasPrefix(u, "http") {
		u = b.in.APIURL + u
	}
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	form.Set("csrf", b.csrf)
	req, _ := http.NewRequest("POST", b.in.APIURL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.in.APIURL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}
