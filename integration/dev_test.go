package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/keygate/policy"
)

// devProc is a running `keygate dev`.
type devProc struct {
	t         testing.TB
	cmd       *exec.Cmd
	out, errs *syncBuffer
	done      chan struct{}
	state     string // its state file
}

// startDev runs `keygate dev` with args and the KEY=VALUE settings in env
// (besides a clean HOME, XDG dirs and PATH). The test's cleanup kills it
// if it still runs.
func startDev(t *testing.T, env []string, args ...string) *devProc {
	t.Helper()
	dir := t.TempDir()
	p := &devProc{t: t, out: new(syncBuffer), errs: new(syncBuffer), done: make(chan struct{}),
		state: filepath.Join(dir, "dev-state.json")}
	p.cmd = exec.Command(Binary(t), append([]string{"dev"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"KEYGATE_DEV_STATE=" + p.state,
	}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
			t.Errorf("keygate dev wrote to its data directory; it must keep everything in memory")
		}
	})
	return p
}

// wait returns the exit code, within stopTimeout.
func (p *devProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.t.Fatalf("keygate dev did not exit within %s\n%s", stopTimeout, tail(p.errs.String(), 20))
	}
	return p.cmd.ProcessState.ExitCode()
}

// devOutput is what keygate dev printed for the author to paste.
type devOutput struct {
	token, site string
	egress      map[string]string // key name -> egress base URL
}

var (
	devTokenLine  = regexp.MustCompile(`(?m)^  keychain token  (\S+)$`)
	devSiteLine   = regexp.MustCompile(`(?m)^  package site    (\S+)$`)
	devEgressLine = regexp.MustCompile(`(?m)^    (\w+)\s+(http://127\.0\.0\.1:\d+/\w+/)  -> `)
)

// ready waits for the printout and parses it.
func (p *devProc) ready() devOutput {
	p.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for !strings.Contains(p.out.String(), "try it:") {
		select {
		case <-p.done:
			p.t.Fatalf("keygate dev exited during start-up\nstdout:\n%s\nstderr:\n%s", p.out.String(), tail(p.errs.String(), 30))
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("keygate dev printed nothing within %s\n%s", readyTimeout, tail(p.errs.String(), 30))
		}
	}
	out := p.out.String()
	o := devOutput{egress: map[string]string{}}
	if m := devTokenLine.FindStringSubmatch(out); m != nil {
		o.token = m[1]
	}
	if m := devSiteLine.FindStringSubmatch(out); m != nil {
		o.site = m[1]
	}
	for _, m := range devEgressLine.FindAllStringSubmatch(out, -1) {
		o.egress[m[1]] = m[2]
	}
	if o.token == "" || o.site == "" {
		p.t.Fatalf("keygate dev's printout lacks the token or the site:\n%s", out)
	}
	return o
}

// agentCall calls the package site as an agent: to 127.0.0.1 with the
// printed site's Host, as curl does for *.localhost.
func agentCall(t *testing.T, site, token string) reply {
	t.Helper()
	u, err := url.Parse(site)
	if err != nil {
		t.Fatal(err)
	}
	return sendT(t, http.MethodGet, "http://127.0.0.1:"+u.Port()+"/", u.Host, bearer(token), nil)
}

func writeDevManifest(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keygate.package.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func devManifest(keys ...map[string]any) map[string]any {
	return map[string]any{
		"name": "@dev/weather", "version": "0.1.0", "sha256": strings.Repeat("ab", 32),
		"host": "weather", "upstream": "http://127.0.0.1:1", "keys": keys,
	}
}

var (
	examplePkgOnce sync.Once
	examplePkgPath string
	examplePkgErr  error
)

// examplePackage builds examples/dev-package once per run.
func examplePackage(t *testing.T) string {
	t.Helper()
	Binary(t)
	examplePkgOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			examplePkgErr = err
			return
		}
		dir, err := runDir("keygate-dev-package-")
		if err != nil {
			examplePkgErr = err
			return
		}
		examplePkgPath = filepath.Join(dir, "dev-package")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool(), "build", "-o", examplePkgPath, "./examples/dev-package")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			examplePkgErr = fmt.Errorf("%v\n%s", err, b)
		}
	})
	if examplePkgErr != nil {
		t.Fatalf("building examples/dev-package: %v", examplePkgErr)
	}
	return examplePkgPath
}

