package integration

// More harness: helpers that take the *testing.T they report to (so that
// parallel subtests sharing one Instance fail themselves, not the test
// that started it), helpers safe to call from load goroutines (they return
// errors instead of failing), fixtures for the common setup (keychain,
// secret, package, grant), problem+json checks, raw HTTP, and the
// data-directory scans (hash every file, search every byte).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

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

func bearer(token string) http.Header {
	if token == "" {
		return http.Header{}
	}
	return http.Header{"Authorization": {"Bearer " + token}}
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

// callIngress calls package host as an agent, reporting to t.
func (in *Instance) callIngress(t testing.TB, host, token, method, path string, hdr http.Header) reply {
	t.Helper()
	h := bearer(token)
	for k, v := range hdr {
		h[k] = v
	}
	return sendT(t, method, in.IngressURL+path, in.ingressHost(host), h, nil)
}

// callEgress calls the egress site as package code, reporting to t.
func (in *Instance) callEgress(t testing.TB, token, method, path string, hdr http.Header) reply {
	t.Helper()
	h := bearer(token)
	for k, v := range hdr {
		h[k] = v
	}
	return sendT(t, method, in.EgressURL+path, "", h, nil)
}

// keySpec is one key of a test manifest.
type keySpec struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required"`
	Description string   `json:"description,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
	Placement   any      `json:"placement,omitempty"`
}

// testManifest is a package manifest.
type testManifest struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	SHA256   string    `json:"sha256"`
	Host     string    `json:"host"`
	Upstream string    `json:"upstream"`
	Keys     []keySpec `json:"keys,omitempty"`
	AppKeys  []keySpec `json:"app_keys,omitempty"`
}

// apiKeyManifest is a package that requires API_KEY for 127.0.0.1.
func apiKeyManifest(name, host, upstream string) testManifest {
	return testManifest{Name: name, Version: "1.0.0", SHA256: sha256Hex(name + "/v1"), Host: host, Upstream: upstream,
		Keys: []keySpec{{Name: "API_KEY", Required: true, Description: "Key for the test API.", Hosts: []string{"127.0.0.1"}}}}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// newKeychain creates a keychain through the API and returns its id and
// token.
func (in *Instance) newKeychain(t testing.TB, owner string) (id, token string) {
	t.Helper()
	r := in.mustAPI(t, http.StatusCreated, "POST", "/v1/keychains", map[string]string{"owner": owner})
	var kc struct{ ID, Token string }
	if err := json.Unmarshal(r.Body, &kc); err != nil || kc.ID == "" || kc.Token == "" {
		t.Fatalf("create keychain: %v: %s", err, r)
	}
	noteSensitive(kc.Token)
	return kc.ID, kc.Token
}

// setSecret stores a secret through the API.
func (in *Instance) setSecret(t testing.TB, kc, name, value string, hosts ...string) {
	t.Helper()
	if hosts == nil {
		hosts = []string{"127.0.0.1"}
	}
	noteSensitive(value)
	in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/keychains/"+kc+"/secrets/"+name,
		map[string]any{"value": value, "allowed_hosts": hosts})
}

// putPackage registers (or updates) a package.
func (in *Instance) putPackage(t testing.TB, m testManifest) {
	t.Helper()
	r := in.callAPI(t, "PUT", "/v1/packages/"+m.Name, m)
	if r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("put package %s: %s", m.Name, r)
	}
}

// grant approves keys of package pkg for keychain kc.
func (in *Instance) grant(t testing.TB, kc, pkg string, keys ...string) {
	t.Helper()
	if keys == nil {
		keys = []string{}
	}
	in.mustAPI(t, http.StatusOK, "PUT", "/v1/keychains/"+kc+"/grants/"+pkg, map[string]any{"keys": keys})
}

// mintInvocation calls package host as an agent on a path of its own, and
// returns the invocation token that the package's code (pkgCode, a
// recording Upstream) received for that call.
func (in *Instance) mintInvocation(t testing.TB, pkgCode *Upstream, host, kcToken string) string {
	t.Helper()
	path := "/mint/" + RandomToken(t, "")
	r := in.callIngress(t, host, kcToken, "GET", path, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("ingress to %s for an invocation token: %s", host, r)
	}
	for _, req := range pkgCode.Requests() {
		if req.Path == path {
			tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			if !ok || tok == "" || tok == kcToken {
				t.Fatalf("the package's code got no invocation token")
			}
			noteSensitive(tok)
			return tok
		}
	}
	t.Fatalf("the package's code did not receive %s", path)
	return ""
}

// world is an instance with one keychain whose API_KEY is granted to one
// package (@it/tools at host "tools", its code a recording Upstream).
type world struct {
	in      *Instance
	pkgCode *Upstream
	kc      string
	token   string // keychain token
	value   string // the API_KEY value
	pkgName string
	host    string
}

// newWorld starts keygate from cfg and sets up the world's keychain.
func newWorld(t testing.TB, cfg Config) *world {
	t.Helper()
	w := &world{pkgCode: NewUpstream(t, nil), pkgName: "@it/tools", host: "tools"}
	w.in = Start(t, cfg)
	w.kc, w.token = w.in.newKeychain(t, "world")
	w.value = RandomToken(t, "sk_world_")
	w.in.setSecret(t, w.kc, "API_KEY", w.value)
	w.in.putPackage(t, apiKeyManifest(w.pkgName, w.host, w.pkgCode.URL))
	w.in.grant(t, w.kc, w.pkgName, "API_KEY")
	return w
}

// healthy checks that keygate still serves: the API answers with the
// world's keychain, the package is reached through ingress, and the value
// reaches the default upstream through egress.
func (w *world) healthy(t testing.TB) {
	t.Helper()
	if !w.in.Running() {
		t.Fatal("keygate is not running")
	}
	w.in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+w.kc, nil)
	inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	r := w.in.callEgress(t, inv, "GET", "/api/health", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("egress health check: %s", r)
	}
	if w.in.Upstream != nil {
		if got := w.in.Upstream.Last(t).Header.Get("Authorization"); got != "Bearer "+w.value {
			t.Fatal("egress health check: the upstream did not get the secret as configured")
		}
	}
}

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

// randomHex returns n random bytes in hex; safe in any goroutine.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// hostPort of an http://127.0.0.1:port URL.
func hostPort(u string) string { return strings.TrimPrefix(u, "http://") }

// eventually polls cond every poll until it holds or timeout passes; it
// reports whether it held. Bounded in time and in iterations.
func eventually(timeout, poll time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for i := 0; i <= int(timeout/poll)+1; i++ {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(poll)
	}
	return cond()
}

// hashTree returns relative path -> "mode size sha256" of every file and
// directory under root.
func hashTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().String()
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%s %d %x", fi.Mode(), fi.Size(), h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", root, err)
	}
	return out
}

// diffTrees reports every file that differs between two hashTree results.
func diffTrees(before, after map[string]string) []string {
	var diffs []string
	for p, h := range before {
		switch a, ok := after[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case a != h:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	return diffs
}

// scanTree searches every byte of every regular file under root for each
// needle (named by its key, never printed), failing t for each find, and
// returns how many bytes it read.
func scanTree(t testing.TB, root string, needles map[string]string) int64 {
	t.Helper()
	finds, total, err := findInTree(root, needles, 4<<20)
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	for _, f := range finds {
		t.Error(f)
	}
	return total
}

// findInTree reads every regular file under root in chunks of chunk bytes
// that overlap by the longest needle less one, so that no match is split,
// and reports each needle found as "<name> found in <file> near byte <n>".
func findInTree(root string, needles map[string]string, chunk int) (finds []string, total int64, err error) {
	longest := 0
	for what, n := range needles {
		if n == "" {
			return nil, 0, fmt.Errorf("empty needle %s", what)
		}
		longest = max(longest, len(n))
	}
	buf := make([]byte, chunk+longest)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, p)
		keep := 0     // bytes carried over from the previous chunk
		var off int64 // file offset of buf[0]
		found := map[string]bool{}
		for {
			n, rerr := io.ReadFull(f, buf[keep:keep+chunk])
			total += int64(n)
			window := buf[:keep+n]
			for what, needle := range needles {
				if i := bytes.Index(window, []byte(needle)); i >= 0 && !found[what] {
					found[what] = true
					finds = append(finds, fmt.Sprintf("%s found in %s near byte %d", what, rel, off+int64(i)))
				}
			}
			if rerr != nil {
				if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
					return nil
				}
				return rerr
			}
			k := min(longest-1, len(window))
			off += int64(len(window) - k)
			copy(buf, window[len(window)-k:])
			keep = k
		}
	})
	return finds, total, err
}

// leakNeedles adds a value and its common encodings (base64, URL query
// escaping) under name to needles.
func leakNeedles(needles map[string]string, name, v string) {
	needles[name] = v
	needles[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
	if q := url.QueryEscape(v); q != v {
		needles[name+" (query-escaped)"] = q
	}
}

// runUntilExit runs the binary with args (env: the instance's) and expects
// it to exit by itself within timeout, as a start-up that fails does. It
// kills the process and fails t if it is still running then.
func (in *Instance) runUntilExit(t testing.TB, timeout time.Duration, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = in.Env
	cmd.Dir = in.Dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("keygate %s was still running after %s (it should have refused to start)\nstderr:\n%s",
			strings.Join(args, " "), timeout, tail(errOut.String(), 20))
	}
	r := Result{Args: args, Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("keygate %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// errList collects errors from goroutines, keeping the first few.
type errList struct {
	mu   sync.Mutex
	n    int
	errs []string
}

func (e *errList) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 10 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

func (e *errList) report(t testing.TB, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n > 0 {
		t.Errorf("%s: %d failures; first ones:\n%s", what, e.n, strings.Join(e.errs, "\n"))
	}
}

// TestFindInTree checks the leak scanner itself: a needle split across a
// chunk boundary, one at the very end, one in a sparse file's tail.
func TestFindInTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	needle := "needle-" + randomHex(8)
	chunk := 1 << 10
	// Split across the first chunk boundary.
	a := append(bytes.Repeat([]byte{'a'}, chunk-5), needle...)
	os.WriteFile(filepath.Join(dir, "split"), append(a, bytes.Repeat([]byte{'b'}, 3*chunk)...), 0o600)
	// At the end of a larger file.
	os.WriteFile(filepath.Join(dir, "end"), append(bytes.Repeat([]byte{0}, 5*chunk+7), needle...), 0o600)
	// After a hole, in a subdirectory.
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	f, _ := os.Create(filepath.Join(dir, "sub", "sparse"))
	f.WriteAt([]byte(needle), 16<<20)
	f.Close()
	os.WriteFile(filepath.Join(dir, "clean"), bytes.Repeat([]byte("needle-"), 3*chunk), 0o600)
	finds, total, err := findInTree(dir, map[string]string{"the needle": needle}, chunk)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("the needle found in end near byte %d", 5*chunk+7),
		fmt.Sprintf("the needle found in split near byte %d", chunk-5),
		fmt.Sprintf("the needle found in %s near byte %d", filepath.Join("sub", "sparse"), 16<<20),
	}
	if strings.Join(finds, "\n") != strings.Join(want, "\n") {
		t.Errorf("finds:\n%s\nwant:\n%s", strings.Join(finds, "\n"), strings.Join(want, "\n"))
	}
	if total < 16<<20 {
		t.Errorf("read %d bytes, want every byte", total)
	}
}
