package integration

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sdkSites has one egress route per SDK convention and per injection mode,
// all to the echo stand-in, with an access log. No route rewrites its
// path: Caddy's rewrite handler prints the request's headers at DEBUG
// before keygate sees them (the stand-in ignores the first path segment).
const sdkSites = `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	log {
		output file {{.Dir}}/access-sdk.log
	}
	route /anthropic/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				header X-Api-Key "{secret}"
				token_header X-Api-Key
			}
		}
	}
	route /azure/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				header api-key "{secret}"
				token_header api-key
			}
		}
	}
	route /google/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				header x-goog-api-key "{secret}"
				token_header x-goog-api-key
			}
		}
	}
	route /bearer/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
			}
		}
	}
	route /basic/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				basic_auth apiuser
			}
		}
	}
	route /query/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				query api_key
			}
		}
	}
	route /raw/* {
		reverse_proxy {{index .Extra 1 | printf "127.0.0.1:%d"}} {
			transport keygate {
				secret API_KEY
				token_header X-Api-Key
				scrub off
			}
		}
	}
}
`

// echoStandIn is a third-party API that hands back what it was sent:
// /json quotes the request's headers and query, /hdr puts the key in a
// response header, /split writes the key in two flushed halves, /dir
// answers the web server's trailing-slash redirect with the query kept,
// /sse streams events (the second only once sseNext is signalled), and
// /v1/messages is Anthropic's Messages API. With /gz/ first it answers
// gzip whatever it was asked for.
type echoStandIn struct {
	sseNext chan struct{}
	sseLate chan bool // true: event 2 went out without the test having read event 1
}

