package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProxyEnvAndCA: keygate proxy env prints an environment that curl
// works behind as it is; keygate proxy ca prints the CA and rotates it,
// the old one still trusted.
func TestProxyEnvAndCA(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	pw := newProxyWorld(t, nil, Config{})
	dir := t.TempDir()
	r := pw.in.MustCLI("", "proxy", "env", "--proxy", pw.proxyURL, "--dir", dir)
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "export ")
		k, v, ok2 := strings.Cut(line, "=")
		if !ok || !ok2 {
			t.Fatalf("proxy env printed %q", sc.Text())
		}
		vars[k] = strings.Trim(v, "'")
	}
	for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
		"NODE_EXTRA_CA_CERTS", "NODE_USE_ENV_PROXY", "GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "DENO_CERT"} {
		if vars[k] == "" {
			t.Errorf("proxy env sets no %s", k)
		}
	}
	if vars["NODE_EXTRA_CA_CERTS"] != filepath.Join(dir, "keygate-ca.pem") || vars["SSL_CERT_FILE"] != filepath.Join(dir, "keygate-bundle.pem") {
		t.Fatalf("proxy env's files: %v", vars)
	}
	var env []string
	for k, v := range vars {
		if k != "NO_PROXY" && k != "no_proxy" { // the test's upstream is on 127.0.0.1
			env = append(env, k+"="+v)
		}
	}
	_, ph := pw.call(t)
	out := runClient(t, env, curl, "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+ph, pw.upstreamURL("/v1/echo"))
	if !strings.Contains(out, ph) || strings.Contains(out, pw.value) {
		t.Fatalf("curl with proxy env: %s", redact(out))
	}

	ca := pw.in.MustCLI("", "proxy", "ca")
	if strings.Count(ca.Stdout, "BEGIN CERTIFICATE") != 1 {
		t.Fatalf("proxy ca printed %d certificates", strings.Count(ca.Stdout, "BEGIN CERTIFICATE"))
	}
	rot := pw.in.MustCLI("", "proxy", "ca", "rotate", "--overlap", "1h")
	if strings.Count(rot.Stdout, "BEGIN CERTIFICATE") != 2 || !strings.Contains(rot.Stdout, strings.TrimSpace(ca.Stdout)) {
		t.Fatal("after rotate the bundle does not hold the new and the old CA")
	}
	if r := pw.in.CLI("", "proxy", "ca", "rotate", "--overlap", "-1h"); r.Code != 2 {
		t.Fatalf("a negative overlap: exit %d", r.Code)
	}
	if r := pw.in.CLI("", "proxy", "ca", "turn"); r.Code != 2 {
		t.Fatalf("an unknown argument: exit %d", r.Code)
	}
	if r := pw.in.CLI("", "proxy", "env", "--proxy", "http://user:pw@127.0.0.1:1/x"); r.Code != 2 || strings.Contains(r.Stderr, "pw@") {
		t.Fatalf("a bad --proxy: exit %d: %s", r.Code, r.Stderr)
	}
	// A client holding the old bundle still gets through.
	out = runClient(t, env, curl, "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+ph, pw.upstreamURL("/v1/echo"))
	if !strings.Contains(out, ph) {
		t.Fatalf("curl after rotate: %s", redact(out))
	}
	st, body := pw.in.API("POST", "/v1/proxy/ca/rotate", map[string]string{"overlap": "forever"})
	if st != http.StatusBadRequest {
		t.Fatalf("rotate with a bad overlap: %d %s", st, body)
	}
}

// TestProxyDevExec: keygate dev -- <command> runs the command behind the
// dev gateway's proxy site with the key's placeholder under its name.
func TestProxyDevExec(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	up := newTLSUpstream(t, echoAPI)
	value := RandomToken(t, "sk_dev_")
	noteSensitive(value)
	m := writeDevManifest(t, devManifest(map[string]any{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}}))
	script := `curl -sS --fail-with-body -H "Authorization: Bearer $API_KEY" "$TARGET"; echo; echo "key: $API_KEY"`
	dev := startDev(t, []string{"KEYGATE_SECRET_API_KEY=" + value, "SSL_CERT_FILE=" + up.CAFile, "TARGET=" + up.URL + "/v1/echo"},
		"--manifest", m, "--", "sh", "-c", script)
	if code := dev.wait(); code != 0 {
		t.Fatalf("keygate dev -- exited %d: %s %s", code, redact(dev.out.String()), redact(dev.errs.String()))
	}
	out := dev.out.String()
	var e echoed
	first, _, _ := strings.Cut(out, "\n")
	if err := json.Unmarshal([]byte(first), &e); err != nil {
		t.Fatalf("the command's output: %v: %s", err, redact(out))
	}
	if !strings.HasPrefix(e.Authorization, "Bearer kgph_") || !strings.Contains(out, "key: kgph_") {
		t.Fatalf("the command did not get a placeholder: %s", redact(out))
	}
	if up.Last(t).Header.Get("Authorization") != "Bearer "+value {
		t.Fatal("the upstream did not get the value")
	}
	AssertNotContains(t, "the value", value, map[string]string{"stdout": out, "stderr": dev.errs.String()})
}
