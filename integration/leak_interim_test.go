package integration

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostileInterim is an allowed upstream that reflects what keygate
// injected (the Authorization header, the api_key parameter) where the
// body scrubber does not look: in a 103 Early Hints answer, in a trailer
// it announced, and in one it did not. Its body is clean.
type hostileInterim struct {
	mu   sync.Mutex
	seen []string // what it was sent, for the test to look for
}

func (h *hostileInterim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var got []string
	if v := r.Header.Get("Authorization"); v != "" {
		got = append(got, v)
	}
	if v := r.URL.Query().Get("api_key"); v != "" {
		got = append(got, v)
	}
	h.mu.Lock()
	h.seen = append(h.seen, got...)
	h.mu.Unlock()
	echo := strings.Join(got, " ")
	w.Header().Set("Link", `</hint.css>; rel=preload; title="`+echo+`"`)
	w.Header().Set("X-Early-Echo", echo)
	w.WriteHeader(http.StatusEarlyHints)
	delete(w.Header(), "Link")
	delete(w.Header(), "X-Early-Echo")
	w.Header().Set("Trailer", "X-Announced")
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "a clean body\n")
	http.NewResponseController(w).Flush()
	w.Header().Set("X-Announced", echo)
	w.Header().Set(http.TrailerPrefix+"X-Unannounced", echo)
}

func (h *hostileInterim) values() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.seen...)
}

// startHostile serves h over HTTP/1.1, or over HTTP/2 without TLS (h2c,
// prior knowledge) when h2c is set.
func startHostile(t *testing.T, h http.Handler, h2c bool) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// interimRoutes are egress routes of every kind (bearer, basic, query,
// token_header, scrub off) to a hostile upstream over HTTP/1.1 and h2c.
func interimRoutes(h1, h2 string) string {
	var b strings.Builder
	b.WriteString("http://:{{index .Extra 0}} {\n\tbind 127.0.0.1\n\tlog {\n\t\toutput file {{.Dir}}/access-interim.log\n\t\tformat json\n\t}\n")
	for _, proto := range []struct{ name, addr, versions string }{{"h1", h1, ""}, {"h2c", h2, "versions h2c"}} {
		for _, kind := range []struct{ name, opts string }{
			{"bearer", ""}, {"basic", "basic_auth apiuser"}, {"query", "query api_key"},
			{"tokenhdr", "token_header X-Api-Key"}, {"raw", "scrub off"},
		} {
			fmt.Fprintf(&b, "\troute /%s/%s/* {\n\t\treverse_proxy %s {\n\t\t\ttransport keygate {\n\t\t\t\tsecret API_KEY\n\t\t\t\t%s\n\t\t\t\t%s\n\t\t\t}\n\t\t}\n\t}\n",
				proto.name, kind.name, proto.addr, kind.opts, proto.versions)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// interimAnswer is everything a caller got back: each interim answer's
// status and headers, the final headers, body and trailers. client nil is
// a plain one.
func interimAnswer(t *testing.T, client *http.Client, method, url string, hdr http.Header) (string, int) {
	t.Helper()
	var b strings.Builder
	interim := 0
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		interim++
		fmt.Fprintf(&b, "interim %d: %v\n", code, h)
		return nil
	}}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	req.Header = hdr
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	fmt.Fprintf(&b, "status %d\nheaders %v\nbody %s\ntrailers %v\n", res.StatusCode, res.Header, body, res.Trailer)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "a clean body") {
		t.Errorf("%s: the call did not go through: %s", url, b.String())
	}
	return b.String(), interim
}

// TestNoLeaksInterimAndTrailers: an allowed upstream that reflects the
// injected value in a 103 answer and in trailers, announced or not, over
// HTTP/1.1 and h2c, on every kind of route (scrub off included, whose
// headers stay scrubbed): the caller gets none of it, and no log line at
// DEBUG holds it.
func TestNoLeaksInterimAndTrailers(t *testing.T) {
	t.Parallel()
	hostile := new(hostileInterim)
	h1, h2 := startHostile(t, hostile, false), startHostile(t, hostile, true)
	in := Start(t, Config{
		Template:      leakCaddyfile,
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}\n\tlog debugfile {\n\t\toutput file {{.Dir}}/debug.log\n\t\tlevel DEBUG\n\t}",
		ExtraPorts:    1,
		ExtraSites:    interimRoutes(h1, h2),
	})
	inv, value := egressWorld(t, in, "127.0.0.1")
	noteSensitive(inv, value)
	site := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0])
	answers := map[string]string{}
	for _, proto := range []string{"h1", "h2c"} {
		for _, kind := range []string{"bearer", "basic", "query", "tokenhdr", "raw"} {
			hdr := bearer(inv)
			if kind == "tokenhdr" {
				hdr = http.Header{"X-Api-Key": {inv}}
			}
			name := proto + "/" + kind
			ans, interim := interimAnswer(t, nil, "GET", site+"/"+name+"/x", hdr)
			if interim == 0 {
				t.Errorf("%s: no interim answer reached the caller; the test would prove little", name)
			}
			answers[name] = ans
		}
	}
	if len(hostile.values()) < 10 {
		t.Fatalf("the hostile upstream saw %d values", len(hostile.values()))
	}
	needles := needlesFor(map[string]string{"the value": value, "the invocation token": inv})
	for _, v := range hostile.values() {
		needles["what the upstream got ("+strconv.Itoa(len(v))+" bytes)"] = v
	}
	for name, ans := range answers {
		for what, needle := range needles {
			if strings.Contains(ans, needle) {
				t.Errorf("%s: the caller's answer holds %s:\n%s", name, what, redact(ans))
				break
			}
		}
	}
	in.Stop()
	scanInstanceLogs(t, in, needles, "access-interim.log", "/h2c/raw/x")
}

