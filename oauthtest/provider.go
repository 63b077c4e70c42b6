package oauthtest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

// Provider is the stand-in's handler: /authorize, /token and /revoke for
// one client, ClientID/ClientSecret, everything kept in memory. It needs
// no test: examples/oauth-provider serves it as a program.
type Provider struct {
	ClientID     string
	ClientSecret string

	mu        sync.Mutex
	mux       *http.ServeMux
	record    bool // keep every code and token issued, for Secrets
	fail      Mode
	deny      bool
	expiresIn int
	slowFor   time.Duration
	codes     map[string]codeGrant
	refresh   map[string]bool // live refresh tokens
	issued    []string        // every code and token handed out, when record
	revoked   []string
	calls     map[string]int
	access    map[string]bool // live access tokens, for /userinfo (bounded)
	idClaims  map[string]any  // claims of the id_token a code grant returns; nil: none
	userinfo  map[string]any  // /userinfo's answer; nil: 404
}

// maxAccess bounds the access tokens /userinfo remembers, so that a
// provider run as a program stays small.
const maxAccess = 10000

type codeGrant struct {
	clientID, redirectURI, challenge, scope string
}

// NewProvider is a provider for the client clientID/clientSecret whose
// tokens are valid for an hour. It keeps no list of what it issued (a
// test's Server does, for Secrets), so it may run for long.
func NewProvider(clientID, clientSecret string) *Provider {
	p := &Provider{
		ClientID:     clientID,
		ClientSecret: clientSecret,
		expiresIn:    3600,
		slowFor:      5 * time.Second,
		codes:        map[string]codeGrant{},
		refresh:      map[string]bool{},
		calls:        map[string]int{},
		access:       map[string]bool{},
	}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /authorize", p.authorize)
	p.mux.HandleFunc("POST /token", p.token)
	p.mux.HandleFunc("POST /revoke", p.revoke)
	p.mux.HandleFunc("GET /userinfo", p.userinfoHandler)
	return p
}

// SetIDToken makes code grants return an id_token with these claims
// (signed with a key nobody checks); nil: no id_token.
func (p *Provider) SetIDToken(claims map[string]any) { p.mu.Lock(); p.idClaims = claims; p.mu.Unlock() }

// SetUserinfo sets what /userinfo answers to a live access token; nil:
// 404.
func (p *Provider) SetUserinfo(info map[string]any) { p.mu.Lock(); p.userinfo = info; p.mu.Unlock() }

func (p *Provider) userinfoHandler(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	live, info := p.access[at], p.userinfo
	p.mu.Unlock()
	switch {
	case !ok || !live:
		oauthError(w, http.StatusUnauthorized, "invalid_token")
	case info == nil:
		http.NotFound(w, r)
	default:
		writeJSON(w, http.StatusOK, info)
	}
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// SetFail switches the token endpoint's failure mode (OK to recover).
func (p *Provider) SetFail(m Mode) { p.mu.Lock(); p.fail = m; p.mu.Unlock() }

// SetDeny makes /authorize answer error=access_denied.
func (p *Provider) SetDeny(deny bool) { p.mu.Lock(); p.deny = deny; p.mu.Unlock() }

// SetExpiresIn sets the expires_in of new tokens; 0 leaves it out.
func (p *Provider) SetExpiresIn(seconds int) { p.mu.Lock(); p.expiresIn = seconds; p.mu.Unlock() }

// SetSlowFor sets how long Slow mode waits.
func (p *Provider) SetSlowFor(d time.Duration) { p.mu.Lock(); p.slowFor = d; p.mu.Unlock() }

// Calls counts token-endpoint requests with that grant_type, failed ones too.
func (p *Provider) Calls(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[grant]
}

// Revoked lists the tokens /revoke was given, in order.
func (p *Provider) Revoked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.revoked...)
}

// Secrets lists everything that must never appear in a log, error or
// audit entry: the client secret, every code and token issued and every
// PKCE verifier received.
func (p *Provider) Secrets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{p.ClientSecret}, p.issued...)
}

func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || !redirect.IsAbs():
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("client_id") != p.ClientID || q.Get("state") == "":
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		http.Error(w, "only S256", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	p.mu.Lock()
	if p.deny {
		back.Set("error", "access_denied")
	} else {
		code := "code-" + randomString(16)
		p.codes[code] = codeGrant{clientID: p.ClientID, redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), scope: q.Get("scope")}
		p.note(code)
		back.Set("code", code)
	}
	p.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// clientAuth accepts HTTP Basic (form-encoded parts, RFC 6749 2.3.1) or
// client_id/client_secret in the body.
func (p *Provider) clientAuth(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.ClientSecret)) == 1
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	grant := r.PostForm.Get("grant_type")
	p.mu.Lock()
	p.calls[grant]++
	mode, slowFor := p.fail, p.slowFor
	p.mu.Unlock()
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
	if !p.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch grant {
	case GrantAuthorizationCode:
		code := r.PostForm.Get("code")
		if v := r.PostForm.Get("code_verifier"); v != "" {
			p.note(v)
		}
		g, ok := p.codes[code]
		delete(p.codes, code)
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") || !pkceMatches(g.challenge, r.PostForm.Get("code_verifier")) {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		p.issue(w, true, g.scope, p.idClaims)
	case GrantRefreshToken:
		rt := r.PostForm.Get("refresh_token")
		if !p.refresh[rt] {
			oauthError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(p.refresh, rt) // rotation: the old one stops working
		p.issue(w, true, "", nil)
	case GrantClientCredentials:
		p.issue(w, false, r.PostForm.Get("scope"), nil)
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

// note keeps a code or token for Secrets; p.mu is held.
func (p *Provider) note(v string) {
	if p.record {
		p.issued = append(p.issued, v)
	}
}

// issue writes a token response; p.mu is held.
func (p *Provider) issue(w http.ResponseWriter, withRefresh bool, scope string, idClaims map[string]any) {
	at := "at-" + randomString(16)
	body := map[string]any{"access_token": at, "token_type": "Bearer"}
	p.note(at)
	if len(p.access) >= maxAccess {
		clear(p.access)
	}
	p.access[at] = true
	if idClaims != nil {
		idt, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(idClaims)).SignedString([]byte(randomString(32)))
		if err != nil {
			http.Error(w, "id_token", http.StatusInternalServerError)
			return
		}
		p.note(idt)
		body["id_token"] = idt
	}
	if p.expiresIn > 0 {
		body["expires_in"] = p.expiresIn
	}
	if withRefresh {
		rt := "rt-" + randomString(16)
		p.refresh[rt] = true
		p.note(rt)
		body["refresh_token"] = rt
	}
	if scope != "" {
		body["scope"] = scope
	}
	writeJSON(w, http.StatusOK, body)
}

func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !p.clientAuth(r) {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail == Down {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	tok := r.PostForm.Get("token")
	p.revoked = append(p.revoked, tok)
	delete(p.refresh, tok)
	w.WriteHeader(http.StatusOK)
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
