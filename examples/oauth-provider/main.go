// Command oauth-provider is a stand-in OAuth 2.0 provider for trying
// keygate's OAuth keys without a real one: it approves every authorization
// at once (no login page), checks PKCE (S256) and the client's
// credentials, and issues access tokens that expire and refresh tokens
// that rotate. Its /userinfo names the one account (-account) to an access
// token it issued, so keygate can show the owner which account is being
// connected. It keeps everything in memory and listens on loopback only.
//
//	go run ./examples/oauth-provider            # 127.0.0.1:9300, client "demo-client"
//
// Configure keygate with (README "Connecting an OAuth account"):
//
//	oauth_provider demo {
//		authorize_url http://127.0.0.1:9300/authorize
//		token_url http://127.0.0.1:9300/token
//		userinfo_url http://127.0.0.1:9300/userinfo email
//	}
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type provider struct {
	clientID, clientSecret string
	account                string
	ttl                    time.Duration

	mu      sync.Mutex
	codes   map[string]grant // authorization codes, used once
	refresh map[string]bool  // live refresh tokens, used once
	access  map[string]bool  // access tokens issued, for /userinfo
}

type grant struct{ redirectURI, challenge string }

func main() {
	listen := flag.String("listen", "127.0.0.1:9300", "address to listen on")
	clientID := flag.String("client-id", "demo-client", "the one client's id")
	clientSecret := flag.String("client-secret", "demo-client-secret", "the one client's secret (a stand-in: not a secret)")
	ttl := flag.Duration("ttl", time.Hour, "lifetime of access tokens")
	account := flag.String("account", "demo@example.test", "the account /userinfo names")
	flag.Parse()
	p := &provider{clientID: *clientID, clientSecret: *clientSecret, account: *account, ttl: *ttl,
		codes: map[string]grant{}, refresh: map[string]bool{}, access: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	log.Printf("oauth-provider: http://%s/authorize, /token and /userinfo, client %s", *listen, *clientID)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// authorize approves at once and sends the browser back with a code.
func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || !back.IsAbs():
		http.Error(w, "redirect_uri must be an absolute URL", http.StatusBadRequest)
		return
	case q.Get("response_type") != "code" || q.Get("client_id") != p.clientID || q.Get("state") == "":
		http.Error(w, "want response_type=code, this client_id and a state", http.StatusBadRequest)
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		http.Error(w, "PKCE: only S256", http.StatusBadRequest)
		return
	}
	code := random("code_")
	p.mu.Lock()
	p.codes[code] = grant{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
	p.mu.Unlock()
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems a code (with its PKCE verifier) or a refresh token.
func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if r.ParseForm() != nil || !p.client(r) {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	f := r.PostForm
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Get("grant_type") {
	case "authorization_code":
		g, ok := p.codes[f.Get("code")]
		delete(p.codes, f.Get("code"))
		if !ok || g.redirectURI != f.Get("redirect_uri") || (g.challenge != "" && challenge(f.Get("code_verifier")) != g.challenge) {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
	case "refresh_token":
		if !p.refresh[f.Get("refresh_token")] {
			tokenError(w, http.StatusBadRequest, "invalid_grant")
			return
		}
		delete(p.refresh, f.Get("refresh_token"))
	default:
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	rt, at := random("rt_"), random("at_")
	p.refresh[rt], p.access[at] = true, true
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token_type": "Bearer",
		"expires_in": int(p.ttl.Seconds()), "refresh_token": rt})
}

// userinfo names the account to an access token this provider issued.
func (p *provider) userinfo(w http.ResponseWriter, r *http.Request) {
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	live := ok && p.access[at]
	p.mu.Unlock()
	if !live {
		tokenError(w, http.StatusUnauthorized, "invalid_token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"sub": "demo-1", "email": p.account})
}

// client accepts HTTP Basic or client_id and client_secret in the body.
func (p *provider) client(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.clientID && subtle.ConstantTimeCompare([]byte(secret), []byte(p.clientSecret)) == 1
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":%q}`, code)
}

func random(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}
