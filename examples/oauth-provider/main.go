// Command oauth-provider is a stand-in OAuth 2.0 provider for trying
// keygate's OAuth keys without a real one: it approves every authorization
// at once (no login page), checks PKCE (S256) and the client's
// credentials, and issues access tokens that expire and refresh tokens
// that rotate. Its /userinfo names the one account (-account) to an access
// token it issued, so keygate can show the owner which account is being
// connected. It keeps everything in memory and listens on loopback only.
// It serves oauthtest.Provider, the stand-in keygate's own tests use.
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
	"flag"
	"log"
	"net/http"
	"time"

	"github.com/keygate/keygate/oauthtest"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9300", "address to listen on")
	clientID := flag.String("client-id", "demo-client", "the one client's id")
	clientSecret := flag.String("client-secret", "demo-client-secret", "the one client's secret (a stand-in: not a secret)")
	ttl := flag.Duration("ttl", time.Hour, "lifetime of access tokens (0: tokens say no expiry)")
	account := flag.String("account", "demo@example.test", "the account /userinfo names")
	flag.Parse()
	p := oauthtest.NewProvider(*clientID, *clientSecret)
	p.SetExpiresIn(int(ttl.Seconds()))
	p.SetUserinfo(map[string]any{"sub": "demo-1", "email": *account})
	log.Printf("oauth-provider: http://%s/authorize, /token, /revoke and /userinfo, client %s", *listen, *clientID)
	srv := &http.Server{Addr: *listen, Handler: p, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
