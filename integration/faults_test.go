package integration

import (
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Modes of a faultServer.
const (
	faultOK    = "ok"    // answers "ok <path>"
	faultSlow  = "slow"  // answers after faultSlowFor
	faultReset = "reset" // accepts, then resets the connection (RST)
	faultClose = "close" // accepts, reads the request, closes without answering
)

const faultSlowFor = 3 * time.Second

// faultServer is an upstream on a fixed 127.0.0.1 port that can go down
// (nothing listens: connection refused), come back, and misbehave. Keep-
// alive is off, so each mode holds from the next request on.
type faultServer struct {
	t    testing.TB
	Addr string
	URL  string

	mu     sync.Mutex
	mode   string
	l      net.Listener
	srv    *http.Server
	got    []Request
	wake   chan struct{} // closed to end slow answers early
	closed bool
	port   int
	hold   func() // releases the port held while down
}

// newFaultServer reserves a port and starts down.
func newFaultServer(t testing.TB) *faultServer {
	port := FreePorts(t, 1)[0]
	f := &faultServer{t: t, Addr: "127.0.0.1:" + strconv.Itoa(port), wake: make(chan struct{}), port: port}
	f.URL = "http://" + f.Addr
	f.hold = holdPort(port)
	t.Cleanup(func() {
		f.release()
		f.down()
		f.mu.Lock()
		if f.hold != nil {
			f.hold()
			f.hold = nil
		}
		f.mu.Unlock()
	})
	return f
}

// up starts listening (if down) and sets the mode.
func (f *faultServer) up(mode string) {
	f.t.Helper()
	f.mu.Lock()
	f.mode = mode
	listening := f.l != nil
	if !listening && f.hold != nil {
		f.hold()
		f.hold = nil
	}
	f.mu.Unlock()
	if listening {
		return
	}
	var l net.Listener
	var err error
	// The port was free moments ago; another process may take it
	// meanwhile (bounded retries, then fail).
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", f.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		f.t.Fatalf("fault server: listening on %s again: %v", f.Addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	f.mu.Lock()
	f.l, f.srv = l, srv
	f.mu.Unlock()
	go srv.Serve(&faultListener{Listener: l, f: f})
}

// release ends the slow answers under way, and the later ones.
func (f *faultServer) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		close(f.wake)
		f.closed = true
	}
}

// down stops listening: connections are refused. The port stays held
// (see holdPort), so that no other test's server takes it meanwhile.
func (f *faultServer) down() {
	f.mu.Lock()
	srv := f.srv
	f.l, f.srv = nil, nil
	f.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Close()
	f.mu.Lock()
	if !f.closed && f.hold == nil {
		f.hold = holdPort(f.port)
	}
	f.mu.Unlock()
}

func (f *faultServer) currentMode() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode
}

func (f *faultServer) requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.got...)
}

func (f *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	f.mu.Lock()
	f.got = append(f.got, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	mode, wake := f.mode, f.wake
	f.mu.Unlock()
	if mode == faultSlow {
		select {
		case <-time.After(faultSlowFor):
		case <-wake:
		case <-r.Context().Done():
		}
	}
	io.WriteString(w, "ok "+r.URL.Path)
}

// faultListener misbehaves at accept time in modes reset and close.
type faultListener struct {
	net.Listener
	f *faultServer
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		switch l.f.currentMode() {
		case faultReset:
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // close sends RST
			}
			c.Close()
		case faultClose:
			go func() {
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				c.Read(make([]byte, 4096))
				c.Close()
			}()
		default:
			return c, nil
		}
	}
}

