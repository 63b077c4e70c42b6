package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireCLI fails the test if the binary lacks keygate's commands, which
// happens when caddymodule stops importing caddymodule/cli.
func requireCLI(t *testing.T) {
	t.Helper()
	r := RunBinary(t, []string{"PATH=" + os.Getenv("PATH")}, "", "help")
	for _, name := range []string{"keychain", "secret", "package", "app-secret", "grant", "grants", "revoke", "audit",
		"run", "reload", "adapt", "validate", "version"} {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` `).MatchString(r.Stdout) {
			t.Fatalf("the keygate binary has no %q command (is caddymodule/cli imported?):\n%s", name, r.Stdout)
		}
	}
}

// writeManifest writes a manifest for a package whose code runs at
// upstream and that requests API_KEY, for 127.0.0.1 only.
func writeManifest(t *testing.T, dir, name, host, upstream, sha string) string {
	t.Helper()
	m := map[string]any{
		"name": name, "version": "1.0.0", "sha256": sha, "host": host, "upstream": upstream,
		"keys": []map[string]any{{
			"name": "API_KEY", "required": true,
			"description": "Key for the test API.", "hosts": []string{"127.0.0.1"},
		}},
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, host+".package.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// oneLine checks that a failed run printed exactly one line on stderr,
// starting with prefix, and nothing on stdout.
func oneLine(t *testing.T, r Result, code int, prefix string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("exit %d, want %d\n%s", r.Code, code, r)
	}
	if !strings.HasPrefix(r.Stderr, prefix) || strings.Count(r.Stderr, "\n") != 1 {
		t.Errorf("stderr %q: want one line starting with %q", r.Stderr, prefix)
	}
	if r.Stdout != "" {
		t.Errorf("stdout %q: want nothing", r.Stdout)
	}
}

// TestCLI drives the real binary against a running keygate through a
// keychain's whole life: create, set a secret, register a package, grant,
// call through ingress and egress, audit, revoke, rotate the token; and
// checks that no CLI output and no log line ever holds the secret value
// or a keychain token.
func TestCLI(t *testing.T) {
	requireCLI(t)
	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{})
	const pkgName, pkgHost = "@acme/tools", "tools"
	sha := strings.Repeat("ab", 32)
	value := RandomToken(t, "sk_test_")
	var tokens []string // every keychain token seen, for the leak scan

	// keychain create, for scripts and for people.
	r := in.MustCLI("", "keychain", "create", "--owner", "alice", "--name", "laptop", "--json")
	var created struct{ ID, Owner, Environment, Token string }
	if err := json.Unmarshal([]byte(r.Stdout), &created); err != nil {
		t.Fatalf("keychain create --json: %v\n%s", err, r)
	}
	if !regexp.MustCompile(`^kc_[a-z2-7]{26}$`).MatchString(created.ID) || created.Token == "" ||
		created.Owner != "alice" || created.Environment != "production" {
		t.Fatalf("keychain create --json: %+v", created)
	}
	kc, token := created.ID, created.Token
	tokens = append(tokens, token)

	r = in.MustCLI("", "keychain", "create", "--owner", "bob", "--env", "staging")
	m := regexp.MustCompile(`(?s)^Created keychain (kc_[a-z2-7]{26})\n.*staging.*\nToken \(shown once, store it now[^\n]*\):\n(\S+)\n$`).FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("keychain create: unexpected output:\n%s", r.Stdout)
	}
	tokens = append(tokens, m[2])

	r = in.MustCLI("", "keychain", "list", "--owner", "alice")
	if !strings.Contains(r.Stdout, kc) || strings.Contains(r.Stdout, m[1]) || !strings.HasPrefix(r.Stdout, "ID ") {
		t.Errorf("keychain list --owner alice:\n%s", r.Stdout)
	}

	// secret set: the value comes on stdin, with the newline echo adds.
	r = in.MustCLI(value+"\n", "secret", "set", kc, "API_KEY", "--allow-host", "127.0.0.1", "--rotation-days", "90")
	if !strings.Contains(r.Stdout, "Set secret API_KEY") {
		t.Errorf("secret set:\n%s", r)
	}
	r = in.MustCLI("", "secret", "list", kc)
	if !regexp.MustCompile(`(?m)^NAME\s+KIND\s+ALLOWED_HOSTS\s+VERSION\s+UPDATED\s+EXPIRES\s+ROTATION_DUE\n` +
		`API_KEY\s+static\s+127\.0\.0\.1\s+1\s+\S+\s+-\s+no \(every 90d\)$`).MatchString(r.Stdout) {
		t.Errorf("secret list:\n%s", r.Stdout)
	}
	r = in.MustCLI("", "secret", "list", kc, "--json")
	var secrets []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &secrets); err != nil || len(secrets) != 1 || secrets[0]["name"] != "API_KEY" {
		t.Errorf("secret list --json: %v\n%s", err, r.Stdout)
	}
	if _, ok := secrets[0]["value"]; ok {
		t.Error("secret list --json has a value field")
	}

	// package put, twice: created, then updated.
	manifest := writeManifest(t, t.TempDir(), pkgName, pkgHost, pkgCode.URL, sha)
	r = in.MustCLI("", "package", "put", manifest)
	if !strings.HasPrefix(r.Stdout, "Created package @acme/tools 1.0.0") {
		t.Errorf("package put:\n%s", r.Stdout)
	}
	r = in.MustCLI("", "package", "put", manifest)
	if !strings.HasPrefix(r.Stdout, "Updated package @acme/tools") {
		t.Errorf("package put again:\n%s", r.Stdout)
	}
	r = in.MustCLI("", "package", "list")
	if !strings.Contains(r.Stdout, pkgName) || !strings.Contains(r.Stdout, pkgCode.URL) {
		t.Errorf("package list:\n%s", r.Stdout)
	}
	r = in.MustCLI("", "package", "show", pkgName)
	if !strings.Contains(r.Stdout, sha) || !strings.Contains(r.Stdout, "Key for the test API.") {
		t.Errorf("package show:\n%s", r.Stdout)
	}

	// Before the grant, the agent is refused.
	if st, _, _ := in.Ingress(pkgHost, token, "GET", "/hello", nil, nil); st != http.StatusForbidden {
		t.Errorf("ingress before grant: %d, want 403", st)
	}

	r = in.MustCLI("", "grant", kc, pkgName, "API_KEY")
	if !strings.Contains(r.Stdout, "Granted package @acme/tools") || !strings.Contains(r.Stdout, ": active.") {
		t.Errorf("grant:\n%s", r.Stdout)
	}
	r = in.MustCLI("", "grants", kc)
	if !regexp.MustCompile(`(?m)^@acme/tools\s+API_KEY\s+active\s`).MatchString(r.Stdout) {
		t.Errorf("grants:\n%s", r.Stdout)
	}

	// The agent reaches the package's code, which gets the usable keys and
	// an invocation token, and through egress the value reaches the API,
	// exactly as typed: the trailing newline was stripped.
	st, _, body := in.Ingress(pkgHost, token, "GET", "/hello", nil, nil)
	if st != http.StatusOK || string(body) != "upstream ok" {
		t.Fatalf("ingress after grant: %d %s", st, body)
	}
	got := pkgCode.Last(t)
	if got.Header.Get("Keygate-Keys") != "API_KEY" {
		t.Errorf("package code got Keygate-Keys %q", got.Header.Get("Keygate-Keys"))
	}
	inv, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
	if !ok || inv == "" || inv == token {
		t.Fatalf("package code got Authorization %q, want an invocation token", got.Header.Get("Authorization"))
	}
	tokens = append(tokens, inv)
	st, _, body = in.Egress(inv, "GET", "/api/charge", nil, nil)
	if st != http.StatusOK {
		t.Fatalf("egress: %d %s", st, body)
	}
	if a := in.Upstream.Last(t).Header.Get("Authorization"); a != "Bearer "+value {
		t.Errorf("the API got Authorization %q, want the value set through the CLI", a)
	}

	// audit shows the management changes and the calls.
	r = in.MustCLI("", "audit", "--keychain", kc, "--json")
	var events []struct{ ID, Action, Decision, Keychain string }
	if err := json.Unmarshal([]byte(r.Stdout), &events); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.Stdout)
	}
	actions := map[string]bool{}
	for _, ev := range events {
		actions[ev.Action] = true
		if ev.Keychain != kc {
			t.Errorf("audit --keychain %s returned an event of %q", kc, ev.Keychain)
		}
	}
	for _, a := range []string{"keychain.create", "secret.put", "grant.put", "ingress", "egress"} {
		if !actions[a] {
			t.Errorf("audit lacks %q events: %v", a, actions)
		}
	}
	r = in.MustCLI("", "audit", "--package", pkgName, "--limit", "50")
	if !strings.HasPrefix(r.Stdout, "TIME ") || !strings.Contains(r.Stdout, "ingress") {
		t.Errorf("audit:\n%s", r.Stdout)
	}

	// audit --follow prints a call made after it started, and ends on
	// SIGINT with exit code 0.
	follow := in.StartCLI("audit", "--follow", "--keychain", kc, "--since", "1s")
	if !follow.WaitOutput("TIME", 10*time.Second) {
		t.Fatalf("audit --follow printed no header: %s", follow.Wait(5*time.Second))
	}
	in.Ingress(pkgHost, token, "GET", "/followed", nil, nil)
	if !follow.WaitOutput("ingress", 15*time.Second) {
		t.Errorf("audit --follow did not show the new call")
	}
	follow.Signal(syscall.SIGINT)
	if fr := follow.Wait(10 * time.Second); fr.Code != 0 {
		t.Errorf("audit --follow after SIGINT: %s", fr)
	}

	// revoke: refused at once.
	in.MustCLI("", "revoke", kc, pkgName)
	if st, _, _ := in.Ingress(pkgHost, token, "GET", "/hello", nil, nil); st != http.StatusForbidden {
		t.Errorf("ingress after revoke: %d, want 403", st)
	}
	r = in.MustCLI("", "grants", kc, "--json")
	if strings.TrimSpace(r.Stdout) != "[]" {
		t.Errorf("grants after revoke: %s", r.Stdout)
	}

	// Token rotation: the old token fails at once, the new one works.
	r = in.MustCLI("", "keychain", "token", kc, "--json")
	var rotated struct{ Token string }
	if err := json.Unmarshal([]byte(r.Stdout), &rotated); err != nil || rotated.Token == "" || rotated.Token == token {
		t.Fatalf("keychain token --json: %v\n%s", err, r.Stdout)
	}
	tokens = append(tokens, rotated.Token)
	in.MustCLI("", "grant", kc, pkgName, "API_KEY")
	if st, _, _ := in.Ingress(pkgHost, token, "GET", "/hello", nil, nil); st != http.StatusUnauthorized {
		t.Errorf("ingress with the rotated-out token: %d, want 401", st)
	}
	if st, _, _ := in.Ingress(pkgHost, rotated.Token, "GET", "/hello", nil, nil); st != http.StatusOK {
		t.Errorf("ingress with the new token: %d, want 200", st)
	}
	r = in.MustCLI("", "keychain", "token", kc)
	if !strings.Contains(r.Stdout, "shown once, store it now") {
		t.Errorf("keychain token:\n%s", r.Stdout)
	}
	tokens = append(tokens, strings.TrimSpace(r.Stdout[strings.LastIndex(strings.TrimSpace(r.Stdout), "\n")+1:]))

	t.Run("errors", func(t *testing.T) {
		// An invalid name: refused before any value is read.
		oneLine(t, in.CLI(value, "secret", "set", kc, "bad-name"), 1, "keygate: secret set: invalid secret name")
		// The value is never taken from the command line.
		oneLine(t, in.CLI("", "secret", "set", kc, "API_KEY", value), 2, "keygate: secret set: too many arguments")
		// An inner CR (or a second newline) reaches keygate, which refuses
		// it; the stored secret is unchanged.
		for _, v := range []string{"abc\rdef\n", value + "\n\n", "a\x00b"} {
			oneLine(t, in.CLI(v, "secret", "set", kc, "API_KEY"), 1,
				"keygate: secret set: 400 invalid: invalid value: must not contain CR, LF or NUL")
		}
		oneLine(t, in.CLI("", "secret", "set", kc, "API_KEY"), 1, "keygate: secret set: the value is empty")
		r := in.MustCLI("", "secret", "list", kc, "--json")
		if !strings.Contains(r.Stdout, `"version":1`) {
			t.Errorf("a refused value changed the secret: %s", r.Stdout)
		}
		// Unknown keychain, package.
		oneLine(t, in.CLI("", "secret", "list", "kc_aaaaaaaaaaaaaaaaaaaaaaaaaa"), 1, "keygate: secret list: 404 not_found:")
		oneLine(t, in.CLI("", "grant", kc, "@acme/nope", "API_KEY"), 1, "keygate: grant: 404 not_found:")
		// A key the package did not request.
		oneLine(t, in.CLI("", "grant", kc, pkgName, "OTHER"), 1, "keygate: grant: 400 ")
		// No admin token anywhere; a wrong one.
		oneLine(t, in.CLIEnv([]string{"KEYGATE_ADMIN_TOKEN"}, "", "keychain", "list"), 1,
			"keygate: keychain list: no admin token: set KEYGATE_ADMIN_TOKEN")
		oneLine(t, in.CLIEnv([]string{"KEYGATE_ADMIN_TOKEN=wrong"}, "", "keychain", "list"), 1,
			"keygate: keychain list: 401 unauthorized:")
		// Nothing listening.
		oneLine(t, in.CLIEnv([]string{"KEYGATE_API=http://127.0.0.1:1"}, "", "keychain", "list"), 1,
			"keygate: keychain list: is keygate running? Nothing listens at http://127.0.0.1:1")
		// Usage errors exit 2.
		oneLine(t, in.CLI("", "keychain", "create"), 2, "keygate: keychain create: --owner is required")
		oneLine(t, in.CLI("", "secret", "list", kc, "--bogus"), 2, "keygate: secret list: unknown flag: --bogus")
	})

	t.Run("delete", func(t *testing.T) {
		in.MustCLI("", "secret", "delete", kc, "API_KEY")
		if r := in.MustCLI("", "secret", "list", kc, "--json"); strings.TrimSpace(r.Stdout) != "[]" {
			t.Errorf("secret list after delete: %s", r.Stdout)
		}
		in.MustCLI("", "package", "delete", pkgName)
		in.MustCLI("", "keychain", "delete", kc)
		oneLine(t, in.CLI("", "keychain", "show", kc), 1, "keygate: keychain show: 404 not_found:")
	})

	// No CLI output and no log line holds the value or a token.
	outputs := map[string]string{"CLI output": in.CLIOutput(), "keygate's logs": in.Logs()}
	AssertNotContains(t, "the secret value", value, outputs)
	delete(outputs, "CLI output") // tokens are printed once, on purpose
	for i, tok := range tokens {
		AssertNotContains(t, fmt.Sprintf("token #%d", i), tok, outputs)
	}
}

