package docs

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/keygate/keygate/caddymodule"
	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// captureCaddyfile is keygate with a management API, a sealed and a
// plaintext package site, and egress routes for each refusal the captures
// need. public_url is set, as in production, so answers carry set_url.
const captureCaddyfile = `{
	admin off
	log {
		output discard
	}
	keygate {
		storage badger {{.Dir}}/store
		master_key {{.MasterKey}}
		admin_token {{.AdminToken}}
		public_url http://127.0.0.1:{{.APIPort}}
	}
}

http://:{{.APIPort}} {
	bind 127.0.0.1
	keygate_api
}

http://*.sealed.test:{{.IngressPort}} {
	bind 127.0.0.1
	keygate_package {
		suffix sealed.test
	}
}

http://*.plain.test:{{.IngressPort}} {
	bind 127.0.0.1
	keygate_package {
		suffix plain.test
		mode plaintext
	}
}

http://*.limited.test:{{.IngressPort}} {
	bind 127.0.0.1
	keygate_package {
		suffix limited.test
		rate 1/h burst 1
	}
}

http://:{{.EgressPort}} {
	bind 127.0.0.1
	route /api/* {
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
			}
		}
	}
	route /other/* {
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret OTHER_KEY
			}
		}
	}
	route /elsewhere/* {
		reverse_proxy {{.Elsewhere}} {
			transport keygate {
				secret API_KEY
			}
		}
	}
	route /limited/* {
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
				rate 1/h burst 1
			}
		}
	}
}
`

// captured maps flow, then reason, to the members of the answer captured.
type captured map[string]map[string]map[string]any

// captureSite is keygate running in this process with its stand-ins.
type captureSite struct {
	t                     *testing.T
	api, ingress, egress  string
	adminToken            string
	mu                    sync.Mutex
	lastToken             string // the invocation token the package's code got last
	upstream, packageCode *httptest.Server
}

const (
	captureSHA      = "9f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c"
	captureOtherSHA = "1111111111111111111111111111111111111111111111111111111111111111"
)

func startCaptureSite(t *testing.T) *captureSite {
	t.Helper()
	s := &captureSite{t: t, adminToken: "admintok_" + randomHex(t, 16)}
	s.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(s.upstream.Close)
	s.packageCode = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			s.mu.Lock()
			s.lastToken = tok
			s.mu.Unlock()
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.packageCode.Close)
	master := make([]byte, 32)
	rand.Read(master)
	ports := freePorts(t, 3)
	elsewhere := strings.Replace(strings.TrimPrefix(s.upstream.URL, "http://"), "127.0.0.1", "localhost", 1)
	var cf bytes.Buffer
	template.Must(template.New("").Parse(captureCaddyfile)).Execute(&cf, map[string]any{
		"Dir": t.TempDir(), "MasterKey": base64.StdEncoding.EncodeToString(master), "AdminToken": s.adminToken,
		"APIPort": ports[0], "IngressPort": ports[1], "EgressPort": ports[2],
		"Upstream": strings.TrimPrefix(s.upstream.URL, "http://"), "Elsewhere": elsewhere,
	})
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(cf.Bytes(), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting: %v", err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatalf("loading: %v", err)
	}
	t.Cleanup(func() { caddy.Stop() })
	s.api = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	s.ingress = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.egress = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	return s
}

func (s *captureSite) do(method, url, host, token string, body any) (int, http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, out
}

// admin calls the management API and fails the test on another status.
func (s *captureSite) admin(want int, method, path string, body any) []byte {
	s.t.Helper()
	st, _, b := s.do(method, s.api+path, "", s.adminToken, body)
	if st != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, st, want, b)
	}
	return b
}

