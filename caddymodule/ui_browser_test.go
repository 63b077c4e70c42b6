package caddymodule_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The owners' page in a real browser: Debian's headless chromium, driven
// through chromedriver's W3C WebDriver HTTP API with net/http only.

const (
	chromiumBinary = "/usr/bin/chromium"
	// artifactsDir is git-ignored; screenshots land there.
	artifactsDir = "../integration/testdata/artifacts"
	// screenshotEnv, when 1, also copies the page's screenshot to the
	// README's docs/owner-page.png.
	screenshotEnv = "KEYGATE_UPDATE_SCREENSHOT"
)

func TestOwnerPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	wd := startBrowser(t)
	g := startUIGateway(t, "")

	kc, token := ownerSetup(g)
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/mailer", g.manifest("@acme/mailer", "mailer", map[string]any{
		"name": "MAIL_TOKEN", "required": false, "hosts": []string{"api.mail.example"},
		"description": "Optional: lets the package send mail as you. Create one under [Settings -> Tokens](https://mail.example/settings/tokens).",
	}))
	g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/GITHUB_TOKEN",
		map[string]any{"value": "ghp_" + randHex(t, 16), "allowed_hosts": []string{"api.github.com"}, "rotation_hint_days": 30})

	// The agent is refused, and told where to go.
	st, hdr, body := g.agent("tools", token, nil)
	if st != 403 {
		t.Fatalf("agent before approval: status %d", st)
	}
	setURL, _ := problem(t, hdr, body)["set_url"].(string)

	// Sign in with a login link: the page moves on to the keychain.
	wd.navigate(g.loginLink(kc))
	wd.click(wd.find(`form[action="/ui/login"] button[type="submit"]`))
	wd.waitFor("the keychain page after sign-in", func() bool {
		return strings.Contains(wd.currentURL(), "/ui/keychains/"+kc) && strings.Contains(wd.source(), "Signed in as")
	})
	var httpOnly, strict bool
	for _, c := range wd.cookies() {
		if c.Name == "keygate_owner" {
			httpOnly, strict = c.HTTPOnly, c.SameSite == "Strict"
		}
	}
	if !httpOnly || !strict {
		t.Fatalf("the browser's session cookie: HttpOnly %v, SameSite=Strict %v", httpOnly, strict)
	}

	// Follow the refusal's link: the package asking is called out.
	wd.navigate(setURL)
	if !strings.Contains(wd.source(), "asks for your approval") {
		t.Fatal("the ?package= page does not call out the package")
	}

	// Set the value; the form comes with the package's host filled in.
	secret := "sk_live_" + randHex(t, 12)
	apiKeyForm := `form.set:has(input[name="name"][value="API_KEY"])`
	if hosts := wd.property(wd.find(apiKeyForm+` input[name="allowed_hosts"]`), "value"); hosts != "127.0.0.1" {
		t.Fatalf("allowed hosts prefilled with %q, want the package's host", hosts)
	}
	wd.typeInto(wd.find(apiKeyForm+` input[name="value"]`), secret)
	wd.click(wd.find(apiKeyForm + ` button[type="submit"]`))
	wd.waitFor("the saved notice", func() bool { return strings.Contains(wd.source(), "Saved.") })

	// Approve the key: the agent's call goes through.
	wd.click(wd.find(`form.toggle:has(input[name="key"][value="API_KEY"]) button[value="approve"]`))
	wd.waitFor("the approved notice", func() bool { return strings.Contains(wd.source(), "Approved, ready") })
	if st, _, body := g.agent("tools", token, nil); st != 200 {
		t.Fatalf("agent after approval in the browser: status %d: %s", st, body)
	}
	g.agent("tools", token, nil) // one more line for the audit trail
	wd.navigate(g.api + "/ui/keychains/" + kc + "?package=%40acme%2Ftools")
	wd.waitFor("the agent's calls in the audit trail", func() bool {
		if strings.Count(wd.source(), "<td>ingress</td>") >= 2 {
			return true
		}
		wd.navigate(g.api + "/ui/keychains/" + kc + "?package=%40acme%2Ftools")
		return false
	})
	// Today's calls are charted: the inline SVG draws under the page's
	// CSP, coloured by its own stylesheet.
	bar := wd.find(`figure.usage svg.chart rect.allowed`)
	if fill := wd.str("GET", "/element/"+bar+"/css/fill"); fill != "rgb(36, 87, 214)" {
		t.Errorf("the chart's bar has fill %q, want the stylesheet's accent", fill)
	}
	var box struct{ Width, Height float64 }
	if err := json.Unmarshal(wd.cmd("GET", "/element/"+bar+"/rect", nil), &box); err != nil || box.Width != 6 || box.Height <= 0 {
		t.Errorf("the chart's bar is drawn %+v (%v), want 6 pixels wide", box, err)
	}
	shot := wd.screenshot()
	saveArtifact(t, "owner-page.png", shot)
	if os.Getenv(screenshotEnv) == "1" {
		if err := os.WriteFile("../docs/owner-page.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Revoke it: the next call fails.
	wd.click(wd.find(`form.toggle:has(input[name="key"][value="API_KEY"]) button[value="revoke"]`))
	wd.waitFor("the revoked notice", func() bool { return strings.Contains(wd.source(), "Revoked.") })
	if st, _, _ := g.agent("tools", token, nil); st != 428 {
		t.Fatalf("agent after revoking in the browser: status %d, want 428", st)
	}
	saveArtifact(t, "owner-page-revoked.png", wd.screenshot())

	if src := wd.source(); strings.Contains(src, secret) {
		t.Fatal("the page holds the secret value")
	}
	if strings.Contains(g.logs(), secret) {
		t.Fatal("the log holds the secret value")
	}
}

func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// browserTools finds chromium and chromedriver. Missing, they are
// installed only on CI running as root; anywhere else the test skips, so
// a developer's machine is never changed behind their back.
func browserTools(t *testing.T) string {
	t.Helper()
	driver, derr := exec.LookPath("chromedriver")
	_, cerr := os.Stat(chromiumBinary)
	if derr == nil && cerr == nil {
		return driver
	}
	if os.Geteuid() != 0 || os.Getenv("CI") != "true" {
		t.Skip("browser test needs Debian's chromium and chromium-driver; install them with " +
			"`apt-get install -y chromium chromium-driver` (the test installs them itself only as root with CI=true)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "chromium", "chromium-driver"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("apt-get %s: %v\n%s", args[0], err, out)
		}
	}
	driver, err := exec.LookPath("chromedriver")
	if err != nil {
		t.Fatal("chromedriver is still missing after installing chromium-driver")
	}
	return driver
}

// webDriver is one chromedriver session.
type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:port/session/<id>
	http    *http.Client
	timeout time.Duration
}