// TestUpstreamFaults takes the package's upstream and the third-party
// upstream down, makes them slow (the egress transport has a short
// response_header_timeout, set in the Caddyfile) and makes them reset or
// drop connections: keygate answers 502 or 504 with no secret and no token
// in the answer, and recovers as soon as the upstream does.
func TestUpstreamFaults(t *testing.T) {
	t.Parallel()
	pkg := newFaultServer(t)
	api := newFaultServer(t)
	in := Start(t, Config{
		Upstream:         api.Addr,
		TransportOptions: "dial_timeout 500ms\n\t\t\t\tresponse_header_timeout 500ms",
	})
	kc, tok := in.newKeychain(t, "faults")
	value := RandomToken(t, "sk_fault_")
	in.setSecret(t, kc, "API_KEY", value)
	in.putPackage(t, apiKeyManifest("@it/faulty", "faulty", pkg.URL))
	in.grant(t, kc, "@it/faulty", "API_KEY")

	var answers []string // every failed answer, for the leak check
	failed := func(what string, r reply, want ...int) {
		t.Helper()
		answers = append(answers, string(r.Body)+strings.Join(flatten(r.Header), "\n"))
		for _, w := range want {
			if r.Status == w {
				return
			}
		}
		t.Errorf("%s: %s, want one of %v", what, r, want)
	}
	ingress := func() reply { return in.callIngress(t, "faulty", tok, "GET", "/tool", nil) }

	// The package's upstream.
	// keygate's own answer when the package cannot be reached is a problem.
	ingressFailed := func(what string, r reply) {
		t.Helper()
		failed(what, r, http.StatusBadGateway)
		wantProblem(t, what, r, http.StatusBadGateway, "upstream_unavailable")
	}
	ingressFailed("ingress, package down", ingress())
	pkg.up(faultReset)
	ingressFailed("ingress, package resets", ingress())
	pkg.up(faultClose)
	ingressFailed("ingress, package closes without answering", ingress())
	pkg.up(faultOK)
	if r := ingress(); r.Status != http.StatusOK || string(r.Body) != "ok /tool" {
		t.Fatalf("ingress once the package is back: %s", r)
	}
	var inv string
	for _, r := range pkg.requests() {
		inv = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	noteSensitive(inv)
	egress := func() reply { return in.callEgress(t, inv, "GET", "/api/charge", nil) }

	// The third-party upstream.
	failed("egress, API down", egress(), http.StatusBadGateway)
	api.up(faultReset)
	failed("egress, API resets", egress(), http.StatusBadGateway)
	api.up(faultClose)
	failed("egress, API closes without answering", egress(), http.StatusBadGateway)
	api.up(faultSlow)
	start := time.Now()
	failed("egress, API slower than response_header_timeout", egress(), http.StatusGatewayTimeout)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the slow egress call took %s; response_header_timeout is 500ms", d)
	}
	api.up(faultOK)
	if r := egress(); r.Status != http.StatusOK || string(r.Body) != "ok /charge" {
		t.Fatalf("egress once the API is back: %s", r)
	}
	got := api.requests()
	if last := got[len(got)-1]; last.Header.Get("Authorization") != "Bearer "+value {
		t.Error("the API did not get the configured header once back")
	}
	// Down again, and back again: no state is kept about a bad upstream.
	api.down()
	failed("egress, API down again", egress(), http.StatusBadGateway)
	api.up(faultOK)
	if r := egress(); r.Status != http.StatusOK {
		t.Errorf("egress once the API is back again: %s", r)
	}

	// The whole round trip, package code included, still works.
	if r := ingress(); r.Status != http.StatusOK {
		t.Errorf("ingress at the end: %s", r)
	}
	all := strings.Join(answers, "\n")
	for what, needle := range map[string]string{"the secret value": value, "the keychain token": tok, "the invocation token": inv, "the admin token": in.AdminToken} {
		AssertNotContains(t, what, needle, map[string]string{"keygate's error answers": all})
	}
	// keygate's log says what failed, without a value or a token.
	logs := in.Logs()
	AssertNotContains(t, "the secret value", value, map[string]string{"logs": logs})
	AssertNotContains(t, "the invocation token", inv, map[string]string{"logs": logs})
}