// TestDevModeAgentToEgress runs keygate dev with the example package as
// its upstream: an agent's call with the printed token reaches the
// package, whose egress call with its invocation token reaches a stand-in
// API with the real value. No value shows in keygate's output; SIGINT
// stops it with exit 0 and removes its state file.
func TestDevModeAgentToEgress(t *testing.T) {
	value := RandomToken(t, "wk_live_")
	noteSensitive(value)
	api := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+value {
			io.WriteString(w, "forecast: sunny")
			return
		}
		http.Error(w, "no key", http.StatusUnauthorized)
	})
	pkgPort := FreePorts(t, 1)[0]
	manifest := writeDevManifest(t, devManifest(map[string]any{
		"name": "WEATHER_API_KEY", "required": true, "hosts": []string{api.Addr},
	}))
	dev := startDev(t, []string{"KEYGATE_SECRET_WEATHER_API_KEY=" + value},
		"--manifest", manifest, "--upstream", "http://127.0.0.1:"+strconv.Itoa(pkgPort))
	o := dev.ready()
	if want := "http://weather.dev.localhost:"; !strings.HasPrefix(o.site, want) {
		t.Fatalf("package site = %q, want %s<port>/", o.site, want)
	}
	egress := o.egress["WEATHER_API_KEY"]
	if egress == "" {
		t.Fatalf("no egress URL printed for WEATHER_API_KEY:\n%s", dev.out.String())
	}
	if b, err := os.ReadFile(dev.state); err != nil {
		t.Fatalf("no dev state file: %v", err)
	} else if strings.Contains(string(b), o.token) || strings.Contains(string(b), value) {
		t.Fatal("the dev state file holds a token or a value")
	}

	pkg := exec.Command(examplePackage(t), "-listen", "127.0.0.1:"+strconv.Itoa(pkgPort))
	pkg.Env = []string{"EGRESS_URL=" + egress}
	pkgOut := new(syncBuffer)
	pkg.Stdout, pkg.Stderr = pkgOut, pkgOut
	if err := pkg.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pkg.Process.Kill(); _ = pkg.Wait() })
	deadline := time.Now().Add(readyTimeout)
	for !dialOK("http://127.0.0.1:" + strconv.Itoa(pkgPort)) {
		if time.Now().After(deadline) {
			t.Fatalf("the example package did not listen:\n%s", pkgOut.String())
		}
		time.Sleep(readyPoll)
	}

	r := agentCall(t, o.site, o.token)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "weather API answered 200: forecast: sunny") {
		t.Fatalf("agent call: %s", r)
	}
	if got := api.Last(t).Header.Get("Authorization"); got != "Bearer "+value {
		t.Fatal("the stand-in API did not get the real value")
	}
	if !strings.Contains(string(r.Body), `"WEATHER_API_KEY"`) {
		t.Fatalf("the package did not see its usable keys: %s", r)
	}

	dev.cmd.Process.Signal(syscall.SIGINT)
	if code := dev.wait(); code != 0 {
		t.Fatalf("keygate dev exited %d after SIGINT\n%s", code, tail(dev.errs.String(), 20))
	}
	if _, err := os.Stat(dev.state); !os.IsNotExist(err) {
		t.Fatalf("the dev state file is still there after exit: %v", err)
	}
	AssertNotContains(t, "the secret value", value, map[string]string{
		"keygate dev stdout": dev.out.String(), "keygate dev stderr": dev.errs.String(),
		"the package's output": pkgOut.String(), "the agent's answer": string(r.Body),
	})
}

// TestDevModeMissingRequiredKey: a required key without a value answers
// 428 naming it, as in production.
func TestDevModeMissingRequiredKey(t *testing.T) {
	pkg := NewUpstream(t, nil)
	manifest := writeDevManifest(t, devManifest(
		map[string]any{"name": "WEATHER_API_KEY", "required": true, "hosts": []string{"api.weather.example"}},
		map[string]any{"name": "OPTIONAL_KEY", "hosts": []string{"127.0.0.1:9"}},
	))
	value := RandomToken(t, "opt_")
	noteSensitive(value)
	dev := startDev(t, []string{"KEYGATE_SECRET_OPTIONAL_KEY=" + value}, "--manifest", manifest, "--upstream", pkg.URL)
	o := dev.ready()
	if !strings.Contains(dev.out.String(), "WEATHER_API_KEY (required: agent calls answer 428)") {
		t.Errorf("the printout does not name the missing required key:\n%s", dev.out.String())
	}
	r := agentCall(t, o.site, o.token)
	if r.Status != http.StatusPreconditionRequired || !strings.Contains(string(r.Body), "WEATHER_API_KEY") {
		t.Fatalf("agent call without the required key: %s, want 428 naming WEATHER_API_KEY", r)
	}
	if pkg.Count() != 0 {
		t.Fatal("the package was called although a required key has no value")
	}
	dev.cmd.Process.Signal(syscall.SIGTERM)
	if code := dev.wait(); code != 0 {
		t.Fatalf("keygate dev exited %d after SIGTERM", code)
	}
	AssertNotContains(t, "the secret value", value, map[string]string{
		"keygate dev stdout": dev.out.String(), "keygate dev stderr": dev.errs.String()})
}

