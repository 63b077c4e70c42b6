package caddymodule_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	kgapp "github.com/keygate/keygate/caddymodule/gateway"
)

// gateway is keygate running in this process from a Caddyfile, with a
// management API, a package site, an egress site, and debug logs (access
// logs included) written to one file.
type gateway struct {
	t          *testing.T
	dir        string
	logPath    string
	adminToken string
	api        string // http://127.0.0.1:port
	ingress    string
	egress     string
	suffix     string

	// upstream is the stand-in third-party API; it records what it got.
	upstream *recorder
	// pkgUpstream is the stand-in package code.
	pkgUpstream *recorder
	// bodies collects every response body the tests read, for leak scans.
	bodies *bytes.Buffer
}

type gatewayOptions struct {
	mode       string // keygate_package mode
	rate       string // keygate_package rate
	egressCfg  string // extra transport options for the /api/* route
	apiOptions string // options in the keygate_api block
	publicURL  bool   // set public_url to the API site, as in production
	keygateCfg string // extra options in the global keygate block
	// egressRoutes, given the upstream's host:port, returns more routes
	// for the egress site.
	egressRoutes func(upstream string) string
}

const gatewayCaddyfile = `{
	admin off
	log {
		output file {{.Log}}
		format json
		level DEBUG
	}
	log audit {
		output file {{.Log}}
		format json
		include keygate.audit
	}
	keygate {
		storage badger {{.Dir}}/store
		master_key {{.MasterKey}}
		admin_token {{.AdminToken}}
		{{if .PublicURL}}public_url http://127.0.0.1:{{.APIPort}}{{end}}
		{{.KeygateCfg}}
	}
}

http://:{{.APIPort}} {
	bind 127.0.0.1
	log {
		output file {{.Log}}
		format json
	}
	keygate_api {
		{{.APIOptions}}
	}
}

http://*.{{.Suffix}}:{{.IngressPort}} {
	bind 127.0.0.1
	log {
		output file {{.Log}}
		format json
	}
	keygate_package {
		suffix {{.Suffix}}
		{{if .Mode}}mode {{.Mode}}{{end}}
		{{if .Rate}}rate {{.Rate}}{{end}}
	}
}

http://:{{.EgressPort}} {
	bind 127.0.0.1
	log {
		output file {{.Log}}
		format json
	}
	route /api/* {
		uri strip_prefix /api
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
				{{.EgressCfg}}
			}
		}
	}
	route /app/* {
		uri strip_prefix /app
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret WEBHOOK_SECRET app
				header X-Webhook-Secret "{secret}"
			}
		}
	}
	{{.EgressRoutes}}
	route /elsewhere/* {
		uri strip_prefix /elsewhere
		reverse_proxy {{.Other}} {
			transport keygate {
				secret API_KEY
			}
		}
	}
}
`

// caddyMu serialises tests that run Caddy in this process: there is one
// running config per process.
var caddyMu sync.Mutex

func startGateway(t *testing.T, o gatewayOptions) *gateway {
	t.Helper()
	caddyMu.Lock()
	t.Cleanup(caddyMu.Unlock)

	dir := t.TempDir()
	g := &gateway{
		t:           t,
		dir:         dir,
		logPath:     filepath.Join(dir, "keygate.log"),
		adminToken:  "admintok_" + randHex(t, 16),
		suffix:      "pkg.test",
		upstream:    newRecorder(t),
		pkgUpstream: newRecorder(t),
		bodies:      new(bytes.Buffer),
	}
	other := newRecorder(t) // a host no secret allows
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	vars := map[string]any{
		"Log":         g.logPath,
		"Dir":         dir,
		"MasterKey":   base64.StdEncoding.EncodeToString(master),
		"AdminToken":  g.adminToken,
		"APIPort":     ports[0],
		"IngressPort": ports[1],
		"EgressPort":  ports[2],
		"Suffix":      g.suffix,
		"Mode":        o.mode,
		"Rate":        o.rate,
		"EgressCfg":   o.egressCfg,
		"APIOptions":  o.apiOptions,
		"PublicURL":   o.publicURL,
		"KeygateCfg":  o.keygateCfg,
		"Upstream":    strings.TrimPrefix(g.upstream.srv.URL, "http://"),
		"Other":       strings.Replace(strings.TrimPrefix(other.srv.URL, "http://"), "127.0.0.1", "localhost", 1),
	}
	vars["EgressRoutes"] = ""
	if o.egressRoutes != nil {
		vars["EgressRoutes"] = o.egressRoutes(vars["Upstream"].(string))
	}
	var cf bytes.Buffer
	if err := template.Must(template.New("").Parse(gatewayCaddyfile)).Execute(&cf, vars); err != nil {
		t.Fatal(err)
	}
	cfgJSON, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt(cf.Bytes(), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapting test Caddyfile: %v (warnings %v)", err, warn)
	}
	if err := caddy.Load(cfgJSON, true); err != nil {
		t.Fatalf("loading config: %v", err)
	}
	t.Cleanup(func() {
		if err := caddy.Stop(); err != nil {
			t.Errorf("stopping caddy: %v", err)
		}
	})
	g.api = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	g.ingress = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	g.egress = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	return g
}

