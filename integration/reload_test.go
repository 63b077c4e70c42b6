package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bounds of the reload load.
const (
	reloadClients       = 4    // concurrent keep-alive clients
	reloadPerClientMax  = 1500 // requests per client at most
	reloadMinTotal      = 2000 // requests in all, at least
	reloadCount         = 6    // reloads, alternating two configs
	reloadProgressEvery = 150  // requests served between two reloads, at least
	reloadLoadTimeout   = 90 * time.Second
)

// TestReloadUnderLoad runs a bounded load through ingress and egress on
// keep-alive connections while `keygate reload` switches between two
// slightly different Caddyfiles several times. Every request must answer
// 200 from the right place (the package's code for ingress, the API with
// the right key for egress), and afterwards the store must still be open
// with its data.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	value := RandomToken(t, "sk_reload_")
	noteSensitive(value)
	api := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+value {
			http.Error(w, "api: wrong key", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "api:"+r.URL.Path)
	})
	pkg := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ey") || r.Header.Get("Keygate-Keys") != "API_KEY" {
			http.Error(w, "package: no invocation token", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "pkg:"+r.URL.Path)
	})
	var in *Instance
	// config is the running config (master key, admin token and all)
	// with variant name's differences: each changes the keygate app, the
	// egress transport and a site of its own, so every reload really
	// replaces the config.
	config := func(name string) Config {
		var c Config
		if in != nil {
			c = in.Config
		}
		c.Upstream, c.ExtraPorts = api.Addr, 1
		c.TransportOptions = map[string]string{"A": "keepalive 30s", "B": "keepalive 31s"}[name]
		c.KeygateOptions = map[string]string{"A": "invocation_ttl 5m", "B": "invocation_ttl 6m"}[name]
		c.ExtraSites = "http://:{{index .Extra 0}} {\n\tbind 127.0.0.1\n\trespond \"config " + name + "\"\n}"
		return c
	}
	in = Start(t, config("A"))
	extraURL := fmt.Sprintf("http://127.0.0.1:%d/", in.Ports.Extra[0])
	kc, tok := in.newKeychain(t, "loaded")
	in.setSecret(t, kc, "API_KEY", value)
	in.putPackage(t, apiKeyManifest("@it/loaded", "loaded", pkg.URL))
	in.grant(t, kc, "@it/loaded", "API_KEY")
	inv := in.mintInvocation(t, pkg, "loaded", tok)

	var (
		served atomic.Int64
		stop   atomic.Bool
		fails  errList
		wg     sync.WaitGroup
	)
	ingressHost := in.ingressHost("loaded")
	adminToken := in.AdminToken
	for c := range reloadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
				MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}
			defer client.CloseIdleConnections()
			deadline := time.Now().Add(reloadLoadTimeout)
			for i := 0; i < reloadPerClientMax && !stop.Load() && time.Now().Before(deadline); i++ {
				path := fmt.Sprintf("/c%d/r%d", c, i)
				var r reply
				var err error
				var want string
				switch {
				case i%10 == 9:
					// The management API reads the store meanwhile.
					r, err = tryHTTP(client, "GET", in.APIURL+"/v1/keychains/"+kc+"/secrets", "", bearer(adminToken), nil)
					if err == nil && r.Status == http.StatusOK && strings.Contains(string(r.Body), `"name":"API_KEY"`) {
						r.Body = []byte("api-list")
					}
					want = "api-list"
				case i%2 == 0:
					r, err = tryHTTP(client, "GET", in.IngressURL+path, ingressHost, bearer(tok), nil)
					want = "pkg:" + path
				default:
					r, err = tryHTTP(client, "GET", in.EgressURL+"/api"+path, "", bearer(inv), nil)
					want = "api:" + path
				}
				switch {
				case err != nil:
					fails.add("%s: %v", path, err)
				case r.Status != http.StatusOK || string(r.Body) != want:
					fails.add("%s: %s, want 200 %q", path, r, want)
				default:
					served.Add(1)
				}
			}
		}()
	}

	// Reload while the load runs, each time once the load has made
	// progress, and check that the new config took over.
	for i := range reloadCount {
		mark := served.Load()
		if !eventually(30*time.Second, 5*time.Millisecond, func() bool { return served.Load() >= mark+reloadProgressEvery || stop.Load() }) {
			t.Fatalf("reload %d: the load made no progress", i+1)
		}
		name := []string{"B", "A"}[i%2]
		in.Reload(config(name))
		// This check asks which config answers, on a connection of its
		// own: one kept from the last check belongs to the config just
		// stopped. Dropped requests are the load's to count.
		httpClient.CloseIdleConnections()
		r := sendT(t, "GET", extraURL, "", http.Header{"Connection": {"close"}}, nil)
		if string(r.Body) != "config "+name {
			t.Errorf("after reload %d the extra site says %q, want %q", i+1, r.Body, "config "+name)
		}
	}
	// Let the load reach its minimum, then stop it.
	eventually(reloadLoadTimeout, 10*time.Millisecond, func() bool { return served.Load() >= reloadMinTotal })
	stop.Store(true)
	wg.Wait()
	fails.report(t, "requests during reloads")
	if n := served.Load(); n < reloadMinTotal {
		t.Errorf("only %d requests were served, want at least %d", n, reloadMinTotal)
	}
	t.Logf("%d requests served across %d reloads", served.Load(), reloadCount)

	// The store is still open and holds its data; new writes work.
	if strings.Contains(in.Logs(), "keygate store closed") {
		t.Error("the store was closed during a reload")
	}
	r := in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc, nil)
	var got struct {
		Secrets []struct{ Name string }
		Grants  []struct{ Package, Status string }
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || len(got.Secrets) != 1 || len(got.Grants) != 1 || got.Grants[0].Status != "active" {
		t.Errorf("keychain after reloads: %v %s", err, r)
	}
	kc2, tok2 := in.newKeychain(t, "after-reload")
	in.setSecret(t, kc2, "API_KEY", value)
	in.grant(t, kc2, "@it/loaded", "API_KEY")
	inv2 := in.mintInvocation(t, pkg, "loaded", tok2)
	if r := in.callEgress(t, inv2, "GET", "/api/after", nil); r.Status != http.StatusOK {
		t.Errorf("egress after reloads: %s", r)
	}
	// A reload can change the admin token: the new one works at once, the
	// old one no longer.
	oldAdmin := in.AdminToken
	cfg := in.Config
	cfg.AdminToken = RandomToken(t, "kgadm_reloaded_")
	in.Reload(cfg)
	in.AdminToken = cfg.AdminToken
	wantProblem(t, "the replaced admin token", sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(oldAdmin), nil), http.StatusUnauthorized, "unauthorized")
	in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc, nil)

	// The requests were audited (the audit queue survived the reloads):
	// at least one event per served request of the keychain.
	if !eventually(10*time.Second, 50*time.Millisecond, func() bool {
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?keychain="+kc+"&limit=1000", nil)
		var evs []json.RawMessage
		json.Unmarshal(r.Body, &evs)
		return len(evs) == 1000
	}) {
		t.Error("fewer than 1000 audit events for the loaded keychain")
	}
}

