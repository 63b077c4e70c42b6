package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOAuthExampleProvider runs examples/oauth-provider, the stand-in
// provider the README offers for trying OAuth keys, and connects an
// account through it: the authorize URL, its approval, keygate's callback
// and its confirmation page naming the account (from the provider's
// userinfo_url); the key then shows as an OAuth key with its scopes and expiry.
func TestOAuthExampleProvider(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "oauth-provider")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	build := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./examples/oauth-provider")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/oauth-provider: %v\n%s", err, out)
	}
	port := FreePorts(t, 1)[0]
	addr := "127.0.0.1:" + strconv.Itoa(port)
	prov := exec.Command(bin, "-listen", addr)
	logs := new(syncBuffer)
	prov.Stdout, prov.Stderr = logs, logs
	if err := prov.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prov.Process.Kill(); _ = prov.Wait() })
	deadline := time.Now().Add(readyTimeout)
	for !dialOK("http://" + addr) {
		if time.Now().After(deadline) {
			t.Fatalf("oauth-provider did not listen:\n%s", logs.String())
		}
		time.Sleep(readyPoll)
	}

	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{KeygateOptions: `public_url http://127.0.0.1:{{.APIPort}}
		oauth_provider demo {
			authorize_url http://` + addr + `/authorize
			token_url http://` + addr + `/token
			userinfo_url http://` + addr + `/userinfo email
		}`})
	key := map[string]any{"name": "MAIL_TOKEN", "required": true, "hosts": []string{"127.0.0.1"},
		"oauth": map[string]any{"provider": "demo", "scopes": []string{"mail.read"}, "client_id": "CLIENT_ID", "client_secret": "CLIENT_SECRET"}}
	const pkg = "@demo/mail"
	manifest := map[string]any{"name": pkg, "version": "1.0.0", "sha256": sha256Hex("mail/v1"), "host": "mail", "upstream": pkgCode.URL,
		"keys": []any{key}, "app_keys": []any{map[string]any{"name": "CLIENT_ID", "required": true}, map[string]any{"name": "CLIENT_SECRET", "required": true}}}
	if r := in.callAPI(t, "PUT", "/v1/packages/"+pkg, manifest); r.Status != http.StatusCreated {
		t.Fatalf("put package: %s", r)
	}
	for name, v := range map[string]string{"CLIENT_ID": "demo-client", "CLIENT_SECRET": "demo-client-secret"} {
		if r := in.callAPI(t, "PUT", "/v1/packages/"+pkg+"/app-secrets/"+name, map[string]string{"value": v}); r.Status != http.StatusNoContent {
			t.Fatalf("app secret %s: %s", name, r)
		}
	}
	kc, _ := in.newKeychain(t, "oauth-owner")
	in.grant(t, kc, pkg, "MAIL_TOKEN")

	r := in.callAPI(t, "POST", "/v1/keychains/"+kc+"/connect/"+url.PathEscape(pkg)+"/MAIL_TOKEN", nil)
	var out struct {
		AuthorizeURL string `json:"authorize_url"`
	}
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
		t.Fatalf("connect: %s", r)
	}
	noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(out.AuthorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(callback, in.APIURL+"/oauth/callback?") {
		t.Fatalf("authorize: %d to %q", resp.StatusCode, callback)
	}
	cb := sendT(t, "GET", callback, "", nil, nil)
	if cb.Status != http.StatusOK || !strings.Contains(string(cb.Body), `id="account">demo@example.test<`) {
		t.Fatalf("callback: the confirmation page does not name the account: %s", cb)
	}
	if list := in.MustCLI("", "secret", "list", kc); strings.Contains(list.Stdout, "MAIL_TOKEN") {
		t.Fatalf("stored before the owner confirmed:\n%s", list.Stdout)
	}
	if ok := confirmConnect(t, in, in.APIURL, cb); ok.Status != http.StatusOK || !strings.Contains(string(ok.Body), "is connected to demo@example.test") {
		t.Fatalf("confirm: %s", ok)
	}
	list := in.MustCLI("", "secret", "list", kc)
	if !strings.Contains(list.Stdout, "MAIL_TOKEN") || !strings.Contains(list.Stdout, "oauth (mail.read)") {
		t.Errorf("secret list after connecting:\n%s", list.Stdout)
	}
}
