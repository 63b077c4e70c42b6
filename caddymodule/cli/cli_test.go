package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// fakeAPI stands in for keygate's management API: it records every
// request and answers from a table keyed by "METHOD escaped-path".
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []recorded
	answers map[string]answer
	// handler, when set, answers instead of the table.
	handler http.HandlerFunc
}

type recorded struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   []byte
}

type answer struct {
	status int
	body   string
	ctype  string // default application/json when body is set
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, answers: map[string]answer{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Setenv(envAPI, f.srv.URL)
	t.Setenv(envToken, "admintok")
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	return f
}

func (f *fakeAPI) on(method, path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method+" "+path] = answer{status: status, body: body}
}

func (f *fakeAPI) onProblem(method, path string, status int, kind, detail string) {
	b, _ := json.Marshal(map[string]any{
		"type": "urn:keygate:problem:" + kind, "title": http.StatusText(status),
		"status": status, "detail": detail,
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[method+" "+path] = answer{status: status, body: string(b), ctype: "application/problem+json"}
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: body,
	})
	h := f.handler
	a, ok := f.answers[r.Method+" "+r.URL.EscapedPath()]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if !ok {
		a = answer{status: 404, ctype: "application/problem+json",
			body: `{"type":"urn:keygate:problem:not_found","title":"Not Found","status":404,"detail":"no such route"}`}
	}
	if a.body != "" {
		ct := a.ctype
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (f *fakeAPI) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

// result is one run of the CLI.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the commands as caddycmd would: each under a root command,
// built afresh from commands().
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runCLIContext(t, context.Background(), stdin, args...)
}

func runCLIContext(t *testing.T, ctx context.Context, stdin string, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "keygate", SilenceUsage: true}
	for _, c := range commands() {
		cc := &cobra.Command{Use: c.Name + " " + c.Usage, Short: c.Short, Long: c.Long}
		c.CobraFunc(cc)
		root.AddCommand(cc)
	}
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	r := result{stdout: out.String(), stderr: errOut.String()}
	if err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("%v: error %v is not an exit status", args, err)
		}
		r.code = ee.code
	}
	return r
}

// oneErrorLine checks that stderr is exactly one line starting with prefix.
func oneErrorLine(t *testing.T, r result, prefix string) {
	t.Helper()
	if !strings.HasPrefix(r.stderr, prefix) || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr = %q, want one line starting with %q", r.stderr, prefix)
	}
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

const (
	kcJSON = `{"id":"kc_aaaaaaaaaaaaaaaaaaaaaaaaaa","owner":"alice","environment":"staging","name":"N",` +
		`"created_at":"2026-01-02T15:04:05Z","token_version":1}`
	secretsJSON = `[{"name":"API_KEY","allowed_hosts":["api.example.com"],"rotation_hint_days":90,` +
		`"created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-03T15:04:05Z","version":3,"rotation_due":true},` +
		`{"name":"GH","allowed_hosts":["api.github.com"],"created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-03T15:04:05Z",` +
		`"version":1,"kind":"oauth","scopes":["repo","read:user"],"expires_at":"2026-02-01T00:00:00Z"}]`
	manifestJSON = `{"name":"@acme/tools","version":"1.0.0","sha256":"` + sha + `","host":"tools",` +
		`"upstream":"http://127.0.0.1:9001","keys":[{"name":"API_KEY","required":true,"description":"why","hosts":["api.example.com"]}]}`
	grantJSON = `{"keychain":"kc_aaaaaaaaaaaaaaaaaaaaaaaaaa","package":"@acme/tools","keys":["API_KEY"],"sha256":"` + sha + `",` +
		`"created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-02T15:04:05Z","status":"active","current_sha256":"` + sha + `"}`
	eventsJSON = `[{"id":"e2","time":"2026-01-02T15:04:06Z","actor":"agent","action":"ingress","keychain":"kc_1","package":"@acme/tools","keys":["API_KEY"],"decision":"allow","status":200},` +
		`{"id":"e1","time":"2026-01-02T15:04:05Z","actor":"admin","action":"grant.put","keychain":"kc_1","package":"@acme/tools","decision":"ok"}]`
	sha = "9f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c"
	kc  = "kc_aaaaaaaaaaaaaaaaaaaaaaaaaa"
)