// TestCLIFirstRun checks the embedded default: keygate creates its admin
// token file, and the CLI finds it without KEYGATE_ADMIN_TOKEN.
func TestCLIFirstRun(t *testing.T) {
	requireCLI(t)
	in := Start(t, Config{FirstRun: true})
	if fi, err := os.Stat(filepath.Join(in.StoreDir, "admin.token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v %v", fi, err)
	}
	r := in.CLIEnv([]string{"KEYGATE_ADMIN_TOKEN"}, "", "keychain", "create", "--owner", "carol", "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"owner":"carol"`) {
		t.Fatalf("keychain create with the token file: %s", r)
	}
	AssertNotContains(t, "the admin token", in.AdminToken, map[string]string{"keygate's logs": in.Logs(), "CLI output": in.CLIOutput()})
}

// TestCaddyCommands checks that Caddy's own commands still work beside
// keygate's, and that reload keeps the store.
func TestCaddyCommands(t *testing.T) {
	requireCLI(t)
	in := Start(t, Config{})
	env := in.cliEnv(nil)
	if r := RunBinary(t, env, "", "version"); r.Code != 0 || r.Stdout == "" {
		t.Errorf("version: %s", r)
	}
	if r := RunBinary(t, env, "", "adapt", "--config", in.Caddyfile, "--adapter", "caddyfile"); r.Code != 0 ||
		!strings.Contains(r.Stdout, `"keygate"`) {
		t.Errorf("adapt: %s", r)
	}
	// validate provisions the keygate app, which opens the store: give it
	// a store of its own, as the running instance holds its directory's
	// lock.
	other := filepath.Join(t.TempDir(), "Caddyfile")
	cf := strings.ReplaceAll(in.RenderCaddyfile(in.Config), filepath.Join(in.Dir, "data", "store"), filepath.Join(t.TempDir(), "store"))
	if err := os.WriteFile(other, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := RunBinary(t, env, "", "validate", "--config", other, "--adapter", "caddyfile"); r.Code != 0 {
		t.Errorf("validate: %s", r)
	}
	in.MustCLI("", "keychain", "create", "--owner", "dave")
	cfg := in.Config
	cfg.ExtraPorts = 1
	cfg.ExtraSites = "http://:{{index .Extra 0}} {\n\tbind 127.0.0.1\n\trespond \"extra\"\n}"
	in.Reload(cfg)
	if st, _, b := in.Do("GET", "http://127.0.0.1:"+strconv.Itoa(in.Ports.Extra[0])+"/", "", nil, nil); st != 200 || string(b) != "extra" {
		t.Errorf("the reloaded config's new site: %d %q", st, b)
	}
	if r := in.MustCLI("", "keychain", "list", "--owner", "dave"); strings.Count(r.Stdout, "kc_") != 1 {
		t.Errorf("keychain list after reload:\n%s", r.Stdout)
	}
	// And after a restart.
	in.Restart()
	if r := in.MustCLI("", "keychain", "list", "--owner", "dave"); strings.Count(r.Stdout, "kc_") != 1 {
		t.Errorf("keychain list after restart:\n%s", r.Stdout)
	}
}

// TestCLISecretPrompt types a value at the no-echo prompt of secret set,
// on a real terminal (util-linux script(1) provides one), and checks that
// the terminal never shows it and that the value arrives intact.
func TestCLISecretPrompt(t *testing.T) {
	requireCLI(t)
	if runtime.GOOS != "linux" {
		t.Skip("needs util-linux script(1)")
	}
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("no script(1) to provide a terminal")
	}
	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{})
	r := in.MustCLI("", "keychain", "create", "--owner", "erin", "--json")
	var kc struct{ ID, Token string }
	if err := json.Unmarshal([]byte(r.Stdout), &kc); err != nil {
		t.Fatal(err)
	}
	value := RandomToken(t, "tty_value_")

	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	line := "'" + Binary(t) + "' secret set " + kc.ID + " API_KEY --allow-host 127.0.0.1"
	cmd := exec.CommandContext(ctx, scriptBin, "-q", "-e", "-c", line, "/dev/null")
	cmd.Env = mergeEnv(in.cliEnv(nil), []string{"SHELL=/bin/sh", "TERM=dumb"})
	typed, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	screen := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = screen, screen
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	prompted := false
	for i := 0; i < 200 && !prompted; i++ {
		prompted = strings.Contains(screen.String(), "(input hidden): ")
		time.Sleep(50 * time.Millisecond)
	}
	if !prompted {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no prompt; the terminal shows %q", screen.String())
	}
	io.WriteString(typed, value+"\n")
	err = cmd.Wait()
	typed.Close()
	if err != nil {
		t.Fatalf("secret set on a terminal: %v; the terminal shows %q", err, screen.String())
	}
	if !strings.Contains(screen.String(), "Set secret API_KEY") {
		t.Errorf("the terminal shows %q", screen.String())
	}
	AssertNotContains(t, "the typed value", value, map[string]string{"the terminal": screen.String()})

	// The value arrives as typed, without the line end.
	manifest := writeManifest(t, t.TempDir(), "@acme/tty", "tty", pkgCode.URL, strings.Repeat("cd", 32))
	in.MustCLI("", "package", "put", manifest)
	in.MustCLI("", "grant", kc.ID, "@acme/tty", "API_KEY")
	if st, _, b := in.Ingress("tty", kc.Token, "GET", "/", nil, nil); st != http.StatusOK {
		t.Fatalf("ingress: %d %s", st, b)
	}
	inv := strings.TrimPrefix(pkgCode.Last(t).Header.Get("Authorization"), "Bearer ")
	if st, _, b := in.Egress(inv, "GET", "/api/x", nil, nil); st != http.StatusOK {
		t.Fatalf("egress: %d %s", st, b)
	}
	if got := in.Upstream.Last(t).Header.Get("Authorization"); got != "Bearer "+value {
		t.Errorf("the API got %q, want the typed value", got)
	}
}