// TestDevModeRefusesBadInput: an undeclared KEYGATE_SECRET_* name or a
// bad manifest stops start-up with one line naming the problem, exit 1,
// and no value in it.
func TestDevModeRefusesBadInput(t *testing.T) {
	good := writeDevManifest(t, devManifest(map[string]any{"name": "WEATHER_API_KEY", "hosts": []string{"api.weather.example"}}))
	bad := writeDevManifest(t, map[string]any{"name": "no-scope", "version": "1"})
	value := RandomToken(t, "foo_")
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"undeclared name", []string{"KEYGATE_SECRET_FOO=" + value, "KEYGATE_SECRET_WEATHER_API_KEY=" + value},
			[]string{"--manifest", good}, "KEYGATE_SECRET_FOO: not declared"},
		{"empty value", []string{"KEYGATE_SECRET_WEATHER_API_KEY="}, []string{"--manifest", good}, "KEYGATE_SECRET_WEATHER_API_KEY: empty"},
		{"bad manifest", nil, []string{"--manifest", bad}, "manifest " + bad + ": invalid"},
		{"missing manifest", nil, []string{"--manifest", bad + ".nope"}, "no such file"},
		{"bad upstream", nil, []string{"--manifest", good, "--upstream", "ftp://x"}, "--upstream must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := startDev(t, tt.env, tt.args...)
			code := dev.wait()
			if code == 0 {
				t.Fatal("keygate dev started")
			}
			stderr := dev.errs.String()
			if !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("stderr = %q, want one line containing %q", stderr, tt.want)
			}
			AssertNotContains(t, "the value", value, map[string]string{"stderr": stderr, "stdout": dev.out.String()})
		})
	}
}

// TestDevModeSignWebhook: sign-webhook finds the running dev gateway from
// its state file and prints a curl line to its webhook URL whose
// signature verifies, without the signing secret in it. (The manifest
// keygate dev runs declares no webhooks until the manifest field lands;
// sign-webhook reads the webhooks from --manifest.)
func TestDevModeSignWebhook(t *testing.T) {
	manifest := writeDevManifest(t, devManifest(map[string]any{"name": "HOOK_SECRET", "hosts": []string{"api.weather.example"}}))
	hooks := writeDevManifest(t, map[string]any{"webhooks": []map[string]any{
		{"name": "github", "path": "/webhook", "scheme": "github", "secret": "HOOK_SECRET"}}})
	secret := RandomToken(t, "ghs_")
	noteSensitive(secret)
	dev := startDev(t, []string{"KEYGATE_SECRET_HOOK_SECRET=" + secret}, "--manifest", manifest)
	o := dev.ready()
	body := filepath.Join(t.TempDir(), "push.json")
	os.WriteFile(body, []byte(`{"zen":"Keep it logically awesome."}`), 0o600)

	r := RunBinary(t, append(dev.cmd.Env, "KEYGATE_SECRET_HOOK_SECRET="+secret), "",
		"dev", "sign-webhook", "github", body, "--manifest", hooks)
	if r.Code != 0 {
		t.Fatalf("sign-webhook: %s", r)
	}
	st, err := os.ReadFile(dev.state)
	if err != nil {
		t.Fatal(err)
	}
	var state struct{ Keychain string }
	json.Unmarshal(st, &state)
	if want := "'" + strings.TrimSuffix(o.site, "/") + "/_keygate/webhooks/" + state.Keychain + "/github'"; !strings.Contains(r.Stdout, want) {
		t.Fatalf("curl line lacks %s:\n%s", want, r.Stdout)
	}
	sig := regexp.MustCompile(`-H 'X-Hub-Signature-256: (sha256=[0-9a-f]{64})'`).FindStringSubmatch(r.Stdout)
	if sig == nil {
		t.Fatalf("no signature header in:\n%s", r.Stdout)
	}
	raw, _ := os.ReadFile(body)
	h := http.Header{"X-Hub-Signature-256": {sig[1]}}
	if _, err := policy.VerifyWebhook(policy.WebhookSchemeGitHub, []byte(secret), h, raw, time.Now(), 0); err != nil {
		t.Fatalf("the printed signature does not verify: %v", err)
	}
	AssertNotContains(t, "the signing secret", secret, map[string]string{
		"sign-webhook stdout": r.Stdout, "sign-webhook stderr": r.Stderr,
		"keygate dev stdout": dev.out.String(), "keygate dev stderr": dev.errs.String()})
}
