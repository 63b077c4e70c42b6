// Command dev-package is a minimal keygate package: the code behind a
// package site. keygate forwards each agent call here with an invocation
// token in "Authorization: Bearer"; the code sends that token, as if it
// were the API key, to keygate's egress route for its key, and keygate
// puts the real key in its place. The code never sees the key.
//
// Try it with keygate dev (see the README's "Writing a package"):
//
//	keygate dev --manifest examples/dev-package/keygate.package.json
//	EGRESS_URL=<the egress URL keygate dev printed> go run ./examples/dev-package
//
// Flags: -listen (default 127.0.0.1:3000). Environment: EGRESS_URL, the
// egress base URL of the key WEATHER_API_KEY.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3000", "address to listen on")
	flag.Parse()
	egress := strings.TrimRight(os.Getenv("EGRESS_URL"), "/")
	if egress == "" {
		log.Fatal("dev-package: set EGRESS_URL to the egress URL keygate dev printed")
	}
	p := &pkg{egress: egress, client: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", p.webhook)
	mux.HandleFunc("/", p.forecast)
	log.Printf("dev-package: listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}

type pkg struct {
	egress string
	client *http.Client
}

// invocationToken is the token keygate sent with this call: valid for a
// few minutes, for this keychain and package only.
func invocationToken(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok, ok && tok != ""
}

// forecast answers an agent's call by calling the weather API through
// egress with the call's invocation token.
func (p *pkg) forecast(w http.ResponseWriter, r *http.Request) {
	tok, ok := invocationToken(r)
	if !ok {
		http.Error(w, "not called through keygate", http.StatusUnauthorized)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.egress+"/v1/forecast", nil)
	if err != nil {
		http.Error(w, "bad egress URL", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, "egress unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Fprintf(w, "dev-package: usable keys %q; weather API answered %d: %s\n",
		r.Header.Get("Keygate-Keys"), resp.StatusCode, strings.TrimSpace(string(body)))
}

// webhook takes a delivery keygate has verified: it names the webhook and
// the keychain, and carries an invocation token for that keychain.
func (p *pkg) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	log.Printf("dev-package: webhook %q for keychain %q, %d bytes",
		r.Header.Get("Keygate-Webhook"), r.Header.Get("Keygate-Keychain"), len(body))
	w.WriteHeader(http.StatusNoContent)
}