// capture records a problem answer under flow, keyed by its reason.
func (s *captureSite) capture(c captured, flow string, status int, hdr http.Header, body []byte) {
	s.t.Helper()
	if hdr.Get("Content-Type") != "application/problem+json" {
		s.t.Fatalf("%s answered %d %q, not a problem: %s", flow, status, hdr.Get("Content-Type"), body)
	}
	if hdr.Get("X-Content-Type-Options") != "nosniff" {
		s.t.Errorf("%s answered %d without X-Content-Type-Options: nosniff", flow, status)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		s.t.Fatalf("%s: %v: %s", flow, err, body)
	}
	reason, _ := p["reason"].(string)
	if p["status"] != float64(status) {
		s.t.Errorf("%s %s: status member %v, answered %d", flow, reason, p["status"], status)
	}
	p["http_status"] = status
	if c[flow] == nil {
		c[flow] = map[string]map[string]any{}
	}
	c[flow][reason] = p
}

func (s *captureSite) agent(host, token string) (int, http.Header, []byte) {
	return s.do("GET", s.ingress+"/do", host, token, nil)
}

func (s *captureSite) egressCall(path, token string) (int, http.Header, []byte) {
	return s.do("POST", s.egress+path, "", token, nil)
}

func (s *captureSite) manifest(sha string, keys ...string) map[string]any {
	var ks []map[string]any
	for _, k := range keys {
		ks = append(ks, map[string]any{"name": k, "required": true, "description": "the key", "hosts": []string{"127.0.0.1"}})
	}
	return map[string]any{"name": "@acme/tools", "version": "1.0.0", "sha256": sha, "host": "tools", "upstream": s.packageCode.URL, "keys": ks,
		"webhooks": []map[string]any{{"name": "events", "path": "/hooks/events", "scheme": "github", "secret": "API_KEY"}}}
}