func injected(r *http.Request) string {
	for _, h := range []string{"X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Authorization"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return r.URL.Query().Get("api_key")
}

func (e *echoStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		path = path[i+1:]
	}
	path, gz := strings.CutPrefix(path, "/gz")
	var out io.Writer = w
	flush := func() { w.(http.Flusher).Flush() }
	if gz || strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		out = zw
		flush = func() { zw.Flush(); w.(http.Flusher).Flush() }
	}
	key := injected(r)
	switch path {
	case "/json":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(out).Encode(map[string]any{"headers": r.Header, "query": r.URL.RawQuery})
	case "/hdr":
		w.Header().Set("X-Echo-Key", key)
		io.WriteString(out, "see header")
	case "/split":
		half := len(key) / 2
		io.WriteString(out, "first half: "+key[:half])
		flush()
		io.WriteString(out, key[half:]+" :second half")
	case "/dir":
		w.Header().Set("Location", "/dir/?"+r.URL.RawQuery)
		w.WriteHeader(http.StatusMovedPermanently)
	case "/sse":
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(out, "event: one\ndata: %s\n\n", key)
		flush()
		select {
		case <-e.sseNext:
			e.sseLate <- false
		case <-time.After(20 * time.Second):
			e.sseLate <- true
		}
		io.WriteString(out, "event: two\ndata: bye\n\n")
	case "/v1/messages":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_standin")
		if r.Header.Get("Authorization") != "" || r.Header.Get("Anthropic-Version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(out, `{"type":"error","error":{"type":"invalid_request_error","message":"bad headers"}}`)
			return
		}
		fmt.Fprintf(out, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":"got key %s"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":3}}`, key)
	default:
		http.NotFound(w, r)
	}
}

func startSDKWorld(t *testing.T) (*world, *echoStandIn, string) {
	t.Helper()
	e := &echoStandIn{sseNext: make(chan struct{}), sseLate: make(chan bool, 1)}
	ports := FreePorts(t, 1)
	srv := &http.Server{Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), Handler: e}
	go srv.ListenAndServe()
	t.Cleanup(func() { srv.Close() })
	w := newWorld(t, Config{
		Template:      leakCaddyfile,
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}",
		ExtraPorts:    1,
		ExtraSites:    strings.ReplaceAll(sdkSites, "{{index .Extra 1 | printf \"127.0.0.1:%d\"}}", "127.0.0.1:"+strconv.Itoa(ports[0])),
	})
	return w, e, "http://127.0.0.1:" + strconv.Itoa(w.in.Ports.Extra[0])
}

// readBody reads a reply, undoing gzip if keygate delivered it.
func readBody(t *testing.T, res *http.Response) string {
	t.Helper()
	var r io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEgressSDKHeadersAndEchoes drives each token header as an SDK sends
// it, and each echo an upstream can make, with and without gzip; then
// scans every log for the value and the tokens.
func TestEgressSDKHeadersAndEchoes(t *testing.T) {
	t.Parallel()
	w, e, base := startSDKWorld(t)
	inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(route, path string, hdr http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+route+path, nil)
		for k, v := range hdr {
			req.Header[k] = v
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res, readBody(t, res)
	}
	tokenIn := map[string]http.Header{
		"/anthropic": {"X-Api-Key": {inv}, "Anthropic-Version": {"2023-06-01"}},
		"/azure":     {"Api-Key": {inv}},
		"/google":    {"X-Goog-Api-Key": {inv}},
		"/bearer":    {"Authorization": {"Bearer " + inv}},
		"/basic":     {"Authorization": {"Bearer " + inv}},
		"/query":     {"Authorization": {"Bearer " + inv}},
	}
	for route, hdr := range tokenIn {
		for _, path := range []string{"/json", "/hdr", "/split", "/dir?x=1", "/gz/json", "/gz/split"} {
			for _, gz := range []bool{false, true} {
				h := hdr.Clone()
				if gz {
					h.Set("Accept-Encoding", "gzip")
				}
				name := fmt.Sprintf("%s%s gzip=%v", route, path, gz)
				res, body := do(route, path, h)
				if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusMovedPermanently {
					t.Errorf("%s: %d %s", name, res.StatusCode, redact(body))
					continue
				}
				all := body + fmt.Sprint(res.Header)
				if strings.Contains(all, w.value) || strings.Contains(all, inv) {
					t.Errorf("%s: the answer carries the key or the token: %s", name, redact(all))
				}
				if echoes := !strings.HasPrefix(path, "/dir") || route == "/query"; echoes && !strings.Contains(all, "[redacted by keygate]") {
					t.Errorf("%s: nothing was scrubbed: %s", name, redact(all))
				}
			}
		}
	}
	// With scrub off the echo is untouched; the token never reaches it.
	if res, body := do("/raw", "/json", http.Header{"X-Api-Key": {inv}}); res.StatusCode != http.StatusOK || !strings.Contains(body, w.value) || strings.Contains(body, inv) {
		t.Errorf("scrub off: want the echo untouched and the token gone: %d %s", res.StatusCode, redact(body))
	}

	// SSE: event one arrives while the stand-in still holds event two back.
	req, _ := http.NewRequest("GET", base+"/azure/sse", nil)
	req.Header.Set("Api-Key", inv)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	var first strings.Builder
	for !strings.HasSuffix(first.String(), "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading event one: %v", err)
		}
		first.WriteString(line)
	}
	close(e.sseNext)
	if late := <-e.sseLate; late {
		t.Error("event one reached the caller only after the stream ended")
	}
	rest, _ := io.ReadAll(br)
	res.Body.Close()
	if strings.Contains(first.String(), w.value) || !strings.Contains(first.String(), "[redacted by keygate]") || !strings.Contains(string(rest), "event: two") {
		t.Errorf("SSE: %q then %q", redact(first.String()), rest)
	}

	// The scrubbed answers were audited with a count.
	r := w.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?keychain="+w.kc+"&limit=1000", nil)
	if !strings.Contains(string(r.Body), "scrubbed: ") {
		t.Errorf("no scrubbed: n audit event: %s", r.Body)
	}
	scanForLeaks(t, w.in, "X-Api-Key", map[string]string{"secret value": w.value, "invocation token": inv})
}

// scanForLeaks stops the instance and searches its output and log files.
// tokenHeader is the header whose REDACTED entry the access log must show.
func scanForLeaks(t *testing.T, in *Instance, tokenHeader string, needles map[string]string) {
	t.Helper()
	in.Stop()
	outputs := map[string]string{"process output": in.Logs()}
	logs, _ := filepath.Glob(filepath.Join(in.Dir, "*.log"))
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		outputs[filepath.Base(f)] = string(b)
	}
	if !strings.Contains(outputs["access-sdk.log"], "handled request") {
		t.Error("the access log of the SDK site is empty: the scan would prove little")
	}
	if !strings.Contains(outputs["access-sdk.log"], `"`+tokenHeader+`":["REDACTED"]`) {
		t.Errorf("the access log has no line with %s REDACTED", tokenHeader)
	}
	for what, v := range needles {
		AssertNotContains(t, what, v, outputs)
		for name, out := range outputs {
			if i := strings.Index(out, v); i >= 0 {
				t.Logf("%s in %s: %s", what, name, redact(out[max(0, i-600):min(len(out), i+100)]))
			}
		}
	}
}

// anthropicScript calls the Messages API the way an agent's package would,
// with the invocation token as the API key.
const anthropicScript = `
const Anthropic = require("@anthropic-ai/sdk");
const client = new Anthropic({ apiKey: process.env.KEYGATE_TOKEN, baseURL: process.env.KEYGATE_BASE, maxRetries: 0 });
client.messages.create({ model: "claude-test", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
  .then((m) => { console.log(JSON.stringify(m)); })
  .catch((e) => { console.error(String(e)); process.exit(1); });
`

// TestEgressAnthropicSDK drives the unmodified @anthropic-ai/sdk from npm
// through an egress route with token_header X-Api-Key, its key being the
// invocation token. Two versions, pinned: 0.x sends the key as X-Api-Key
// (the route's token_header), 1.x as Authorization: Bearer (accepted on
// every route); the route injects the real key as X-Api-Key either way.
func TestEgressAnthropicSDK(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ version, sends string }{
		{"0.137.0", "X-Api-Key"},
		{"1.15.0", "Authorization"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			t.Parallel()
			dir := npmInstall(t, "@anthropic-ai/sdk", tc.version)
			w, _, base := startSDKWorld(t)
			inv := w.in.mintInvocation(t, w.pkgCode, w.host, w.token)
			script := filepath.Join(t.TempDir(), "call.js")
			os.WriteFile(script, []byte(anthropicScript), 0o600)
			cmd := exec.Command("node", script)
			cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"), "KEYGATE_TOKEN="+inv, "KEYGATE_BASE="+base+"/anthropic")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the SDK failed: %v: %s", err, redact(string(out)))
			}
			if !strings.Contains(string(out), "got key [redacted by keygate]") || strings.Contains(string(out), w.value) {
				t.Errorf("the SDK's answer: %s", redact(string(out)))
			}
			scanForLeaks(t, w.in, tc.sends, map[string]string{"secret value": w.value, "invocation token": inv})
		})
	}
}

// Bounds of npmInstall.
const (
	npmTimeout  = 3 * time.Minute
	npmAttempts = 3
)

// npmInstall installs pkg into a directory kept across runs and returns it.
// It skips without npm, unless CI=true. Each run installs into a staging
// directory of its own and renames it into place when complete, so that
// concurrent runs never share a half-installed directory (the first
// rename wins; the others use its result). Each attempt is bounded by
// npmTimeout, and a failed one is retried.
func npmInstall(t *testing.T, pkg, version string) string {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("npm is needed to drive the Anthropic SDK")
		}
		t.Skip("npm not found: skipping the Anthropic SDK test")
	}
	base := filepath.Join(os.TempDir(), "keygate-npm")
	dir := filepath.Join(base, strings.ReplaceAll(pkg, "/", "_")+"@"+version)
	installed := func() bool {
		_, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json"))
		return err == nil
	}
	if installed() {
		return dir
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 1; attempt <= npmAttempts; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Duration(attempt) * 2 * time.Second)
		}
		staging, err := os.MkdirTemp(base, "staging-")
		if err != nil {
			t.Fatal(err)
		}
		lastErr = npmInstallInto(staging, pkg, version)
		if lastErr == nil {
			lastErr = os.Rename(staging, dir)
		}
		os.RemoveAll(staging) // gone already when the rename worked
		if installed() {
			return dir
		}
		t.Logf("npm install %s@%s, attempt %d: %v", pkg, version, attempt, lastErr)
	}
	t.Fatalf("npm install %s@%s: %v", pkg, version, lastErr)
	return ""
}

// npmInstallInto runs one bounded npm install of pkg@version in dir.
func npmInstallInto(dir, pkg, version string) error {
	// A package.json of its own, or npm installs into a parent that has one.
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private": true}`), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--silent", pkg+"@"+version)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no result within %s", npmTimeout)
		}
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}
