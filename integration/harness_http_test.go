package integration

// HTTP for the tests: requests to an instance's sites, in two forms
// that share one client: methods that fail the instance's test (API,
// Ingress, Egress, Do) and methods that report to the *testing.T they are
// given, so parallel subtests sharing one Instance fail themselves
// (callAPI, callIngress, callEgress; tryHTTP returns an error instead,
// for goroutines). Then raw HTTP, problem+json checks, redaction of what
// a failure must not print, and the recording stand-in servers.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpClient is the harness's client: bounded, no redirects followed.
var httpClient = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// reply is one HTTP response.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// String shows the status and body, with every value and token the
// tests know of redacted, so that a failure never prints one.
func (r reply) String() string { return redact(fmt.Sprintf("%d %s", r.Status, r.Body)) }

// sensitive holds every secret value and token the tests have seen, for
// redact.
var sensitive struct {
	sync.Mutex
	vals map[string]bool
}

// noteSensitive records values that test output must never show.
func noteSensitive(vals ...string) {
	sensitive.Lock()
	defer sensitive.Unlock()
	if sensitive.vals == nil {
		sensitive.vals = map[string]bool{}
	}
	for _, v := range vals {
		if len(v) >= 8 {
			sensitive.vals[v] = true
		}
	}
}

// redact replaces every noted value in s.
func redact(s string) string {
	sensitive.Lock()
	defer sensitive.Unlock()
	for v := range sensitive.vals {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}

// tryHTTP makes one request with client (httpClient when nil) and returns
// an error instead of failing a test: for goroutines and fault tests.
// host, when set, overrides the Host header; body as in Instance.Do.
func tryHTTP(client *http.Client, method, u, host string, hdr http.Header, body any) (reply, error) {
	if client == nil {
		client = httpClient
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return reply{}, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if host != "" {
		req.Host = host
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading body: %w", method, u, err)
	}
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// sendT is tryHTTP that fails t on a transport error.
func sendT(t testing.TB, method, u, host string, hdr http.Header, body any) reply {
	t.Helper()
	r, err := tryHTTP(nil, method, u, host, hdr, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

// bearer is a header with token as its bearer Authorization (none when
// token is empty).
func bearer(token string) http.Header { return withBearer(nil, token) }

// withBearer is a copy of hdr with token as its bearer Authorization,
// replacing hdr's own, when token is not empty.
func withBearer(hdr http.Header, token string) http.Header {
	h := hdr.Clone()
	if h == nil {
		h = http.Header{}
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// Do makes one HTTP request (host, when set, overrides the Host header)
// and returns the status, headers and body.
func (in *Instance) Do(method, url, host string, hdr http.Header, body any) (int, http.Header, []byte) {
	in.t.Helper()
	r := sendT(in.t, method, url, host, hdr, body)
	return r.Status, r.Header, r.Body
}

// API calls the management API with the admin token; body, when not nil,
// is sent as JSON (a []byte or string as it is).
func (in *Instance) API(method, path string, body any) (int, []byte) {
	in.t.Helper()
	r := in.callAPI(in.t, method, path, body)
	return r.Status, r.Body
}

// callAPI calls the management API with the admin token, reporting to t.
func (in *Instance) callAPI(t testing.TB, method, path string, body any) reply {
	t.Helper()
	return sendT(t, method, in.APIURL+path, "", bearer(in.AdminToken), body)
}

// mustAPI is callAPI that fails t unless the status is want.
func (in *Instance) mustAPI(t testing.TB, want int, method, path string, body any) reply {
	t.Helper()
	r := in.callAPI(t, method, path, body)
	if r.Status != want {
		t.Fatalf("%s %s: %s, want %d", method, path, r, want)
	}
	return r
}

// ingressHost is the Host header of package host on this instance.
func (in *Instance) ingressHost(host string) string {
	return host + "." + in.Config.Suffix + ":" + strconv.Itoa(in.Ports.Ingress)
}

// Ingress calls package host as an agent: Host is <host>.<suffix>:<port>
// and the keychain token goes in Authorization (when not empty).
func (in *Instance) Ingress(host, token, method, path string, hdr http.Header, body any) (int, http.Header, []byte) {
	in.t.Helper()
	r := in.ingress(in.t, host, token, method, path, hdr, body)
	return r.Status, r.Header, r.Body
}

// callIngress calls package host as an agent, reporting to t.
func (in *Instance) callIngress(t testing.TB, host, token, method, path string, hdr http.Header) reply {
	t.Helper()
	return in.ingress(t, host, token, method, path, hdr, nil)
}

func (in *Instance) ingress(t testing.TB, host, token, method, path string, hdr http.Header, body any) reply {
	t.Helper()
	return sendT(t, method, in.IngressURL+path, in.ingressHost(host), withBearer(hdr, token), body)
}

// Egress calls the egress site as package code does, with an invocation
// token in Authorization (when not empty).
func (in *Instance) Egress(invocationToken, method, path string, hdr http.Header, body any) (int, http.Header, []byte) {
	in.t.Helper()
	r := sendT(in.t, method, in.EgressURL+path, "", withBearer(hdr, invocationToken), body)
	return r.Status, r.Header, r.Body
}

// callEgress calls the egress site as package code, reporting to t.
func (in *Instance) callEgress(t testing.TB, token, method, path string, hdr http.Header) reply {
	t.Helper()
	return sendT(t, method, in.EgressURL+path, "", withBearer(hdr, token), nil)
}

// rawHTTP sends req, a whole HTTP/1.1 request as bytes, to addr over one
// connection and reads one response. Writing happens beside reading, so a
// server that answers early (431 for a huge header) is still heard. A
// connection closed with no response at all gives an error.
func rawHTTP(addr string, req []byte) (reply, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return reply{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		for off := 0; off < len(req); off += 64 << 10 {
			end := min(off+64<<10, len(req))
			if _, err := conn.Write(req[off:end]); err != nil {
				return
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return reply{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// hostPort of an http://127.0.0.1:port URL.
func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

// problem is an RFC 9457 problem as keygate writes it.
type problem struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Status      int    `json:"status"`
	Detail      string `json:"detail"`
	Reason      string `json:"reason"`
	Package     string `json:"package"`
	Key         string `json:"key"`
	Field       string `json:"field"`
	SetURL      string `json:"set_url"`
	GrantedSHA  string `json:"granted_sha256"`
	CurrentSHA  string `json:"current_sha256"`
	RetryAfter  int    `json:"retry_after"`
	MissingKeys []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		SetWith     string `json:"set_with"`
	} `json:"missing_keys"`
}

// wantProblem checks that r is a problem+json answer with status and
// reason (any reason when empty), and returns it.
func wantProblem(t testing.TB, what string, r reply, status int, reason string) problem {
	t.Helper()
	var p problem
	if r.Status != status {
		t.Errorf("%s: got %s, want status %d", what, r, status)
		return p
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", what, err, r.Body)
		return p
	}
	if p.Status != status || p.Title == "" || !strings.HasPrefix(p.Type, "urn:keygate:problem:") ||
		p.Type != "urn:keygate:problem:"+p.Reason {
		t.Errorf("%s: problem %s: want status %d, a title, and type urn:keygate:problem:<reason>", what, r, status)
	}
	if reason != "" && p.Reason != reason {
		t.Errorf("%s: reason %q, want %q (detail %q)", what, p.Reason, reason, redact(p.Detail))
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("Www-Authenticate"), "Bearer") {
		t.Errorf("%s: 401 without WWW-Authenticate: Bearer (got %q)", what, r.Header.Get("Www-Authenticate"))
	}
	return p
}

// Upstream is a recording HTTP server on 127.0.0.1, standing in for a
// package's code or a third-party API.
type Upstream struct {
	URL  string // http://127.0.0.1:<port>
	Addr string // 127.0.0.1:<port>

	srv     *httptest.Server
	handler http.HandlerFunc
	mu      sync.Mutex
	reqs    []Request
}

// Request is what an Upstream received.
type Request struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
	Body                         []byte
}

// NewUpstream starts an Upstream that answers with h, or with 200 and
// "upstream ok" when h is nil. The test's cleanup closes it.
func NewUpstream(t testing.TB, h http.HandlerFunc) *Upstream {
	u := &Upstream{handler: h}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	u.URL = u.srv.URL
	u.Addr = strings.TrimPrefix(u.srv.URL, "http://")
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	u.mu.Lock()
	u.reqs = append(u.reqs, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	if u.handler != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.handler(w, r)
		return
	}
	io.WriteString(w, "upstream ok")
}

// Requests returns what the upstream received so far.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// Count returns how many requests the upstream received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Last returns the latest request, failing t if there is none.
func (u *Upstream) Last(t testing.TB) Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}
