package integration

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/keygate/keygate/oauthtest"
)

// TestPlaintextOAuthGivesAccessTokenOnly: on a plaintext site an OAuth
// key reaches the package's code as its current access token, refreshed
// when due; the sealed record and its refresh token never do.
func TestPlaintextOAuthGivesAccessTokenOnly(t *testing.T) {
	t.Parallel()
	w := &oauthWorld{srv: oauthtest.New(), pkgCode: NewUpstream(t, nil)}
	t.Cleanup(w.srv.Close)
	w.in = Start(t, Config{
		Secret:         "MAIL_TOKEN",
		KeygateOptions: oauthStubOptions(w.srv, "http://127.0.0.1:{{.APIPort}}"),
		ExtraPorts:     1,
		ExtraSites: `
http://*.plain.test:{{index .Extra 0}} {
	bind 127.0.0.1
	keygate_package {
		suffix plain.test
		mode plaintext
	}
}`,
	})
	w.install(t)
	site := "http://127.0.0.1:" + strconv.Itoa(w.in.Ports.Extra[0])
	host := "mail.plain.test:" + strconv.Itoa(w.in.Ports.Extra[0])

	call := func(step string) string {
		t.Helper()
		before := w.pkgCode.Count()
		r := sendT(t, "GET", site+"/inbox", host, bearer(w.kcToken), nil)
		if r.Status != http.StatusOK || w.pkgCode.Count() != before+1 {
			t.Fatalf("%s: %s", step, r)
		}
		got := w.pkgCode.Last(t).Header.Get("Keygate-Secret-MAIL-TOKEN")
		if !strings.HasPrefix(got, "at-") || strings.ContainsAny(got, "{}\"") || strings.Contains(got, "rt-") {
			t.Fatalf("%s: the package's code got %d bytes that are not an access token alone", step, len(got))
		}
		return got
	}

	// Not connected yet: refused, nothing handed over.
	r := sendT(t, "GET", site+"/inbox", host, bearer(w.kcToken), nil)
	if r.Status == http.StatusOK {
		t.Fatalf("an unconnected OAuth key went through: %s", r)
	}

	w.connect(t)
	first := call("connected")
	if again := call("again"); again != first {
		t.Error("the access token changed between refreshes")
	}

	// Due for a refresh: the package gets the new access token.
	w.srv.SetExpiresIn(30) // < oauth_refresh_before
	w.connect(t)
	w.srv.SetExpiresIn(3600)
	if fresh := call("after a refresh"); fresh == first {
		t.Error("the refreshed token did not reach the package")
	}
	if n := w.srv.Calls(oauthtest.GrantRefreshToken); n != 1 {
		t.Errorf("%d refresh calls, want 1", n)
	}

	// No refresh token in anything the package's code received.
	var seen strings.Builder
	for _, req := range w.pkgCode.Requests() {
		for k, vs := range req.Header {
			seen.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	for _, s := range w.srv.Secrets() {
		if strings.HasPrefix(s, "rt-") {
			AssertNotContains(t, "a refresh token", s, map[string]string{"package code": seen.String(), "logs": w.in.Logs()})
		}
	}
}
