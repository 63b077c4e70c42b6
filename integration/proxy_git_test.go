package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// gitServer is a TLS git host: git http-backend (smart HTTP) under Go's
// net/http/cgi, each request needing Basic credentials whose password is
// the value it holds.
func gitServer(t *testing.T, gitExec, root string, want *atomic.Value) http.HandlerFunc {
	backend := &cgi.Handler{Path: filepath.Join(gitExec, "git-http-backend"), Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	return func(w http.ResponseWriter, r *http.Request) {
		_, pass, ok := r.BasicAuth()
		if v, _ := want.Load().(string); !ok || v == "" || pass != v {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "credentials needed", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}
}

// runGit runs git with env and a time bound; it returns the output and
// whether git succeeded.
func runGit(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestProxyGitClone: Debian's git clones over https through the proxy
// site, with only the environment of keygate proxy env and the
// repository's credential as a placeholder, in an http.extraHeader or in
// the URL; the git host gets the value. To a host the key may not go to,
// the clone fails and neither value nor placeholder gets there.
func TestProxyGitClone(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is needed (bash .ci/run installs it)")
		}
		t.Skip("no git")
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	gitExec := strings.TrimSpace(string(out))
	root, home := t.TempDir(), t.TempDir()
	base := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	src := filepath.Join(home, "src")
	for _, args := range [][]string{
		{"init", "-q", "-b", "main", src},
		{"-C", src, "commit", "-q", "--allow-empty", "-m", "keygate behind a proxy"},
		{"clone", "-q", "--bare", src, filepath.Join(root, "repo.git")},
	} {
		if out, ok := runGit(t, base, args...); !ok {
			t.Fatalf("git %v: %s", args, out)
		}
	}

	var want atomic.Value
	pw := newProxyWorld(t, gitServer(t, gitExec, root, &want), Config{})
	want.Store(pw.value)
	// Git asks without credentials first and sends them on a 401: the
	// git host is a pass host of the proxy site it clones through.
	envFor := func(proxy string) []string {
		r := pw.in.MustCLI("", "proxy", "env", "--proxy", proxy, "--dir", t.TempDir(), "--json")
		var vars map[string]string
		if err := json.Unmarshal([]byte(r.Stdout), &vars); err != nil {
			t.Fatalf("proxy env --json: %v", err)
		}
		env := append([]string(nil), base...)
		for _, k := range []string{"HTTPS_PROXY", "https_proxy", "GIT_SSL_CAINFO"} {
			env = append(env, k+"="+vars[k])
		}
		return env
	}
	env := envFor(pw.passing)
	_, ph := pw.call(t)
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+ph))

	repo := "https://127.0.0.1:" + pw.up.Port + "/repo.git"
	for name, args := range map[string][]string{
		"http.extraHeader": {"-c", "http.extraHeader=" + basic, "clone", "-q", repo},
		"the URL":          {"clone", "-q", strings.Replace(repo, "https://", "https://x-access-token:"+ph+"@", 1)},
	} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "clone")
			if out, ok := runGit(t, env, append(args, dst)...); !ok {
				t.Fatalf("git clone: %s", redact(out))
			}
			if out, ok := runGit(t, env, "-C", dst, "log", "--format=%s"); !ok || strings.TrimSpace(out) != "keygate behind a proxy" {
				t.Fatalf("the clone: %s", redact(out))
			}
			if last := pw.up.Last(t); !strings.HasSuffix(last.Path, "/git-upload-pack") {
				t.Fatalf("the git host's last request: %s", last.Path)
			}
		})
	}

	// localhost is the same git host under a name the key may not go to
	// (a pass host of the other proxy site, so git gets its 401 and sends
	// the placeholder).
	env = envFor(pw.proxyURL)
	sent := pw.up.Count()
	other := "https://localhost:" + pw.up.Port + "/repo.git"
	for name, args := range map[string][]string{
		"http.extraHeader": {"-c", "http.extraHeader=" + basic, "clone", "-q", other},
		"the URL":          {"clone", "-q", strings.Replace(other, "https://", "https://x-access-token:"+ph+"@", 1)},
	} {
		out, ok := runGit(t, env, append(args, filepath.Join(t.TempDir(), "clone"))...)
		if ok || !strings.Contains(out, "403") {
			t.Fatalf("%s: a clone from a host the key may not go to: %s", name, redact(out))
		}
		if strings.Contains(out, pw.value) {
			t.Fatalf("%s: git printed the value", name)
		}
	}
	reqs := pw.up.Requests()
	if len(reqs) == sent {
		t.Fatal("git never reached the git host as localhost")
	}
	for _, req := range reqs[sent:] {
		if a := req.Header.Get("Authorization"); a != "" {
			t.Fatalf("the host the key may not go to got credentials (request %s)", req.Path)
		}
	}
	// The audit is written a moment after the answer.
	denied := 0
	eventually(10*time.Second, 100*time.Millisecond, func() bool {
		denied = 0
		for _, ev := range pw.auditEvents(t) {
			if ev["reason"] == "host_not_allowed" && ev["host"] == "localhost" {
				denied++
			}
		}
		return denied >= 2
	})
	if denied < 2 {
		t.Fatalf("%d host_not_allowed events for the clones from localhost, want 2", denied)
	}
}
