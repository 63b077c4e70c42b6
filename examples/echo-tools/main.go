// Command echo-tools is the demo package of keygate's README, and the demo
// third-party API it calls, in one small program:
//
//	go run ./examples/echo-tools
//
// The package (127.0.0.1:9001, the upstream in examples/keygate.package.json)
// takes the invocation token keygate sends it in Authorization and calls
// the demo API through keygate's egress route with it, as an SDK whose
// base URL points at the route would. The demo API (127.0.0.1:9100, behind
// the route /demo/* in Caddyfile.example) says what key it received: its
// length and a sha256 prefix, never the key. The package answers the agent
// with both sides of the round trip.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"
)

func main() {
	pkgAddr := flag.String("package", "127.0.0.1:9001", "address of the demo package's code")
	apiAddr := flag.String("api", "127.0.0.1:9100", "address of the demo third-party API")
	egress := flag.String("egress", "http://127.0.0.1:8081/demo", "keygate's egress route to the demo API")
	flag.Parse()

	// A minute: as long as keygate's ingress waits for a package, so that a
	// call held at egress for its owner's approval can be approved in time.
	client := &http.Client{Timeout: time.Minute}
	errs := make(chan error, 2)
	go func() { errs <- serve(*apiAddr, http.HandlerFunc(demoAPI)) }()
	go func() { errs <- serve(*pkgAddr, packageHandler(*egress, client)) }()
	log.Printf("demo package on http://%s, demo API on http://%s, calling egress at %s", *pkgAddr, *apiAddr, *egress)
	log.Fatal(<-errs)
}

func serve(addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// packageHandler is the package's code: one call to the demo API through
// egress per request, with the invocation token it was given.
func packageHandler(egress string, client *http.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "demo package reached; usable keys: %s\n", r.Header.Get("Keygate-Keys"))
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			fmt.Fprintln(w, "no invocation token in Authorization (is keygate_package in sealed mode?)")
			return
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, egress+"/hello", nil)
		if err != nil {
			fmt.Fprintf(w, "bad egress URL: %v\n", err)
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			fmt.Fprintf(w, "calling egress at %s: %v\n", egress, err)
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		fmt.Fprintf(w, "called GET %s/hello with the invocation token; keygate answered %d:\n%s", egress, res.StatusCode, body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			fmt.Fprintln(w)
		}
	})
}

// demoAPI stands in for a third-party API that takes its key in
// X-Api-Key. It shows that the key arrived without printing it.
func demoAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	key := r.Header.Get("X-Api-Key")
	if key == "" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, "demo API: no X-Api-Key")
		return
	}
	sum := sha256.Sum256([]byte(key))
	fmt.Fprintf(w, "demo API: got X-Api-Key of length %d, sha256 prefix %s; Authorization present: %v\n",
		len(key), hex.EncodeToString(sum[:4]), r.Header.Get("Authorization") != "")
}