// scanInstanceLogs looks for each needle in every line keygate wrote
// (stdout, stderr, every .log file under its directory), after checking
// that mustLog holds mustLine, so that the scan proves something.
func scanInstanceLogs(t *testing.T, in *Instance, needles map[string]string, mustLog, mustLine string) {
	t.Helper()
	outputs := map[string]string{"stdout": readFileString(t, in.StdoutPath), "stderr": readFileString(t, in.StderrPath)}
	filepath.WalkDir(in.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") && !d.IsDir() {
			rel, _ := filepath.Rel(in.Dir, p)
			outputs[rel] = readFileString(t, p)
		}
		return nil
	})
	if !strings.Contains(outputs[mustLog], mustLine) || !strings.Contains(outputs["debug.log"], "upstream roundtrip") {
		t.Errorf("the logs are not all there (%d files): the scan would prove little", len(outputs))
	}
	for name, out := range outputs {
		for i, line := range strings.Split(out, "\n") {
			for what, needle := range needles {
				if strings.Contains(line, needle) {
					t.Errorf("%s line %d holds %s: %.300s", name, i+1, what, redact(line))
					break
				}
			}
		}
	}
}

// TestNoLeaksInterimAndTrailersOAuth: the same hostile upstream behind an
// OAuth key's route, over HTTP/1.1 (the world's /api/ route) and h2c: the
// access token it reflects reaches neither the caller nor a log line.
func TestNoLeaksInterimAndTrailersOAuth(t *testing.T) {
	t.Parallel()
	hostile := new(hostileInterim)
	h1, h2 := startHostile(t, hostile, false), startHostile(t, hostile, true)
	sites := "http://:{{index .Extra 0}} {\n\tbind 127.0.0.1\n\tlog {\n\t\toutput file {{.Dir}}/access-interim.log\n\t\tformat json\n\t}\n" +
		"\troute /h2c/* {\n\t\treverse_proxy " + h2 + " {\n\t\t\ttransport keygate {\n\t\t\t\tsecret MAIL_TOKEN\n\t\t\t\tversions h2c\n\t\t\t}\n\t\t}\n\t}\n}\n"
	w := newOAuthWorldWith(t, h1, Config{
		Template:      leakCaddyfile,
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}\n\tlog debugfile {\n\t\toutput file {{.Dir}}/debug.log\n\t\tlevel DEBUG\n\t}",
		ExtraPorts:    1,
		ExtraSites:    sites,
	})
	w.connect(t)
	inv := w.in.mintInvocation(t, w.pkgCode, "mail", w.kcToken)
	answers := map[string]string{}
	for name, url := range map[string]string{
		"h1":  w.in.EgressURL + "/api/x",
		"h2c": "http://127.0.0.1:" + strconv.Itoa(w.in.Ports.Extra[0]) + "/h2c/x",
	} {
		ans, interim := interimAnswer(t, nil, "GET", url, bearer(inv))
		if interim == 0 {
			t.Errorf("%s: no interim answer reached the caller; the test would prove little", name)
		}
		answers[name] = ans
	}
	seen := hostile.values()
	if len(seen) != 2 || !strings.HasPrefix(seen[0], "Bearer ") {
		t.Fatalf("the hostile upstream saw %d values", len(seen))
	}
	needles := needlesFor(map[string]string{"the invocation token": inv})
	for _, v := range seen {
		noteSensitive(v, strings.TrimPrefix(v, "Bearer "))
		for what, n := range needlesFor(map[string]string{"the access token": strings.TrimPrefix(v, "Bearer ")}) {
			needles[what] = n
		}
	}
	for name, ans := range answers {
		for what, needle := range needles {
			if strings.Contains(ans, needle) {
				t.Errorf("%s: the caller's answer holds %s:\n%s", name, what, redact(ans))
				break
			}
		}
	}
	w.in.Stop()
	scanInstanceLogs(t, w.in, needles, "access-interim.log", "/h2c/x")
}
