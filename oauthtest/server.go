// Package oauthtest is a stand-in OAuth 2.0 authorization server for tests:
// it approves every authorization (or refuses it on demand), checks PKCE,
// rotates refresh tokens, counts token-endpoint calls by grant and can be
// switched to fail the ways real providers do.
package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Mode is how the token endpoint fails.
type Mode string

const (
	OK            Mode = ""                // answer normally
	Down          Mode = "down"            // 500 with a plain-text body
	Slow          Mode = "slow"            // wait SlowFor (or until the client gives up) before answering
	HTML          Mode = "html"            // 503 with an HTML error page
	NotJSON       Mode = "not_json"        // 200 application/json that does not parse
	NoAccessToken Mode = "no_access_token" // 200 JSON without access_token
	InvalidGrant  Mode = "invalid_grant"   // 400 {"error":"invalid_grant"}
)

// Grants the token endpoint takes, as counted by Calls.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Server is the stand-in. Its client is ClientID/ClientSecret.
type Server struct {
	*httptest.Server
	ClientID     string
	ClientSecret string

	mu        sync.Mutex
	fail      Mode
	deny      bool
	expiresIn int
	slowFor   time.Duration
	codes     map[string]codeGrant
	refresh   map[string]bool // live refresh tokens
	issued    []string        // every code and token handed out
	revoked   []string
	calls     map[string]int
	access    map[string]bool // live access tokens, for /userinfo
	idClaims  map[string]any  // claims of the id_token a code grant returns; nil: none
	userinfo  map[string]any  // /userinfo's answer; nil: 404
}

type codeGrant struct {
	clientID, redirectURI, challenge, scope string
}

// New starts a server on 127.0.0.1 that issues tokens valid for an hour.
// Close it when done.
func New() *Server {
	s := &Server{
		ClientID:     "client-" + randomString(6),
		ClientSecret: "client-secret-" + randomString(16),
		expiresIn:    3600,
		slowFor:      5 * time.Second,
		codes:        map[string]codeGrant{},
		refresh:      map[string]bool{},
		calls:        map[string]int{},
		access:       map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /revoke", s.revoke)
	mux.HandleFunc("GET /userinfo", s.userinfoHandler)
	s.Server = httptest.NewServer(mux)
	return s
}

// AuthorizeURL, TokenURL and RevokeURL are the endpoints to configure.
func (s *Server) AuthorizeURL() string { return s.URL + "/authorize" }
func (s *Server) TokenURL() string     { return s.URL + "/token" }
func (s *Server) RevokeURL() string    { return s.URL + "/revoke" }
func (s *Server) UserinfoURL() string  { return s.URL + "/userinfo" }

// SetIDToken makes code grants return an id_token with these claims
// (signed with a key nobody checks); nil: no id_token.
func (s *Server) SetIDToken(claims map[string]any) { s.mu.Lock(); s.idClaims = claims; s.mu.Unlock() }

// SetUserinfo sets what /userinfo answers to a live access token; nil:
// 404.
func (s *Server) SetUserinfo(info map[string]any) { s.mu.Lock(); s.userinfo = info; s.mu.Unlock() }

// SetFail switches the token endpoint's failure mode (OK to recover).
func (s *Server) SetFail(m Mode) { s.mu.Lock(); s.fail = m; s.mu.Unlock() }

// SetDeny makes /authorize answer error=access_denied.
func (s *Server) SetDeny(deny bool) { s.mu.Lock(); s.deny = deny; s.mu.Unlock() }

// SetExpiresIn sets the expires_in of new tokens; 0 leaves it out.
func (s *Server) SetExpiresIn(seconds int) { s.mu.Lock(); s.expiresIn = seconds; s.mu.Unlock() }

// SetSlowFor sets how long Slow mode waits.
func (s *Server) SetSlowFor(d time.Duration) { s.mu.Lock(); s.slowFor = d; s.mu.Unlock() }

// Calls counts token-endpoint requests with that grant_type, failed ones too.
func (s *Server) Calls(grant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[grant]
}

// Revoked lists the tokens /revoke was given, in order.
func (s *Server) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.revoked...)
}

