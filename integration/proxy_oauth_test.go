package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

// TestProxyOAuthKey: an OAuth key's placeholder through the proxy site
// stands for the current access token (refreshed when due, by one call to
// the stand-in provider), and the token an API echoes comes back as the
// placeholder; hostile: sent to a host the key may not go to, it is
// refused and nothing is sent, no refresh spent.
func TestProxyOAuthKey(t *testing.T) {
	up := newTLSUpstream(t, echoAPI)
	w := newOAuthWorldWith(t, NewUpstream(t, echoAuthorization).Addr, Config{ExtraPorts: proxySitePorts, ExtraSites: fmt.Sprintf(proxySites, up.CAFile, up.Port)})
	pw := &proxyWorld{up: up, proxyURL: fmt.Sprintf("http://127.0.0.1:%d", w.in.Ports.Extra[0])}
	ca := sendT(t, "GET", w.in.APIURL+"/v1/proxy/ca.pem", "", nil, nil)
	pw.caFile = filepath.Join(w.in.Dir, "keygate-ca.pem")
	if err := os.WriteFile(pw.caFile, ca.Body, 0o644); err != nil {
		t.Fatal(err)
	}
	placeholder := func() string {
		t.Helper()
		path := "/call/" + RandomToken(t, "")
		if r := w.in.callIngress(t, "mail", w.kcToken, "GET", path, nil); r.Status != http.StatusOK {
			t.Fatalf("ingress: %s", r)
		}
		for _, req := range w.pkgCode.Requests() {
			if ph := req.Header.Get("Keygate-Placeholder-Mail-Token"); req.Path == path && strings.HasPrefix(ph, "kgph_") {
				return ph
			}
		}
		t.Fatal("the package's code got no placeholder for MAIL_TOKEN")
		return ""
	}
	send := func(target, ph string) reply {
		t.Helper()
		req, _ := http.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+ph)
		c := pw.goClient(t, pw.proxyURL)
		c.Timeout = 40 * time.Second
		res, err := c.Do(req)
		if err != nil {
			return reply{Status: -1, Body: []byte(err.Error())}
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return reply{Status: res.StatusCode, Header: res.Header, Body: b}
	}

	srv := w.srv
	srv.SetExpiresIn(30) // within oauth_refresh_before: the next use refreshes
	w.connect(t)         // a call's placeholder is minted only for a connected key
	ph := placeholder()
	srv.SetExpiresIn(3600)
	refreshes := srv.Calls(oauthtest.GrantRefreshToken)
	r := send(up.URL+"/v1/echo", ph)
	if r.Status != http.StatusOK {
		t.Fatalf("OAuth key through the proxy site: %s", r)
	}
	got := up.Last(t).Header.Get("Authorization")
	if !strings.HasPrefix(got, "Bearer at-") {
		t.Fatalf("the upstream got %q, not the access token", redact(got))
	}
	noteSensitive(strings.TrimPrefix(got, "Bearer "))
	if n := srv.Calls(oauthtest.GrantRefreshToken); n != refreshes+1 {
		t.Fatalf("a token due for refresh made %d refresh calls, want 1", n-refreshes)
	}
	if strings.Contains(string(r.Body), got) || r.Header.Get("X-Echo-Authorization") != "Bearer "+ph || !strings.Contains(string(r.Body), ph) {
		t.Fatalf("the echoed access token did not come back as the placeholder: %s", redact(string(r.Body)))
	}
	sent := fmt.Sprint(up.Last(t).Header) + string(up.Last(t).Body) + up.Last(t).RawQuery
	for _, s := range srv.Secrets() {
		if strings.Contains(string(r.Body)+fmt.Sprint(r.Header), s) || !strings.HasPrefix(s, "at-") && strings.Contains(sent, s) {
			t.Fatal("a token reached the client, or a refresh token or the client secret left keygate")
		}
	}
	// Between refreshes, no provider call.
	if r := send(up.URL+"/v1/echo", ph); r.Status != http.StatusOK || srv.Calls(oauthtest.GrantRefreshToken) != refreshes+1 {
		t.Fatalf("second call: %s, %d refreshes", r, srv.Calls(oauthtest.GrantRefreshToken)-refreshes)
	}

	// Hostile: the placeholder to a host the key may not go to.
	before := up.Count()
	srv.SetExpiresIn(30)
	w.connect(t) // due again: a refresh would be spent if the host were checked after
	srv.SetExpiresIn(3600)
	tokens := srv.Calls(oauthtest.GrantRefreshToken)
	r = send("https://localhost:"+up.Port+"/v1/echo", ph)
	wantProblem(t, "OAuth placeholder to another host", r, http.StatusForbidden, "host_not_allowed")
	if up.Count() != before || srv.Calls(oauthtest.GrantRefreshToken) != tokens {
		t.Fatal("a refused OAuth placeholder reached the upstream or spent a refresh")
	}
}
