package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// runLoginLink runs "keychain login-link" built from its leaf, as group()
// builds it, so the test does not depend on where the leaf is listed.
func runLoginLink(t *testing.T, args ...string) result {
	t.Helper()
	root := &cobra.Command{Use: "keygate", SilenceUsage: true}
	group := &cobra.Command{Use: "keychain"}
	setupCommon(group)
	l := keychainLoginLink()
	sub := &cobra.Command{Use: l.name + " " + l.usage, Short: l.short}
	l.setup(sub)
	group.AddCommand(sub)
	root.AddCommand(group)
	var out, errOut bytes.Buffer
	root.SetArgs(append([]string{"keychain", "login-link"}, args...))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := result{}
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if !errors.As(err, &ee) {
			t.Fatalf("error %v is not an exit status", err)
		}
		r.code = ee.code
	}
	r.stdout, r.stderr = out.String(), errOut.String()
	return r
}

func TestLoginLink(t *testing.T) {
	const kcID = "kc_bbbbbbbbbbbbbbbbbbbbbbbbbb"
	const answer = `{"url":"https://keys.example/ui/login?t=tok_abc","expires_at":"2026-01-02T15:19:05Z","owner":"alice","keychain":"` + kcID + `"}`
	f := newFakeAPI(t)
	f.on("POST", "/v1/keychains/"+kcID+"/login-link", 200, answer)

	r := runLoginLink(t, kcID)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"alice", kcID, "works once, until 2026-01-02T15:19:05Z", "\nhttps://keys.example/ui/login?t=tok_abc\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q lacks %q", r.stdout, want)
		}
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/v1/keychains/"+kcID+"/login-link" || reqs[0].Auth != "Bearer admintok" {
		t.Fatalf("requests %+v", reqs)
	}

	r = runLoginLink(t, kcID, "--json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != answer {
		t.Fatalf("--json: exit %d, stdout %q", r.code, r.stdout)
	}

	f.onProblem("POST", "/v1/keychains/kc_nope/login-link", 404, "not_found", `keychain "kc_nope": not found`)
	r = runLoginLink(t, "kc_nope")
	if r.code != 1 {
		t.Fatalf("unknown keychain: exit %d", r.code)
	}
	oneErrorLine(t, r, "keygate: keychain login-link: 404")

	r = runLoginLink(t)
	if r.code != 2 {
		t.Fatalf("no keychain: exit %d", r.code)
	}
	oneErrorLine(t, r, "keygate: keychain login-link: missing arguments")
}