// TestReloadAppliesKeygateOptions changes the keygate global options by
// reload and checks that each applies from the next request:
// invocation_ttl, public_url, keychain_rate and max_value_bytes.
func TestReloadAppliesKeygateOptions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{})
	in := w.in
	_, tok2 := in.newKeychain(t, "ungranted")
	cfg := in.Config
	cfg.KeygateOptions = "invocation_ttl 90s\n\t\tpublic_url http://keys.example.test\n\t\tkeychain_rate 2/h burst 2\n\t\tmax_value_bytes 16"
	in.Reload(cfg)

	// invocation_ttl: a new token lives 90s.
	claims := jwtPayload(t, in.mintInvocation(t, w.pkgCode, w.host, w.token))
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 90 {
		t.Errorf("after the reload an invocation token lives %vs, want 90s", exp-iat)
	}
	// public_url: links in refusals.
	p := wantProblem(t, "no grant", in.callIngress(t, w.host, tok2, "GET", "/", nil), http.StatusForbidden, "no_grant")
	if !strings.HasPrefix(p.SetURL, "http://keys.example.test/") {
		t.Errorf("set_url %q does not use the reloaded public_url", p.SetURL)
	}
	// keychain_rate: the mint above was the 1st call; 2nd passes, 3rd is
	// limited.
	if r := in.callIngress(t, w.host, w.token, "GET", "/", nil); r.Status != http.StatusOK {
		t.Errorf("2nd call: %s", r)
	}
	wantProblem(t, "3rd call under keychain_rate 2/h", in.callIngress(t, w.host, w.token, "GET", "/", nil), http.StatusTooManyRequests, "rate_limited")
	// max_value_bytes.
	r := in.callAPI(t, "PUT", "/v1/keychains/"+w.kc+"/secrets/LONG", map[string]string{"value": strings.Repeat("v", 100)})
	wantProblem(t, "value over the reloaded max_value_bytes", r, http.StatusBadRequest, "invalid")
}

// TestRateLimitsSurviveReload checks that a reload keeps rate-limit state
// (as mholt/caddy-ratelimit does): a caller who used up a bucket stays
// limited across an unrelated config change.
func TestRateLimitsSurviveReload(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{PackageOptions: "rate 2/h burst 2", KeygateOptions: "keychain_rate 3/h burst 3"})
	in := w.in
	// Use the bucket up (setup already made a call of its own).
	limited := false
	for i := 0; i < 3 && !limited; i++ {
		switch r := in.callIngress(t, w.host, w.token, "GET", "/", nil); r.Status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			limited = true
		default:
			t.Fatalf("call %d: %s", i+1, r)
		}
	}
	if !limited {
		t.Fatal("rate 2/h burst 2 never limited the caller")
	}

	cfg := in.Config
	cfg.KeygateOptions += "\n\t\tinvocation_ttl 4m"
	if r := in.Reload(cfg); r.Code != 0 {
		t.Fatalf("reload: %s", r.Stderr)
	}
	wantProblem(t, "call after the reload", in.callIngress(t, w.host, w.token, "GET", "/", nil), http.StatusTooManyRequests, "rate_limited")
	in.mustAPI(t, http.StatusOK, "GET", "/v1/packages", nil) // still serving; the caller is limited, not keygate
}
