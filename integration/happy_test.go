package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// packageCode is a package's code as it really runs: on each call it takes
// the invocation token it was given and calls the third-party API through
// keygate's egress route with it, as an SDK whose base URL points at the
// route would, then answers with what the API said. It records what it
// received from keygate.
type packageCode struct {
	*Upstream
	egressURL atomic.Pointer[string] // set once keygate runs
	client    *http.Client
}

func newPackageCode(t testing.TB) *packageCode {
	p := &packageCode{client: &http.Client{Timeout: 10 * time.Second}}
	p.Upstream = NewUpstream(t, p.serve)
	return p
}

func (p *packageCode) serve(w http.ResponseWriter, r *http.Request) {
	egress := p.egressURL.Load()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if egress == nil || !ok {
		http.Error(w, "package: no invocation token", http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), "POST", *egress+"/api/v1/charges?amount=42", strings.NewReader(`{"amount":42}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	// A package that tries to smuggle its own key-like headers: keygate
	// must overwrite or strip them.
	req.Header.Set("X-Api-Key", "package-chosen")
	req.Header.Set("Keygate-Keys", "EVERYTHING")
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, "package: egress call failed", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "package got %d from the API: %s", resp.StatusCode, body)
}

// TestHappyPath follows a user: keygate starts from a Caddyfile; the owner
// creates a keychain, sets a secret, registers a package whose code is a
// local Go handler, and approves it, all with the CLI; an agent calls the
// package; the package's code receives an invocation token (never the
// keychain token) and calls the API back through the egress route; the
// stand-in for the third-party API receives exactly the configured header.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	requireCLI(t)
	code := newPackageCode(t)
	api := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"ch_1","paid":true}`)
	})
	in := Start(t, Config{
		Upstream:         api.Addr,
		Secret:           "STRIPE_SECRET_KEY",
		TransportOptions: `header X-Api-Key "Key {secret}"`,
	})
	code.egressURL.Store(&in.EgressURL)

	// The owner: keychain, secret (from stdin), package, grant.
	r := in.MustCLI("", "keychain", "create", "--owner", "alice", "--json")
	var kc struct{ ID, Token string }
	if err := json.Unmarshal([]byte(r.Stdout), &kc); err != nil || kc.ID == "" || kc.Token == "" {
		t.Fatalf("keychain create: %v", err)
	}
	noteSensitive(kc.Token)
	value := RandomToken(t, "sk_live_")
	noteSensitive(value)
	in.MustCLI(value+"\n", "secret", "set", kc.ID, "STRIPE_SECRET_KEY", "--allow-host", "127.0.0.1")
	m := testManifest{Name: "@acme/stripe-tools", Version: "1.4.0", SHA256: sha256Hex("stripe-tools 1.4.0"),
		Host: "stripe-tools", Upstream: code.URL + "/base",
		Keys: []keySpec{{Name: "STRIPE_SECRET_KEY", Required: true,
			Description: "Stripe secret key: Dashboard -> Developers -> API keys.", Hosts: []string{"127.0.0.1"}}}}
	b, _ := json.Marshal(m)
	manifest := t.TempDir() + "/keygate.package.json"
	if err := os.WriteFile(manifest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	in.MustCLI("", "package", "put", manifest)
	in.MustCLI("", "grant", kc.ID, m.Name, "STRIPE_SECRET_KEY")

	// The agent calls the package, with Keygate-* headers of its own that
	// must not get through.
	st, _, body := in.Ingress("stripe-tools", kc.Token, "POST", "/tools/charge?x=1",
		http.Header{"Keygate-Keys": {"FORGED"}, "Keygate-Secret-Stripe-Secret-Key": {"forged"}}, `{"amount":42}`)
	if st != http.StatusOK {
		t.Fatalf("agent call: %d %s", st, redact(string(body)))
	}
	if want := `package got 200 from the API: {"id":"ch_1","paid":true}`; string(body) != want {
		t.Errorf("agent got %q, want %q", redact(string(body)), want)
	}

	// What the package's code received.
	if code.Count() != 1 {
		t.Fatalf("the package's code got %d requests, want 1", code.Count())
	}
	got := code.Last(t)
	if got.Method != "POST" || got.Path != "/base/tools/charge" || got.RawQuery != "x=1" || string(got.Body) != `{"amount":42}` {
		t.Errorf("the package's code got %s %s?%s %q", got.Method, got.Path, got.RawQuery, got.Body)
	}
	if k := got.Header.Values("Keygate-Keys"); !slices.Equal(k, []string{"STRIPE_SECRET_KEY"}) {
		t.Errorf("the package's code got Keygate-Keys %q", k)
	}
	for name := range got.Header {
		if strings.HasPrefix(strings.ToLower(name), "keygate-secret") {
			t.Errorf("sealed mode, yet the package's code got header %s", name)
		}
	}
	inv, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
	if !ok || inv == "" {
		t.Fatal("the package's code got no invocation token")
	}
	noteSensitive(inv)
	if inv == kc.Token {
		t.Fatal("the package's code got the keychain token")
	}
	for name, vals := range got.Header {
		for _, v := range vals {
			if strings.Contains(v, kc.Token) || strings.Contains(v, value) {
				t.Errorf("the package's code got the keychain token or the value in header %s", name)
			}
		}
	}
	// The invocation token carries the claims egress relies on.
	claims := jwtPayload(t, inv)
	if claims["typ"] != "invocation" || claims["sub"] != kc.ID || claims["pkg"] != m.Name ||
		claims["aud"] != "keygate:invocation" || claims["sha"] != m.SHA256 {
		t.Errorf("invocation token claims: typ %v sub %v pkg %v aud %v", claims["typ"], claims["sub"], claims["pkg"], claims["aud"])
	}
	if keys, _ := claims["keys"].([]any); len(keys) != 1 || keys[0] != "STRIPE_SECRET_KEY" {
		t.Errorf("invocation token keys: %v", claims["keys"])
	}
	exp, _ := claims["exp"].(float64)
	if ttl := time.Until(time.Unix(int64(exp), 0)); ttl < 4*time.Minute || ttl > 5*time.Minute+5*time.Second {
		t.Errorf("invocation token expires in %s, want the default 5m", ttl)
	}

	// What the third-party API received: exactly the configured header,
	// no token, no Keygate-* header, the package's request otherwise.
	if api.Count() != 1 {
		t.Fatalf("the API got %d requests, want 1", api.Count())
	}
	call := api.Last(t)
	if v := call.Header.Values("X-Api-Key"); !slices.Equal(v, []string{"Key " + value}) {
		t.Errorf("the API did not get exactly X-Api-Key: Key <value> (got %d values)", len(v))
	}
	if call.Header.Get("Authorization") != "" || call.Header.Get("Proxy-Authorization") != "" {
		t.Error("the API got an Authorization header: the invocation token was not removed")
	}
	for name, vals := range call.Header {
		if strings.HasPrefix(strings.ToLower(name), "keygate-") {
			t.Errorf("the API got header %s", name)
		}
		for _, v := range vals {
			if strings.Contains(v, inv) || strings.Contains(v, kc.Token) {
				t.Errorf("the API got a token in header %s", name)
			}
		}
	}
	if call.Method != "POST" || call.Path != "/v1/charges" || call.RawQuery != "amount=42" || string(call.Body) != `{"amount":42}` {
		t.Errorf("the API got %s %s?%s %q", call.Method, call.Path, call.RawQuery, call.Body)
	}

	// Both calls are audited, with no value or token in the audit.
	// Audit events are written in batches off the request path: poll.
	var events reply
	var evs []struct{ Action, Decision, Package string }
	seen := map[string]bool{}
	eventually(5*time.Second, 20*time.Millisecond, func() bool {
		events = in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?keychain="+kc.ID, nil)
		evs = nil
		if err := json.Unmarshal(events.Body, &evs); err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Decision == "allow" {
				seen[ev.Action] = true
			}
		}
		return seen["ingress"] && seen["egress"]
	})
	if !seen["ingress"] || !seen["egress"] {
		t.Errorf("audit lacks an allowed ingress or egress event: %+v", evs)
	}
	AssertNotContains(t, "the secret value", value, map[string]string{"audit": string(events.Body), "logs": in.Logs()})
	AssertNotContains(t, "the keychain token", kc.Token, map[string]string{"audit": string(events.Body), "logs": in.Logs()})
	AssertNotContains(t, "the invocation token", inv, map[string]string{"audit": string(events.Body), "logs": in.Logs()})
}

// jwtPayload decodes a JWT's payload without verifying it.
func jwtPayload(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token payload: %v", err)
	}
	return m
}