// startBrowser starts chromedriver on a free loopback port and opens a
// headless chromium session with a throwaway profile.
func startBrowser(t *testing.T) *webDriver {
	t.Helper()
	driver := browserTools(t)
	port := freePorts(t, 1)[0]
	logPath := filepath.Join(t.TempDir(), "chromedriver.log")
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port), "--log-path="+logPath)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromedriver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	wd := &webDriver{t: t, http: &http.Client{Timeout: 60 * time.Second}, timeout: 20 * time.Second}

	deadline := time.Now().Add(20 * time.Second)
	for {
		var status struct {
			Value struct{ Ready bool } `json:"value"`
		}
		if err := wd.call("GET", root+"/status", nil, &status); err == nil && status.Value.Ready {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("chromedriver did not become ready:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}

	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromiumBinary,
			"args": []string{
				"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--no-first-run", "--disable-quic", "--user-data-dir=" + t.TempDir(),
				"--window-size=1280,1900", "--force-device-scale-factor=1", "--lang=en-US",
			},
		},
	}}}
	var sess struct {
		Value struct {
			SessionID string `json:"sessionId"`
		} `json:"value"`
	}
	if err := wd.call("POST", root+"/session", caps, &sess); err != nil {
		log, _ := os.ReadFile(logPath)
		t.Fatalf("creating a browser session: %v\n%s", err, log)
	}
	wd.base = root + "/session/" + sess.Value.SessionID
	t.Cleanup(func() { _ = wd.call("DELETE", wd.base, nil, nil) })
	return wd
}

// call sends one WebDriver command and decodes its answer into out.
func (wd *webDriver) call(method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := wd.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("%s %s: status %d: %.500s", method, url, res.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// cmd runs a session command and returns its "value".
func (wd *webDriver) cmd(method, path string, body any) json.RawMessage {
	wd.t.Helper()
	if body == nil && method == "POST" {
		body = map[string]any{}
	}
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	if err := wd.call(method, wd.base+path, body, &out); err != nil {
		wd.t.Fatal(err)
	}
	return out.Value
}

func (wd *webDriver) navigate(u string) { wd.cmd("POST", "/url", map[string]any{"url": u}) }

func (wd *webDriver) str(method, path string) string {
	wd.t.Helper()
	var s string
	if err := json.Unmarshal(wd.cmd(method, path, nil), &s); err != nil {
		wd.t.Fatal(err)
	}
	return s
}

func (wd *webDriver) currentURL() string { return wd.str("GET", "/url") }
func (wd *webDriver) source() string     { return wd.str("GET", "/source") }

const elementKey = "element-6066-11e4-a52e-4f735466cecf"

// find returns the element a CSS selector matches, failing the test if
// none does.
func (wd *webDriver) find(css string) string {
	wd.t.Helper()
	var el map[string]string
	if err := json.Unmarshal(wd.cmd("POST", "/element", map[string]any{"using": "css selector", "value": css}), &el); err != nil {
		wd.t.Fatal(err)
	}
	if el[elementKey] == "" {
		wd.t.Fatalf("no element matches %s", css)
	}
	return el[elementKey]
}

func (wd *webDriver) typeInto(el, text string) {
	wd.cmd("POST", "/element/"+el+"/value", map[string]any{"text": text})
}

func (wd *webDriver) click(el string) { wd.cmd("POST", "/element/"+el+"/click", nil) }

func (wd *webDriver) property(el, name string) string {
	return wd.str("GET", "/element/"+el+"/property/"+name)
}

type wdCookie struct {
	Name     string `json:"name"`
	HTTPOnly bool   `json:"httpOnly"`
	SameSite string `json:"sameSite"`
}

func (wd *webDriver) cookies() []wdCookie {
	wd.t.Helper()
	var cs []wdCookie
	if err := json.Unmarshal(wd.cmd("GET", "/cookie", nil), &cs); err != nil {
		wd.t.Fatal(err)
	}
	return cs
}

func (wd *webDriver) screenshot() []byte {
	wd.t.Helper()
	png, err := base64.StdEncoding.DecodeString(wd.str("GET", "/screenshot"))
	if err != nil {
		wd.t.Fatal(err)
	}
	return png
}

// waitFor polls cond until it holds, for a bounded time: the browser
// loads pages on its own schedule.
func (wd *webDriver) waitFor(what string, cond func() bool) {
	wd.t.Helper()
	deadline := time.Now().Add(wd.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			wd.t.Fatalf("timed out waiting for %s; page:\n%.3000s", what, wd.source())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
