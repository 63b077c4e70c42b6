package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The Provider a program serves runs the whole code flow with PKCE and
// keeps nothing it issued beyond what the flow needs.
func TestProviderCodeFlow(t *testing.T) {
	p := NewProvider("demo-client", "demo-secret")
	srv := httptest.NewServer(p)
	defer srv.Close()
	s := &Server{Server: srv, Provider: p}

	verifier := "v-" + randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {"demo-client"}, "state": {"st"},
		"redirect_uri": {"http://127.0.0.1:1/cb"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	back, err := url.Parse(s.Authorize(t, s.AuthorizeURL()+"?"+q.Encode()))
	if err != nil || back.Query().Get("state") != "st" || back.Query().Get("code") == "" {
		t.Fatalf("callback %v: %v", back, err)
	}
	token := func(form url.Values) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-client", "demo-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code := back.Query().Get("code")
	if st, out := token(url.Values{"grant_type": {GrantAuthorizationCode}, "code": {code}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "code_verifier": {"wrong"}}); st != 400 || out["error"] != "invalid_grant" {
		t.Fatalf("wrong verifier: %d %v", st, out)
	}
	// The code was spent by the failed try: a fresh one.
	back, _ = url.Parse(s.Authorize(t, s.AuthorizeURL()+"?"+q.Encode()))
	st, out := token(url.Values{"grant_type": {GrantAuthorizationCode}, "code": {back.Query().Get("code")}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "code_verifier": {verifier}})
	if st != 200 || out["access_token"] == nil || out["refresh_token"] == nil {
		t.Fatalf("code exchange: %d %v", st, out)
	}
	rt := out["refresh_token"].(string)
	if st, out := token(url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}); st != 200 || out["refresh_token"] == rt {
		t.Fatalf("refresh: %d %v", st, out)
	}
	if st, _ := token(url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {rt}}); st != 400 {
		t.Fatalf("a used refresh token: %d, want 400", st)
	}
	if got := p.Secrets(); len(got) != 1 || got[0] != "demo-secret" {
		t.Fatalf("a program's provider kept %d issued codes and tokens", len(got)-1)
	}
}