// app returns the running keygate app.
func (g *gateway) app() *kgapp.App {
	ctx := caddy.ActiveContext()
	a, err := ctx.App("keygate")
	if err != nil {
		g.t.Fatal(err)
	}
	return a.(*kgapp.App)
}

// call makes a request and returns status, headers and body; the body is
// kept for leak scans.
func (g *gateway) call(method, url, host string, hdr map[string]string, body any) (int, http.Header, []byte) {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	g.bodies.Write(out)
	for k, vs := range res.Header {
		fmt.Fprintf(g.bodies, "%s: %s\n", k, strings.Join(vs, ","))
	}
	return res.StatusCode, res.Header, out
}

// admin calls the management API with the admin token.
func (g *gateway) admin(method, path string, body any) (int, []byte) {
	g.t.Helper()
	st, _, b := g.call(method, g.api+path, "", map[string]string{"Authorization": "Bearer " + g.adminToken}, body)
	return st, b
}

// mustAdmin calls the API and fails the test on an unexpected status.
func (g *gateway) mustAdmin(want int, method, path string, body any) []byte {
	g.t.Helper()
	st, b := g.admin(method, path, body)
	if st != want {
		g.t.Fatalf("%s %s: status %d, want %d: %s", method, path, st, want, b)
	}
	return b
}

// agent calls the package site as an agent with a keychain token.
func (g *gateway) agent(pkgHost, token string, hdr map[string]string) (int, http.Header, []byte) {
	g.t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return g.call("GET", g.ingress+"/do/thing?x=1", pkgHost+"."+g.suffix, h, nil)
}

// egressCall calls an egress route as package code with a token.
func (g *gateway) egressCall(path, token string, hdr map[string]string) (int, http.Header, []byte) {
	g.t.Helper()
	h := map[string]string{}
	for k, v := range hdr {
		h[k] = v
	}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	return g.call("POST", g.egress+path, "", h, `{"amount":1}`)
}

// logs returns everything logged so far.
func (g *gateway) logs() string {
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		g.t.Fatal(err)
	}
	return string(b)
}

// setup is a keychain with a secret and a package that requests it,
// approved.
type setup struct {
	kc, token, secret string
	pkg               map[string]any
}

const testSHA = "9f2c4d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c"

func (g *gateway) manifest(name, host string, keys ...map[string]any) map[string]any {
	return map[string]any{
		"name": name, "version": "1.0.0", "sha256": testSHA, "host": host,
		"upstream": g.pkgUpstream.srv.URL,
		"keys":     keys,
	}
}

// standardSetup creates keychain, secret API_KEY (allowed on 127.0.0.1),
// package @acme/tools (host "tools") requesting API_KEY, and the grant.
func (g *gateway) standardSetup() setup {
	g.t.Helper()
	var kc struct{ ID, Token string }
	json.Unmarshal(g.mustAdmin(201, "POST", "/v1/keychains", map[string]any{"owner": "alice"}), &kc)
	s := setup{kc: kc.ID, token: kc.Token, secret: "sk_live_" + randHex(g.t, 12)}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/API_KEY",
		map[string]any{"value": s.secret, "allowed_hosts": []string{"127.0.0.1"}})
	s.pkg = g.manifest("@acme/tools", "tools", map[string]any{
		"name": "API_KEY", "required": true, "description": "The API key: Dashboard -> Keys.", "hosts": []string{"127.0.0.1"},
	})
	g.mustAdmin(201, "PUT", "/v1/packages/@acme/tools", s.pkg)
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	return s
}

// recorder is a real HTTP upstream on 127.0.0.1 that records requests.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newRecorder(t *testing.T) *recorder {
	r := new(recorder)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "upstream ok")
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("upstream got no request")
	}
	return r.reqs[len(r.reqs)-1]
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// problem decodes a problem+json body.
func problem(t *testing.T, hdr http.Header, body []byte) map[string]any {
	t.Helper()
	if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, body)
	}
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, body)
	}
	return p
}

// waitFor polls cond for a bounded time: the audit queue writes in the
// background.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