// TestRequests checks the request each command sends and what it prints.
func TestRequests(t *testing.T) {
	dir := t.TempDir()
	manifestFile := filepath.Join(dir, "keygate.package.json")
	if err := os.WriteFile(manifestFile, []byte(manifestJSON+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		answers  map[string]answer // "METHOD path" -> answer
		wantReqs []string          // "METHOD path?query"
		wantBody string            // JSON body of the last request, if any
		wantOut  []string          // substrings of stdout
	}{
		{
			name:     "keychain create",
			args:     []string{"keychain", "create", "--owner", "alice", "--env", "staging", "--name", "N"},
			answers:  map[string]answer{"POST /v1/keychains": {status: 201, body: strings.TrimSuffix(kcJSON, "}") + `,"token":"kctok.abc.def"}`}},
			wantReqs: []string{"POST /v1/keychains"},
			wantBody: `{"owner":"alice","environment":"staging","name":"N"}`,
			wantOut:  []string{"Created keychain " + kc, "staging", "shown once, store it now", "\nkctok.abc.def\n"},
		},
		{
			name:     "keychain create defaults",
			args:     []string{"keychain", "create", "--owner", "alice"},
			answers:  map[string]answer{"POST /v1/keychains": {status: 201, body: kcJSON}},
			wantReqs: []string{"POST /v1/keychains"},
			wantBody: `{"owner":"alice"}`,
		},
		{
			name:     "keychain list",
			args:     []string{"keychain", "list", "--owner", "alice"},
			answers:  map[string]answer{"GET /v1/keychains": {status: 200, body: "[" + kcJSON + "]"}},
			wantReqs: []string{"GET /v1/keychains?owner=alice"},
			wantOut:  []string{"ID ", "OWNER", kc, "alice", "2026-01-02T15:04:05Z"},
		},
		{
			name: "keychain show",
			args: []string{"keychain", "show", kc},
			answers: map[string]answer{"GET /v1/keychains/" + kc: {status: 200, body: strings.TrimSuffix(kcJSON, "}") +
				`,"secrets":` + secretsJSON + `,"grants":[` + grantJSON + `]}`}},
			wantReqs: []string{"GET /v1/keychains/" + kc},
			wantOut:  []string{"Owner", "alice", "Secrets:", "API_KEY", "api.example.com", "Grants:", "@acme/tools", "active"},
		},
		{
			name:     "keychain delete",
			args:     []string{"keychain", "delete", kc},
			answers:  map[string]answer{"DELETE /v1/keychains/" + kc: {status: 204}},
			wantReqs: []string{"DELETE /v1/keychains/" + kc},
			wantOut:  []string{"Deleted keychain " + kc},
		},
		{
			name:     "keychain token",
			args:     []string{"keychain", "token", kc},
			answers:  map[string]answer{"POST /v1/keychains/" + kc + "/token": {status: 200, body: `{"token":"newtok.x.y"}`}},
			wantReqs: []string{"POST /v1/keychains/" + kc + "/token"},
			wantOut:  []string{"shown once", "\nnewtok.x.y\n"},
		},
		{
			name:     "secret set with metadata",
			args:     []string{"secret", "set", kc, "API_KEY", "--allow-host", "a.example.com", "--allow-host", "b.example.com:443,*.c.example.com", "--rotation-days", "90"},
			stdin:    "v4lue\n",
			answers:  map[string]answer{"PUT /v1/keychains/" + kc + "/secrets/API_KEY": {status: 204}},
			wantReqs: []string{"PUT /v1/keychains/" + kc + "/secrets/API_KEY"},
			wantBody: `{"value":"v4lue","allowed_hosts":["a.example.com","b.example.com:443","*.c.example.com"],"rotation_hint_days":90}`,
			wantOut:  []string{"Set secret API_KEY in keychain " + kc},
		},
		{
			name:  "secret set keeps metadata",
			args:  []string{"secret", "set", kc, "API_KEY"},
			stdin: "n3w\r\n",
			answers: map[string]answer{
				"GET /v1/keychains/" + kc + "/secrets":         {status: 200, body: secretsJSON},
				"PUT /v1/keychains/" + kc + "/secrets/API_KEY": {status: 204},
			},
			wantReqs: []string{"GET /v1/keychains/" + kc + "/secrets", "PUT /v1/keychains/" + kc + "/secrets/API_KEY"},
			wantBody: `{"value":"n3w","allowed_hosts":["api.example.com"],"rotation_hint_days":90}`,
		},
		{
			name:  "secret set new secret without hosts",
			args:  []string{"secret", "set", kc, "OTHER", "--rotation-days", "7"},
			stdin: "x",
			answers: map[string]answer{
				"GET /v1/keychains/" + kc + "/secrets":       {status: 200, body: secretsJSON},
				"PUT /v1/keychains/" + kc + "/secrets/OTHER": {status: 204},
			},
			wantReqs: []string{"GET /v1/keychains/" + kc + "/secrets", "PUT /v1/keychains/" + kc + "/secrets/OTHER"},
			wantBody: `{"value":"x","allowed_hosts":[],"rotation_hint_days":7}`,
			wantOut:  []string{"allowed hosts: none"},
		},
		{
			name:     "secret list",
			args:     []string{"secret", "list", kc},
			answers:  map[string]answer{"GET /v1/keychains/" + kc + "/secrets": {status: 200, body: secretsJSON}},
			wantReqs: []string{"GET /v1/keychains/" + kc + "/secrets"},
			wantOut:  []string{"NAME", "KIND", "ALLOWED_HOSTS", "VERSION", "UPDATED", "EXPIRES", "ROTATION_DUE", "API_KEY", "static", "api.example.com", "3", "2026-01-03T15:04:05Z", "yes (every 90d)", "GH", "oauth (repo,read:user)", "2026-02-01T00:00:00Z"},
		},
		{
			name:     "secret delete",
			args:     []string{"secret", "delete", kc, "API_KEY"},
			answers:  map[string]answer{"DELETE /v1/keychains/" + kc + "/secrets/API_KEY": {status: 204}},
			wantReqs: []string{"DELETE /v1/keychains/" + kc + "/secrets/API_KEY"},
		},
		{
			name:     "package put created",
			args:     []string{"package", "put", manifestFile},
			answers:  map[string]answer{"PUT /v1/packages/@acme%2Ftools": {status: 201, body: manifestJSON}},
			wantReqs: []string{"PUT /v1/packages/@acme%2Ftools"},
			wantBody: manifestJSON,
			wantOut:  []string{"Created package @acme/tools 1.0.0 (host tools, sha256 9f2c4d1e8b7a)"},
		},
		{
			name:     "package put updated from stdin",
			args:     []string{"package", "put", "-"},
			stdin:    manifestJSON,
			answers:  map[string]answer{"PUT /v1/packages/@acme%2Ftools": {status: 200, body: manifestJSON}},
			wantReqs: []string{"PUT /v1/packages/@acme%2Ftools"},
			wantBody: manifestJSON,
			wantOut:  []string{"Updated package @acme/tools"},
		},
		{
			name:     "package list",
			args:     []string{"package", "list"},
			answers:  map[string]answer{"GET /v1/packages": {status: 200, body: "[" + manifestJSON + "]"}},
			wantReqs: []string{"GET /v1/packages"},
			wantOut:  []string{"NAME", "@acme/tools", "1.0.0", "tools", "http://127.0.0.1:9001", "API_KEY"},
		},
		{
			name:     "package show",
			args:     []string{"package", "show", "@acme/tools"},
			answers:  map[string]answer{"GET /v1/packages/@acme%2Ftools": {status: 200, body: manifestJSON}},
			wantReqs: []string{"GET /v1/packages/@acme%2Ftools"},
			wantOut:  []string{sha, "Keys:", "API_KEY", "yes", "why"},
		},
		{
			name:     "package delete",
			args:     []string{"package", "delete", "@acme/tools"},
			answers:  map[string]answer{"DELETE /v1/packages/@acme%2Ftools": {status: 204}},
			wantReqs: []string{"DELETE /v1/packages/@acme%2Ftools"},
		},
		{
			name:     "app-secret set",
			args:     []string{"app-secret", "set", "@acme/tools", "WEBHOOK_SECRET"},
			stdin:    "wh\"sec\\ret\n",
			answers:  map[string]answer{"PUT /v1/packages/@acme%2Ftools/app-secrets/WEBHOOK_SECRET": {status: 204}},
			wantReqs: []string{"PUT /v1/packages/@acme%2Ftools/app-secrets/WEBHOOK_SECRET"},
			wantBody: `{"value":"wh\"sec\\ret"}`,
		},
		{
			name:     "grant",
			args:     []string{"grant", kc, "@acme/tools", "API_KEY", "OTHER"},
			answers:  map[string]answer{"PUT /v1/keychains/" + kc + "/grants/@acme%2Ftools": {status: 200, body: grantJSON}},
			wantReqs: []string{"PUT /v1/keychains/" + kc + "/grants/@acme%2Ftools"},
			wantBody: `{"keys":["API_KEY","OTHER"]}`,
			wantOut:  []string{"Granted package @acme/tools", "active"},
		},
		{
			name: "grant --all",
			args: []string{"grant", kc, "@acme/tools", "--all"},
			answers: map[string]answer{
				"GET /v1/packages/@acme%2Ftools":                    {status: 200, body: manifestJSON},
				"PUT /v1/keychains/" + kc + "/grants/@acme%2Ftools": {status: 200, body: grantJSON},
			},
			wantReqs: []string{"GET /v1/packages/@acme%2Ftools", "PUT /v1/keychains/" + kc + "/grants/@acme%2Ftools"},
			wantBody: `{"keys":["API_KEY"]}`,
		},
		{
			name: "grants",
			args: []string{"grants", kc},
			answers: map[string]answer{"GET /v1/keychains/" + kc + "/grants": {status: 200, body: `[` + grantJSON + `,` +
				strings.Replace(grantJSON, `"status":"active"`, `"status":"stale"`, 1) + `]`}},
			wantReqs: []string{"GET /v1/keychains/" + kc + "/grants"},
			wantOut:  []string{"PACKAGE", "STATUS", "@acme/tools", "active", "stale: the package changed"},
		},
		{
			name:     "revoke",
			args:     []string{"revoke", kc, "@acme/tools"},
			answers:  map[string]answer{"DELETE /v1/keychains/" + kc + "/grants/@acme%2Ftools": {status: 204}},
			wantReqs: []string{"DELETE /v1/keychains/" + kc + "/grants/@acme%2Ftools"},
			wantOut:  []string{"Revoked package @acme/tools"},
		},
		{
			name:     "audit",
			args:     []string{"audit", "--keychain", "kc_1", "--package", "@acme/tools", "--since", "2026-01-02T15:04:05Z", "--limit", "5"},
			answers:  map[string]answer{"GET /v1/audit": {status: 200, body: eventsJSON}},
			wantReqs: []string{"GET /v1/audit?keychain=kc_1&limit=5&package=%40acme%2Ftools&since=2026-01-02T15%3A04%3A05Z"},
			wantOut:  []string{"TIME", "ACTION", "grant.put", "ingress", "allow", "200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			for k, a := range tt.answers {
				method, path, _ := strings.Cut(k, " ")
				f.on(method, path, a.status, a.body)
			}
			r := runCLI(t, tt.stdin, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			reqs := f.requests()
			var got []string
			for _, q := range reqs {
				s := q.Method + " " + q.Path
				if q.Query != "" {
					s += "?" + q.Query
				}
				got = append(got, s)
				if q.Auth != "Bearer admintok" {
					t.Errorf("%s: Authorization = %q", s, q.Auth)
				}
			}
			if !reflect.DeepEqual(got, tt.wantReqs) {
				t.Fatalf("requests = %q, want %q", got, tt.wantReqs)
			}
			last := reqs[len(reqs)-1]
			if tt.wantBody != "" {
				if last.ContentType != "application/json" {
					t.Errorf("Content-Type = %q", last.ContentType)
				}
				jsonEqual(t, last.Body, tt.wantBody)
			} else if len(last.Body) != 0 {
				t.Errorf("unexpected body %q", last.Body)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			if tt.stdin != "" && strings.Contains(tt.args[0], "secret") {
				v := strings.TrimSpace(tt.stdin)
				if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
					t.Errorf("output shows the value:\n%s%s", r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestJSON checks that --json prints the API's JSON as it came, and
// nothing for answers without a body.
func TestJSON(t *testing.T) {
	f := newFakeAPI(t)
	created := strings.TrimSuffix(kcJSON, "}") + `,"token":"kctok"}`
	f.on("POST", "/v1/keychains", 201, created)
	f.on("GET", "/v1/keychains/"+kc+"/secrets", 200, secretsJSON)
	f.on("GET", "/v1/audit", 200, eventsJSON)
	f.on("DELETE", "/v1/keychains/"+kc, 204, "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keychain", "create", "--owner", "alice", "--json"}, created + "\n"},
		{[]string{"secret", "list", kc, "--json"}, secretsJSON + "\n"},
		{[]string{"audit", "--json"}, eventsJSON + "\n"},
		{[]string{"keychain", "delete", kc, "--json"}, ""},
	} {
		args := tc.args
		r := runCLI(t, "", args...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%v: exit %d, stdout %q, want %q (stderr %q)", args, r.code, r.stdout, tc.want, r.stderr)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	t.Run("problem", func(t *testing.T) {
		f := newFakeAPI(t)
		f.on("GET", "/v1/keychains/"+kc+"/secrets", 200, "[]")
		f.onProblem("PUT", "/v1/keychains/"+kc+"/secrets/API_KEY", 400, "invalid", "invalid value: must not contain CR, LF or NUL")
		r := runCLI(t, "a\rb\n", "secret", "set", kc, "API_KEY")
		if r.code != 1 || r.stdout != "" {
			t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
		}
		if want := "keygate: secret set: 400 invalid: invalid value: must not contain CR, LF or NUL\n"; r.stderr != want {
			t.Errorf("stderr = %q, want %q", r.stderr, want)
		}
		reqs := f.requests()
		jsonEqual(t, reqs[len(reqs)-1].Body, `{"value":"a\rb","allowed_hosts":[]}`)
	})
	t.Run("not problem JSON", func(t *testing.T) {
		f := newFakeAPI(t)
		f.handler = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html>\n<h1>upstream said sk_live_leak</h1></html>")
		}
		r := runCLI(t, "", "keychain", "list")
		if r.code != 1 {
			t.Fatalf("exit %d", r.code)
		}
		if r.stderr != "keygate: keychain list: 502 bad_gateway\n" {
			t.Errorf("stderr = %q", r.stderr)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		f := newFakeAPI(t)
		f.onProblem("GET", "/v1/packages", 401, "unauthorized", "send the admin token as Authorization: Bearer <token>")
		r := runCLI(t, "", "package", "list")
		if r.code != 1 {
			t.Fatalf("exit %d", r.code)
		}
		oneErrorLine(t, r, "keygate: package list: 401 unauthorized: send the admin token")
		if !strings.Contains(r.stderr, envToken) || strings.Contains(r.stderr, "admintok") {
			t.Errorf("stderr = %q: want the token's source, not the token", r.stderr)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		f := newFakeAPI(t)
		f.srv.Close()
		r := runCLI(t, "", "keychain", "list")
		if r.code != 1 {
			t.Fatalf("exit %d", r.code)
		}
		oneErrorLine(t, r, "keygate: keychain list: is keygate running? Nothing listens at "+f.srv.URL+" (connection refused)")
	})
	t.Run("redirect not followed", func(t *testing.T) {
		other := newFakeAPI(t) // sets the env first; f below replaces it
		f := newFakeAPI(t)
		f.handler = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.srv.URL+"/v1/keychains", http.StatusTemporaryRedirect)
		}
		r := runCLI(t, "", "keychain", "list")
		if r.code != 1 {
			t.Fatalf("exit %d", r.code)
		}
		oneErrorLine(t, r, "keygate: keychain list: 307 temporary_redirect: unexpected redirect")
		if n := len(other.requests()); n != 0 {
			t.Errorf("the redirect was followed (%d requests)", n)
		}
	})
}

// TestSecretValueInput checks how values are read: from stdin only, one
// trailing newline stripped, refused locally when empty or not text, and
// never echoed.
func TestSecretValueInput(t *testing.T) {
	const path = "/v1/keychains/" + kc + "/secrets/API_KEY"
	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantCode  int
		wantValue string // sent value when wantCode is 0
		wantErr   string // stderr prefix otherwise
	}{
		{name: "LF stripped", stdin: "abc\n", wantValue: "abc"},
		{name: "CRLF stripped", stdin: "abc\r\n", wantValue: "abc"},
		{name: "one newline only", stdin: "abc\n\n", wantValue: "abc\n"},
		{name: "no newline", stdin: "abc", wantValue: "abc"},
		{name: "spaces kept", stdin: " a b \n", wantValue: " a b "},
		{name: "empty", stdin: "", wantCode: 1, wantErr: "keygate: secret set: the value is empty"},
		{name: "only newline", stdin: "\n", wantCode: 1, wantErr: "keygate: secret set: the value is empty"},
		{name: "not UTF-8", stdin: "a\xffb", wantCode: 1, wantErr: "keygate: secret set: the value is not valid UTF-8"},
		{name: "too long", stdin: strings.Repeat("x", maxValueRead+1), wantCode: 1, wantErr: "keygate: secret set: the value is longer"},
		{name: "value argument", args: []string{"secret", "set", kc, "API_KEY", "sk_live_argv"}, stdin: "abc",
			wantCode: 2, wantErr: "keygate: secret set: too many arguments: the value is read from stdin"},
		{name: "value flag", args: []string{"secret", "set", kc, "API_KEY", "--value=sk_live_flag"}, stdin: "abc",
			wantCode: 2, wantErr: "keygate: secret set: unknown flag: --value"},
		{name: "value shorthand", args: []string{"secret", "set", kc, "API_KEY", "-sk_live_short"}, stdin: "abc",
			wantCode: 2, wantErr: "keygate: secret set: unknown shorthand flag 's'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", "/v1/keychains/"+kc+"/secrets", 200, "[]")
			f.on("PUT", path, 204, "")
			args := tt.args
			if args == nil {
				args = []string{"secret", "set", kc, "API_KEY", "--allow-host", "api.example.com"}
			}
			r := runCLI(t, tt.stdin, args...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d (stderr %q)", r.code, tt.wantCode, r.stderr)
			}
			for _, leak := range []string{"sk_live", "sk-live", "abc", "a b", "\xff"} {
				if strings.Contains(r.stdout+r.stderr, leak) {
					t.Errorf("output shows %q:\n%s%s", leak, r.stdout, r.stderr)
				}
			}
			var puts []recorded
			for _, q := range f.requests() {
				if q.Method == "PUT" {
					puts = append(puts, q)
				}
			}
			if tt.wantCode != 0 {
				oneErrorLine(t, r, tt.wantErr)
				if len(puts) != 0 {
					t.Errorf("sent %d PUTs, want none", len(puts))
				}
				return
			}
			if len(puts) != 1 {
				t.Fatalf("sent %d PUTs, want 1", len(puts))
			}
			var body struct{ Value string }
			if err := json.Unmarshal(puts[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Value != tt.wantValue {
				t.Errorf("value = %q, want %q", body.Value, tt.wantValue)
			}
		})
	}
}

func TestInvalidNameRefusedLocally(t *testing.T) {
	for _, args := range [][]string{
		{"secret", "set", kc, "sk-live-name"},
		{"secret", "set", kc, "9abc"},
		{"secret", "delete", kc, "sk-live-name"},
		{"app-secret", "set", "@acme/tools", "sk-live-name"},
		{"grant", kc, "@acme/tools", "sk-live-name"},
	} {
		f := newFakeAPI(t)
		r := runCLI(t, "value\n", args...)
		if r.code != 1 {
			t.Errorf("%v: exit %d, want 1", args, r.code)
		}
		if !strings.Contains(r.stderr, "name: it must match") || strings.Contains(r.stderr, "sk-live") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("%v: sent %d requests", args, n)
		}
	}
}

func TestAdminToken(t *testing.T) {
	t.Run("file fallback", func(t *testing.T) {
		f := newFakeAPI(t)
		f.on("GET", "/v1/packages", 200, "[]")
		t.Setenv(envToken, "")
		data := t.TempDir()
		t.Setenv("XDG_DATA_HOME", data)
		dir := filepath.Join(data, "caddy", "keygate")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("kgadm_fromfile\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := runCLI(t, "", "package", "list"); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if got := f.requests()[0].Auth; got != "Bearer kgadm_fromfile" {
			t.Errorf("Authorization = %q", got)
		}
		// The environment wins over the file.
		t.Setenv(envToken, "fromenv")
		runCLI(t, "", "package", "list")
		if got := f.requests()[1].Auth; got != "Bearer fromenv" {
			t.Errorf("Authorization = %q", got)
		}
	})
	t.Run("missing", func(t *testing.T) {
		f := newFakeAPI(t)
		t.Setenv(envToken, "")
		r := runCLI(t, "", "package", "list")
		if r.code != 1 {
			t.Fatalf("exit %d", r.code)
		}
		oneErrorLine(t, r, "keygate: package list: no admin token: set KEYGATE_ADMIN_TOKEN")
		if !strings.Contains(r.stderr, filepath.Join("caddy", "keygate", "admin.token")) {
			t.Errorf("stderr %q does not name the token file", r.stderr)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("sent %d requests", n)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		newFakeAPI(t)
		t.Setenv(envToken, "")
		data := t.TempDir()
		t.Setenv("XDG_DATA_HOME", data)
		dir := filepath.Join(data, "caddy", "keygate")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "admin.token"), []byte("\n"), 0o600)
		r := runCLI(t, "", "package", "list")
		if r.code != 1 || !strings.Contains(r.stderr, "is empty") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("control character", func(t *testing.T) {
		newFakeAPI(t)
		t.Setenv(envToken, "a\x01secretpart")
		r := runCLI(t, "", "package", "list")
		if r.code != 1 || strings.Contains(r.stderr, "secretpart") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

func TestAPIFlag(t *testing.T) {
	f := newFakeAPI(t)
	f.on("GET", "/v1/packages", 200, "[]")
	t.Setenv(envAPI, "http://127.0.0.1:1")
	if r := runCLI(t, "", "package", "list", "--api", f.srv.URL+"/"); r.code != 0 {
		t.Fatalf("--api not used: exit %d, %s", r.code, r.stderr)
	}
	for _, api := range []string{"ftp://x", "127.0.0.1:8080", "http://user:pw@127.0.0.1:8080", "http://127.0.0.1:8080/?q=1"} {
		r := runCLI(t, "", "package", "list", "--api", api)
		if r.code != 2 || strings.Contains(r.stderr, "pw") {
			t.Errorf("--api %s: exit %d, stderr %q", api, r.code, r.stderr)
		}
	}
	r := runCLI(t, "", "package", "list", "--api", "http://192.0.2.1:1")
	if !strings.Contains(r.stderr, "warning: sending the admin token over plain HTTP") {
		t.Errorf("no plain-HTTP warning: %q", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	newFakeAPI(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keychain"}, "keygate: keychain: missing subcommand"},
		{[]string{"keychain", "bogus-sk"}, "keygate: keychain: unknown subcommand"},
		{[]string{"keychain", "create"}, "keygate: keychain create: --owner is required"},
		{[]string{"keychain", "create", "--owner"}, "keygate: keychain create: flag needs an argument"},
		{[]string{"keychain", "create", "--owner", "a", "extra"}, "keygate: keychain create: too many arguments"},
		{[]string{"keychain", "show"}, "keygate: keychain show: missing arguments: usage: show <keychain>"},
		{[]string{"keychain", "list", "--bogus"}, "keygate: keychain list: unknown flag: --bogus"},
		{[]string{"secret", "set", kc, "A", "--rotation-days", "x"}, "keygate: secret set: invalid argument"},
		{[]string{"secret", "set", kc, "A", "--rotation-days", "-1"}, "keygate: secret set: --rotation-days must not be negative"},
		{[]string{"grant", kc}, "keygate: grant: missing arguments"},
		{[]string{"grant", kc, "@acme/tools"}, "keygate: grant: name the keys to approve, or --all"},
		{[]string{"grant", kc, "@acme/tools", "API_KEY", "--all"}, "keygate: grant: name keys or give --all, not both"},
		{[]string{"revoke", kc, "@a/b", "c"}, "keygate: revoke: too many arguments"},
		{[]string{"audit", "--limit", "0"}, "keygate: audit: --limit must be from 1 to 1000"},
		{[]string{"audit", "--limit", "1001"}, "keygate: audit: --limit must be from 1 to 1000"},
		{[]string{"audit", "--since", "yesterday"}, "keygate: audit: --since must be an RFC 3339 time"},
		{[]string{"package", "put"}, "keygate: package put: missing arguments"},
	} {
		r := runCLI(t, "", tc.args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, r.code, r.stderr)
		}
		oneErrorLine(t, r, tc.want)
		if strings.Contains(r.stderr, "bogus-sk") {
			t.Errorf("%v: stderr echoes the argument: %q", tc.args, r.stderr)
		}
	}
}

func TestPackagePutFileErrors(t *testing.T) {
	f := newFakeAPI(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	noName := filepath.Join(dir, "noname.json")
	os.WriteFile(noName, []byte(`{"version":"1"}`), 0o600)
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.json"), "keygate: package put: reading the manifest:"},
		{bad, "keygate: package put: " + bad + " is not a JSON manifest"},
		{noName, "keygate: package put: " + noName + ` has no "name"`},
	} {
		r := runCLI(t, "", "package", "put", tc.file)
		if r.code != 1 {
			t.Errorf("%s: exit %d", tc.file, r.code)
		}
		oneErrorLine(t, r, tc.want)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("sent %d requests", n)
	}
}

// TestOutputSanitized checks that text from the server cannot write
// terminal escapes or extra lines.
func TestOutputSanitized(t *testing.T) {
	f := newFakeAPI(t)
	evil := strings.Replace(manifestJSON, `"description":"why"`, `"description":"why\u001b]0;pwned\u0007\nFAKE LINE"`, 1)
	f.on("GET", "/v1/packages/@acme%2Ftools", 200, evil)
	f.onProblem("GET", "/v1/packages", 400, "invalid", "bad\u001b[2J\nsecond line")
	r := runCLI(t, "", "package", "show", "@acme/tools")
	if strings.ContainsAny(r.stdout, "\x1b\x07") {
		t.Errorf("stdout holds control characters: %q", r.stdout)
	}
	r = runCLI(t, "", "package", "list")
	oneErrorLine(t, r, "keygate: package list: 400 invalid: bad")
	if strings.ContainsAny(r.stderr, "\x1b") {
		t.Errorf("stderr holds control characters: %q", r.stderr)
	}
}

// TestAuditFollow checks that --follow prints each event once, oldest
// first, as polls find them, and stops when its context ends.
func TestAuditFollow(t *testing.T) {
	old := followEvery
	followEvery = time.Millisecond
	t.Cleanup(func() { followEvery = old })

	base := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	ev := func(id string, sec int) string {
		return `{"id":"` + id + `","time":"` + base.Add(time.Duration(sec)*time.Second).Format(time.RFC3339Nano) +
			`","actor":"agent","action":"ingress","decision":"allow"}`
	}
	// Each poll answers newest first, overlapping what was already seen;
	// e3 lands late, behind e4 (stamped earlier, written later).
	pages := []string{
		"[" + ev("e2", 2) + "," + ev("e1", 1) + "]",
		"[" + ev("e2", 2) + "]",
		"[" + ev("e4", 4) + "," + ev("e2", 2) + "]",
		"[" + ev("e4", 4) + "," + ev("e3", 3) + "," + ev("e2", 2) + "]",
		"[" + ev("e5", 5) + "," + ev("e4", 4) + "]",
	}
	for _, asJSON := range []bool{false, true} {
		f := newFakeAPI(t)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var queries []string
		f.handler = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			n := len(queries)
			queries = append(queries, r.URL.RawQuery)
			w.Header().Set("Content-Type", "application/json")
			if n >= len(pages) {
				cancel() // every page was served: stop following
				io.WriteString(w, "[]")
				return
			}
			io.WriteString(w, pages[n])
		}
		args := []string{"audit", "--follow", "--keychain", "kc_1"}
		if asJSON {
			args = append(args, "--json")
		}
		r := runCLIContext(t, ctx, "", args...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var ids []string
		for _, l := range lines {
			if asJSON {
				var e struct{ ID string }
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("not JSON lines: %q", r.stdout)
				}
				ids = append(ids, e.ID)
				continue
			}
			if strings.HasPrefix(l, "TIME") {
				continue
			}
			ids = append(ids, strings.Fields(l)[0])
		}
		want := []string{"e1", "e2", "e4", "e3", "e5"}
		if !asJSON {
			want = []string{
				base.Add(1 * time.Second).Format(auditTimeFormat), base.Add(2 * time.Second).Format(auditTimeFormat),
				base.Add(4 * time.Second).Format(auditTimeFormat), base.Add(3 * time.Second).Format(auditTimeFormat),
				base.Add(5 * time.Second).Format(auditTimeFormat),
			}
		}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("json=%v: printed %q, want %q\n%s", asJSON, ids, want, r.stdout)
		}
		mu.Lock()
		if !strings.Contains(queries[0], "keychain=kc_1") || strings.Contains(queries[0], "since=") {
			t.Errorf("first query %q", queries[0])
		}
		// Later polls look back from the newest event seen.
		wantSince := "since=" + strings.ReplaceAll(base.Add(2*time.Second-followOverlap).Format(time.RFC3339Nano), ":", "%3A")
		if !strings.Contains(queries[1], wantSince) || !strings.Contains(queries[1], "limit=1000") {
			t.Errorf("second query %q, want %s", queries[1], wantSince)
		}
		mu.Unlock()
	}
}

func TestAuditFollowGivesUpOnClientError(t *testing.T) {
	old := followEvery
	followEvery = time.Millisecond
	t.Cleanup(func() { followEvery = old })
	f := newFakeAPI(t)
	var mu sync.Mutex
	n := 0
	f.handler = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(401)
		io.WriteString(w, `{"type":"urn:keygate:problem:unauthorized","title":"Unauthorized","status":401,"detail":"no"}`)
	}
	r := runCLI(t, "", "audit", "--follow")
	if r.code != 1 {
		t.Fatalf("exit %d", r.code)
	}
	oneErrorLine(t, r, "keygate: audit: 401 unauthorized")
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                            {},
		"1h":                          now.Add(-time.Hour),
		"2026-01-01T00:00:00Z":        time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		"2026-01-01T00:00:00.5+01:00": time.Date(2025, 12, 31, 23, 0, 0, 5e8, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"yesterday", "-1h", "2026-01-01"} {
		if _, err := parseSince(in, now); err == nil {
			t.Errorf("parseSince(%q) accepted", in)
		}
	}
}

func TestValueBody(t *testing.T) {
	for _, tc := range []struct {
		v    string
		rest string
		want string
	}{
		{"plain", "", `{"value":"plain"}`},
		{"q\"b\\s\x00\x1f\r\n\t", `{}`, `{"value":"q\"b\\s\u0000\u001f\r\n\t"}`},
		{"ünï ✓", `{"allowed_hosts":["a"]}`, `{"value":"ünï ✓","allowed_hosts":["a"]}`},
	} {
		got := valueBody([]byte(tc.v), []byte(tc.rest))
		jsonEqual(t, got, tc.want)
		var back struct{ Value string }
		json.Unmarshal(got, &back)
		if back.Value != tc.v {
			t.Errorf("value %q came back as %q", tc.v, back.Value)
		}
	}
}

// TestRegistered checks that init registered every command with caddycmd,
// next to Caddy's own.
func TestRegistered(t *testing.T) {
	cmds := caddycmd.Commands()
	for _, name := range []string{"keychain", "secret", "package", "app-secret", "grant", "grants", "revoke", "audit", "run", "reload", "adapt"} {
		if _, ok := cmds[name]; !ok {
			t.Errorf("command %q is not registered", name)
		}
	}
}

func TestProblemKind(t *testing.T) {
	for typ, want := range map[string]string{
		"urn:keygate:problem:invalid":            "invalid",
		"https://keygate.dev/problems/not_found": "not_found",
		"about:blank":                            "fallback",
		"":                                       "fallback",
		"urn:keygate:problem:":                   "fallback",
	} {
		if got := problemKind(typ, "fallback"); got != want {
			t.Errorf("problemKind(%q) = %q, want %q", typ, got, want)
		}
	}
}
