// Package oauthtest is a stand-in OAuth 2.0 authorization server for tests:
// it approves every authorization (or refuses it on demand), checks PKCE,
// rotates refresh tokens, counts token-endpoint calls by grant and can be
// switched to fail the ways real providers do. Its handler, Provider, is
// also what examples/oauth-provider serves.
package oauthtest

import (
	"net/http"
	"net/http/httptest"
	"time"
)

// Server is the stand-in on a loopback port. Its client is
// ClientID/ClientSecret.
type Server struct {
	*httptest.Server
	*Provider
}

// New starts a server on 127.0.0.1 that issues tokens valid for an hour
// and keeps everything it issued for Secrets. Close it when done.
func New() *Server {
	p := NewProvider("client-"+randomString(6), "client-secret-"+randomString(16))
	p.record = true
	return &Server{Server: httptest.NewServer(p), Provider: p}
}

// AuthorizeURL, TokenURL and RevokeURL are the endpoints to configure.
func (s *Server) AuthorizeURL() string { return s.URL + "/authorize" }
func (s *Server) TokenURL() string     { return s.URL + "/token" }
func (s *Server) RevokeURL() string    { return s.URL + "/revoke" }
func (s *Server) UserinfoURL() string  { return s.URL + "/userinfo" }

// TB is what Authorize needs of a test (testing.TB has it); the package
// does not import testing, so that a program may serve its Provider.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Authorize follows an authorize URL as a browser would after the owner
// approves, and returns the callback URL the provider redirects to.
func (s *Server) Authorize(t TB, authorizeURL string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := c.Get(authorizeURL)
	if err != nil {
		t.Fatalf("oauthtest: authorize: %v", err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		t.Fatalf("oauthtest: authorize answered %d", resp.StatusCode)
	}
	return loc
}
