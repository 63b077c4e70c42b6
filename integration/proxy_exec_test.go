package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execScript prints what the command sees and calls the upstream with the
// placeholder as Bearer, as an SDK would.
const execScript = `echo "key=$API_KEY token=${KEYGATE_TOKEN:-none} proxy=$HTTPS_PROXY"; curl -sS --fail-with-body -H "Authorization: Bearer $API_KEY" "$0"`

// TestProxyExec: keygate exec gets the call's placeholders with the
// invocation token and runs the command behind the proxy site with them
// under the key's name; the upstream gets the value, the command never.
func TestProxyExec(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	pw := newProxyWorld(t, nil, Config{})
	tok, _ := pw.call(t)
	dir := t.TempDir()
	execArgs := func(proxy string, cmd ...string) []string {
		return append([]string{"exec", "--proxy", proxy, "--dir", dir, "--no-proxy", ""}, append([]string{"--"}, cmd...)...)
	}
	clean := func(r Result) {
		t.Helper()
		for _, s := range []string{tok, pw.value, pw.token} {
			if strings.Contains(r.Stderr, s) || strings.Contains(r.Stdout, s) {
				t.Fatalf("keygate exec printed a token or the value: %s", redact(r.Stderr))
			}
		}
	}

	r := pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok}, "", execArgs(pw.proxyURL, "sh", "-c", execScript, pw.upstreamURL("/v1/echo"))...)
	if r.Code != 0 {
		t.Fatalf("exec: %s", redact(r.String()))
	}
	clean(r)
	// Placeholders are minted per request; any of the call's is its key's.
	seen, _, _ := strings.Cut(strings.TrimPrefix(r.Stdout, "key="), " ")
	if !strings.HasPrefix(seen, "kgph_") || !strings.Contains(r.Stdout, "token=none proxy="+pw.proxyURL) {
		t.Fatalf("the command's environment: %s", redact(r.Stdout))
	}
	if !strings.Contains(r.Stdout, `"authorization":"Bearer `+seen+`"`) {
		t.Fatalf("the echo did not come back as the placeholder: %s", redact(r.Stdout))
	}
	if last := pw.up.Last(t); last.Header.Get("Authorization") != "Bearer "+pw.value {
		t.Fatal("the upstream did not get the value")
	}

	// The token from a file; the command's exit status is keygate's.
	tf := filepath.Join(dir, "token")
	writeFile(t, tf, tok+"\n")
	r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN"}, "", append([]string{"exec", "--token-file", tf, "--proxy", pw.proxyURL, "--dir", dir, "--"}, "sh", "-c", "exit 7")...)
	if r.Code != 7 || r.Stderr != "" {
		t.Fatalf("exit status: %s", redact(r.String()))
	}

	// Another keychain's call: its own placeholders, its own value.
	kc2, kcTok2 := pw.in.newKeychain(t, "other")
	value2 := RandomToken(t, "sk_other_")
	pw.in.setSecret(t, kc2, "API_KEY", value2)
	pw.in.grant(t, kc2, pw.pkgName, "API_KEY")
	tok2 := pw.in.mintInvocation(t, pw.pkgCode, pw.host, kcTok2)
	noteSensitive(tok2)
	r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok2}, "", execArgs(pw.proxyURL, "sh", "-c", execScript, pw.upstreamURL("/v1/echo"))...)
	if r.Code != 0 {
		t.Fatalf("exec, keychain 2: %s", redact(r.String()))
	}
	if last := pw.up.Last(t); last.Header.Get("Authorization") != "Bearer "+value2 {
		t.Fatal("keychain 2's call did not get keychain 2's value")
	}

	// A site with proxy_auth required: --proxy-auth puts the token in the
	// command's proxy URL, so curl's CONNECT carries it; without it, 407.
	curlOnly := `curl -sS --fail-with-body -o /dev/null -H "Authorization: Bearer $API_KEY" "$0"`
	args := append([]string{"exec", "--proxy-auth"}, execArgs(pw.authed, "sh", "-c", curlOnly, pw.upstreamURL("/v1/echo"))[1:]...)
	if r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok}, "", args...); r.Code != 0 {
		t.Fatalf("exec --proxy-auth: %s", redact(r.String()))
	}
	clean(r)
	if last := pw.up.Last(t); last.Header.Get("Authorization") != "Bearer "+pw.value {
		t.Fatal("through proxy_auth: the upstream did not get the value")
	}
	sent := pw.up.Count()
	if r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok}, "", execArgs(pw.authed, "sh", "-c", curlOnly, pw.upstreamURL("/v1/echo"))...); r.Code == 0 || pw.up.Count() != sent {
		t.Fatalf("exec without --proxy-auth to a proxy_auth site went through: %s", redact(r.String()))
	}

	// Refusals: one line, exit 1 or 2, nothing run, nothing echoed.
	marker := filepath.Join(dir, "ran")
	touch := []string{"sh", "-c", "touch " + marker}
	free := fmt.Sprintf("http://127.0.0.1:%d", FreePorts(t, 1)[0])
	for _, c := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no token", []string{"KEYGATE_TOKEN"}, execArgs(pw.proxyURL, touch...), 2, "no invocation token"},
		{"a forged token", []string{"KEYGATE_TOKEN=eyJhbGciOiJFZERTQSJ9.e30.c2ln"}, execArgs(pw.proxyURL, touch...), 1, "401"},
		{"a keychain token", []string{"KEYGATE_TOKEN=" + pw.token}, execArgs(pw.proxyURL, touch...), 1, "this is a keychain token"},
		{"a token with a space", []string{"KEYGATE_TOKEN=" + tok[:10] + " " + tok[10:]}, execArgs(pw.proxyURL, touch...), 2, "space or control character"},
		{"no proxy site", []string{"KEYGATE_TOKEN=" + tok}, execArgs(free, touch...), 1, "no proxy site at " + free},
		{"a proxy URL with credentials", []string{"KEYGATE_TOKEN=" + tok}, execArgs("http://keygate:"+tok+"@127.0.0.1:1", touch...), 2, "--proxy must be a URL"},
		{"a word before --", []string{"KEYGATE_TOKEN=" + tok}, []string{"exec", tok, "--", "true"}, 2, "then -- and the command"},
		{"no command", []string{"KEYGATE_TOKEN=" + tok}, []string{"exec", "--"}, 2, "then -- and the command"},
		{"a missing token file", []string{"KEYGATE_TOKEN"}, []string{"exec", "--token-file", filepath.Join(dir, "none"), "--", "true"}, 1, "reading --token-file"},
	} {
		r := pw.in.CLIEnv(c.env, "", c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
			t.Errorf("%s: exit %d, want %d with %q: %s", c.name, r.Code, c.code, c.want, redact(r.Stderr))
		}
		clean(r)
		if fileExists(marker) {
			t.Fatalf("%s: the command ran", c.name)
		}
	}

	// A revoked grant: its calls get no placeholder.
	pw.in.grant(t, kc2, pw.pkgName)
	r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok2}, "", execArgs(pw.proxyURL, touch...)...)
	if r.Code != 1 || !strings.Contains(r.Stderr, "403") || fileExists(marker) {
		t.Fatalf("a revoked grant: %s", redact(r.String()))
	}
	clean(r)
}

// TestProxyExecExpired: an expired invocation token gets no placeholder.
func TestProxyExecExpired(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{KeygateOptions: "invocation_ttl 1s"})
	tok, _ := pw.call(t)
	var r Result
	// The token's second, and the verifier's clock leeway of 5s.
	if !eventually(15*time.Second, 500*time.Millisecond, func() bool {
		r = pw.in.CLIEnv([]string{"KEYGATE_TOKEN=" + tok}, "", "exec", "--proxy", pw.proxyURL, "--dir", t.TempDir(), "--", "true")
		return r.Code != 0
	}) {
		t.Fatal("an expired token still gets placeholders")
	}
	if r.Code != 1 || !strings.Contains(r.Stderr, "expired") || strings.Contains(r.Stderr, tok) {
		t.Fatalf("an expired token: %s", redact(r.String()))
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