// captureAnswers drives each flow into each of the refusals it can give and
// returns the answers, by flow and reason.
func captureAnswers(t *testing.T) captured {
	s := startCaptureSite(t)
	c := captured{}
	var kc struct{ ID, Token string }
	json.Unmarshal(s.admin(201, "POST", "/v1/keychains", map[string]any{"owner": "alice"}), &kc)
	s.admin(201, "PUT", "/v1/packages/@acme/tools", s.manifest(captureSHA, "API_KEY"))
	host := "tools.sealed.test"

	// Ingress: no grant, then a grant missing its required key, then a
	// grant for other code.
	st, h, b := s.agent(host, kc.Token)
	s.capture(c, "ingress", st, h, b)
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{}})
	st, h, b = s.agent(host, kc.Token)
	s.capture(c, "ingress", st, h, b)
	s.admin(204, "PUT", "/v1/keychains/"+kc.ID+"/secrets/API_KEY", map[string]any{"value": "sk_live_" + randomHex(t, 12), "allowed_hosts": []string{"127.0.0.1"}})
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureOtherSHA, "API_KEY"))
	st, h, b = s.agent(host, kc.Token)
	s.capture(c, "ingress", st, h, b)
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureSHA, "API_KEY"))
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})

	// Plaintext ingress: the package's code is not among the secret's hosts.
	var kc2 struct{ ID, Token string }
	json.Unmarshal(s.admin(201, "POST", "/v1/keychains", map[string]any{"owner": "bob"}), &kc2)
	s.admin(204, "PUT", "/v1/keychains/"+kc2.ID+"/secrets/API_KEY", map[string]any{"value": "sk_live_" + randomHex(t, 12), "allowed_hosts": []string{"api.example.com"}})
	s.admin(200, "PUT", "/v1/keychains/"+kc2.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	st, h, b = s.agent("tools.plain.test", kc2.Token)
	s.capture(c, "ingress", st, h, b)

	// A rate limit of one call an hour.
	for range 2 {
		st, h, b = s.agent("tools.limited.test", kc.Token)
	}
	s.capture(c, "ingress", st, h, b)

	// API: a grant of a key the package does not request.
	st, h, b = s.do("PUT", s.api+"/v1/keychains/"+kc.ID+"/grants/@acme/tools", "", s.adminToken, map[string]any{"keys": []string{"API_KEY", "NOPE"}})
	s.capture(c, "API", st, h, b)

	// Egress, with the token the package's code got.
	mint := func() string {
		t.Helper()
		if st, _, b := s.agent(host, kc.Token); st != 200 {
			t.Fatalf("agent call: %d %s", st, b)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lastToken
	}
	tok := mint()
	if st, _, b := s.egressCall("/api/x", tok); st != 200 {
		t.Fatalf("egress call: %d %s", st, b)
	}
	for _, path := range []string{"/other/x", "/elsewhere/x"} { // not_approved, host_not_allowed
		st, h, b = s.egressCall(path, tok)
		s.capture(c, "egress", st, h, b)
	}
	for range 2 { // a rate limit of one call an hour
		st, h, b = s.egressCall("/limited/x", tok)
	}
	s.capture(c, "egress", st, h, b)
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureOtherSHA, "API_KEY"))
	st, h, b = s.egressCall("/api/x", tok) // stale_grant
	s.capture(c, "egress", st, h, b)
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureSHA, "API_KEY"))
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	tok = mint()
	s.admin(204, "DELETE", "/v1/keychains/"+kc.ID+"/secrets/API_KEY", nil)
	st, h, b = s.egressCall("/api/x", tok) // missing_keys
	s.capture(c, "egress", st, h, b)
	s.admin(204, "DELETE", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", nil)
	st, h, b = s.egressCall("/api/x", tok) // no_grant
	s.capture(c, "egress", st, h, b)

	// Egress: the package's manifest, updated under the same code, no
	// longer requests the route's key: the grant approved the old one, so
	// the call is refused as stale_grant before its key is looked at.
	s.admin(204, "PUT", "/v1/keychains/"+kc.ID+"/secrets/API_KEY", map[string]any{"value": "sk_live_" + randomHex(t, 12), "allowed_hosts": []string{"127.0.0.1"}})
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	tok = mint()
	m := s.manifest(captureSHA, "API_KEY")
	m["keys"] = append(m["keys"].([]map[string]any), map[string]any{"name": "OTHER_KEY"})
	m["keys"] = m["keys"].([]map[string]any)[1:]
	delete(m, "webhooks")
	s.admin(200, "PUT", "/v1/packages/@acme/tools", m)
	st, h, b = s.egressCall("/api/x", tok)
	s.capture(c, "egress", st, h, b)

	// Egress: the key's stored secret is a token keygate obtained by OAuth
	// (as when a manifest drops a key's oauth block and the owner approves
	// again): never injected as a plain value.
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureSHA, "API_KEY"))
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	mod, err := caddy.ActiveContext().App("keygate")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mod.(*gateway.App).Store().PutOAuthToken(kc.ID, "API_KEY", store.OAuthToken{AccessToken: "at_" + randomHex(t, 12), TokenType: "Bearer"}, []string{"127.0.0.1"}, 0); err != nil {
		t.Fatal(err)
	}
	tok = mint()
	st, h, b = s.egressCall("/api/x", tok) // secret_kind
	s.capture(c, "egress", st, h, b)

	// Webhooks: a delivery for a keychain that has not approved the package.
	s.admin(200, "PUT", "/v1/packages/@acme/tools", s.manifest(captureSHA, "API_KEY"))
	var kc3 struct{ ID, Token string }
	json.Unmarshal(s.admin(201, "POST", "/v1/keychains", map[string]any{"owner": "carol"}), &kc3)
	st, h, b = s.do("POST", s.ingress+"/_keygate/webhooks/"+kc3.ID+"/events", host, "", map[string]any{"event": "x"})
	s.capture(c, "webhooks", st, h, b)

	// Webhooks: a client address already sending four bodies at once is
	// refused a fifth.
	s.admin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	for range 4 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.ingress, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /_keygate/webhooks/%s/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", kc.ID, host)
	}
	for range 100 { // until the four stalled bodies hold their read slots
		if st, h, b = s.do("POST", s.ingress+"/_keygate/webhooks/"+kc.ID+"/events", host, "", map[string]any{"event": "x"}); st == http.StatusTooManyRequests {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.capture(c, "webhooks", st, h, b)
	return c
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