// Secrets lists everything that must never appear in a log, error or
// audit entry: the client secret, every code and token issued and every
// PKCE verifier received.
func (s *Server) Secrets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string{s.ClientSecret}, s.issued...)
}

// Authorize follows an authorize URL as a browser would after the owner
// approves, and returns the callback URL the provider redirects to.
func (s *Server) Authorize(t testing.TB, authorizeURL string) string {
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

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || !redirect.IsAbs():
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("client_id") != s.ClientID || q.Get("state") == "":
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		http.Error(w, "only S256", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	s.mu.Lock()
	if s.deny {
		back.Set("error", "access_denied")
	} else {
		code := "code-" + randomString(16)
		s.codes[code] = codeGrant{clientID: s.ClientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), scope: q.Get("scope")}
		s.issued = append(s.issued, code)
		back.Set("code", code)
	}
	s.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// clientAuth accepts HTTP Basic (form-encoded parts, RFC 6749 2.3.1) or
// client_id/client_secret in the body.
func (s *Server) clientAuth(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == s.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(s.ClientSecret)) == 1
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	grant := r.PostForm.Get("grant_type")
	s.mu.Lock()
	s.calls[grant]++
	mode, slowFor := s.fail, s.slowFor
	s.mu.Unlock()
	switch mode {
	case Down:
		http.Error(w, "upstream connect error", http.StatusInternalServerError)
		return
	case Slow:
		select {
		case <-time.After(slowFor):
		case <-r.Context().Done():
			return
		}
	case HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>")
		return
	case NotJSON:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token": "at-truncated`)
		return
	case NoAccessToken:
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600})
		return
	case InvalidGrant:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	if !s.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch grant {
	case GrantAuthorizationCode:
		code := r.PostForm.Get("code")
		if v := r.PostForm.Get("code_verifier"); v != "" {
			s.issued = append(s.issued, v)
		}
		g, ok := s.codes[code]
		delete(s.codes, code)
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") || !pkceMatches(g.challenge, r.PostForm.Get("code_verifier")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		s.issue(w, true, g.scope, s.idClaims)
	case GrantRefreshToken:
		rt := r.PostForm.Get("refresh_token")
		if !s.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(s.refresh, rt) // rotation: the old one stops working
		s.issue(w, true, "", nil)
	case GrantClientCredentials:
		s.issue(w, false, r.PostForm.Get("scope"), nil)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
	}
}

// pkceMatches checks S256: a request without a challenge needs no verifier.
func pkceMatches(challenge, verifier string) bool {
	if challenge == "" {
		return verifier == ""
	}
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
}

// issue writes a token response; s.mu is held.
func (s *Server) issue(w http.ResponseWriter, withRefresh bool, scope string, idClaims map[string]any) {
	at := "at-" + randomString(16)
	body := map[string]any{"access_token": at, "token_type": "Bearer"}
	s.issued = append(s.issued, at)
	s.access[at] = true
	if idClaims != nil {
		idt, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(idClaims)).SignedString([]byte(randomString(32)))
		if err != nil {
			http.Error(w, "id_token", http.StatusInternalServerError)
			return
		}
		s.issued = append(s.issued, idt)
		body["id_token"] = idt
	}
	if s.expiresIn > 0 {
		body["expires_in"] = s.expiresIn
	}
	if withRefresh {
		rt := "rt-" + randomString(16)
		s.refresh[rt] = true
		s.issued = append(s.issued, rt)
		body["refresh_token"] = rt
	}
	if scope != "" {
		body["scope"] = scope
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !s.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail == Down {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	tok := r.PostForm.Get("token")
	s.revoked = append(s.revoked, tok)
	delete(s.refresh, tok)
	w.WriteHeader(http.StatusOK)
}

func (s *Server) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	live, info := s.access[at], s.userinfo
	s.mu.Unlock()
	switch {
	case !ok || !live:
		oauthError(w, http.StatusUnauthorized, "invalid_token")
	case info == nil:
		http.NotFound(w, r)
	default:
		writeJSON(w, http.StatusOK, info)
	}
}

func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