// TestSlowPackage checks that a package slower than usual but within
// response_timeout (default 60s) is awaited and its answer passed on, while
// keygate serves others.
func TestSlowPackage(t *testing.T) {
	t.Parallel()
	pkg := newFaultServer(t)
	w := newWorld(t, Config{})
	w.in.putPackage(t, apiKeyManifest("@it/slow", "slow", pkg.URL))
	w.in.grant(t, w.kc, "@it/slow", "API_KEY")
	pkg.up(faultSlow)
	done := make(chan reply, 1)
	go func() {
		r, err := tryHTTP(nil, "GET", w.in.IngressURL+"/", w.in.ingressHost("slow"), bearer(w.token), nil)
		if err != nil {
			r = reply{Status: -1, Body: []byte(err.Error())}
		}
		done <- r
	}()
	// While the slow call hangs, keygate serves others.
	if !eventually(5*time.Second, 10*time.Millisecond, func() bool { return len(pkg.requests()) == 1 }) {
		t.Fatal("the slow package never got the call")
	}
	w.healthy(t)
	pkg.release()
	select {
	case r := <-done:
		if r.Status != http.StatusOK {
			t.Errorf("slow package: %s", r)
		}
	case <-time.After(faultSlowFor + 10*time.Second):
		t.Fatal("the slow package's answer never came")
	}
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		for _, v := range vs {
			out = append(out, k+": "+v)
		}
	}
	return out
}

// TestEgressTLS checks that the keygate transport verifies an HTTPS
// upstream's certificate by default (TLS to upstreams is verified by
// default), so a value is never sent over a connection to an
// unverified peer, and that the http transport's TLS options pass through
// `transport keygate` so that a trusted CA makes the same call work.
func TestEgressTLS(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "tls ok")
	}))
	api.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	t.Cleanup(api.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	site := func(trusted bool) string {
		opt := ""
		if trusted {
			opt = "\n\t\t\t\ttls_trust_pool file " + caFile
		}
		return `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	route /tls/* {
		uri strip_prefix /tls
		reverse_proxy ` + api.URL + ` {
			transport keygate {
				secret API_KEY` + opt + `
			}
		}
	}
}`
	}
	w := newWorld(t, Config{ExtraPorts: 1, ExtraSites: site(false)})
	in := w.in
	tlsURL := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0]) + "/tls/x"
	inv := in.mintInvocation(t, w.pkgCode, w.host, w.token)
	r := sendT(t, "GET", tlsURL, "", bearer(inv), nil)
	if r.Status != http.StatusBadGateway {
		t.Errorf("HTTPS upstream with an untrusted certificate: %s, want 502", r)
	}
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("the unverified upstream got %d requests: the value went over an unverified connection", n)
	}
	AssertNotContains(t, "the secret value", w.value, map[string]string{"502 body": string(r.Body)})

	// With the upstream's CA trusted through the keygate transport's TLS
	// options, the same call goes through.
	cfg := in.Config
	cfg.ExtraSites = site(true)
	adapted := RunBinary(t, in.Env, "", "adapt", "--config", writeTemp(t, in.RenderCaddyfile(cfg)), "--adapter", "caddyfile")
	if adapted.Code != 0 || strings.Contains(adapted.Stdout, `"pem_files":["`+caFile+`","}"]`) {
		t.Fatalf("a TLS option inside transport keygate did not adapt as inside transport http:\n%s%s", adapted.Stdout, adapted.Stderr)
	}
	in.Reload(cfg)
	r = sendT(t, "GET", tlsURL, "", bearer(inv), nil)
	if r.Status != http.StatusOK || string(r.Body) != "tls ok" {
		t.Fatalf("HTTPS upstream with a trusted CA: %s", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "Bearer "+w.value {
		t.Error("the HTTPS upstream did not get the configured header")
	}
}

// writeTemp writes s to a new file and returns its path.
func writeTemp(t testing.TB, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPackageResponseTimeout checks keygate_package's response_timeout: a
// package slower than it gets the agent a 504 problem, not a held
// connection.
func TestPackageResponseTimeout(t *testing.T) {
	t.Parallel()
	pkg := newFaultServer(t)
	w := newWorld(t, Config{PackageOptions: "response_timeout 300ms"})
	w.in.putPackage(t, apiKeyManifest("@it/hung", "hung", pkg.URL))
	w.in.grant(t, w.kc, "@it/hung", "API_KEY")
	pkg.up(faultSlow)
	t.Cleanup(pkg.release)
	r := sendT(t, "GET", w.in.IngressURL+"/", w.in.ingressHost("hung"), bearer(w.token), nil)
	wantProblem(t, "package slower than response_timeout", r, http.StatusGatewayTimeout, "upstream_unavailable")
	w.healthy(t)
}
