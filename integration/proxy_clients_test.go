package integration

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// echoed is what echoAPI answers.
type echoed struct {
	Authorization string `json:"authorization"`
	XAPIKey       string `json:"x_api_key"`
	Query         string `json:"query"`
	Body          string `json:"body"`
	Host          string `json:"host"`
}

// TestProxyGoClient: Go's net/http behind the proxy site sends the
// placeholder; the upstream gets the value; the echoed value comes back
// as the placeholder; one audit event says what happened.
func TestProxyGoClient(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{GlobalOptions: "debug"})
	_, ph := pw.call(t)
	c := pw.goClient(t, pw.proxyURL)
	for _, proto := range []string{"HTTP/2.0", "HTTP/1.1"} {
		if proto == "HTTP/1.1" {
			c = pw.goClient(t, pw.proxyURL)
			c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
			c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		req, _ := http.NewRequest("POST", pw.upstreamURL("/v1/echo?key="+ph), strings.NewReader(`{"k":"x"}`))
		req.Header.Set("Authorization", "Bearer "+ph)
		req.Header.Set("X-Api-Key", ph)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v\n%s", proto, err, tail(pw.in.Logs(), 30))
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Proto != proto {
			t.Fatalf("%s: %s %d: %s", proto, resp.Proto, resp.StatusCode, redact(string(body)))
		}
		var e echoed
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("%s: %v: %s", proto, err, body)
		}
		if e.Authorization != "Bearer "+ph || e.XAPIKey != ph || e.Query != "key="+ph {
			t.Fatalf("%s: the echo was not turned back into the placeholder: %+v", proto, e)
		}
		if got := resp.Header.Get("X-Echo-Authorization"); got != "Bearer "+ph {
			t.Fatalf("%s: echoed header = %q", proto, got)
		}
		last := pw.up.Last(t)
		if last.Header.Get("Authorization") != "Bearer "+pw.value || last.Header.Get("X-Api-Key") != pw.value || last.RawQuery != "key="+pw.value {
			t.Fatalf("%s: the upstream did not get the value in place of the placeholder", proto)
		}
	}
	var ev map[string]any
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool {
		for _, e := range pw.auditEvents(t) {
			if e["action"] == "proxy" && e["decision"] == "allow" {
				ev = e
				return true
			}
		}
		return false
	}) {
		t.Fatal("no proxy audit event")
	}
	if ev["method"] != "POST" || ev["path"] != "/v1/echo" || ev["host"] != "127.0.0.1" || ev["keychain"] != pw.kc {
		t.Fatalf("audit event: %v", ev)
	}
	raw, _ := json.Marshal(pw.auditEvents(t))
	AssertNotContains(t, "the placeholder", ph, map[string]string{"audit": string(raw), "logs": pw.in.Logs()})
	AssertNotContains(t, "the value", pw.value, map[string]string{"audit": string(raw), "logs": pw.in.Logs()})
}

// TestProxyCurl: curl with HTTPS_PROXY and CURL_CA_BUNDLE set, nothing
// else.
func TestProxyCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	pw := newProxyWorld(t, nil, Config{})
	_, ph := pw.call(t)
	out := runClient(t, pw.clientEnv(pw.proxyURL), curl, "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+ph,
		"-u", "user:"+ph, pw.upstreamURL("/v1/echo?api_key="+ph))
	var e echoed
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if !strings.Contains(e.Query, ph) || strings.Contains(out, pw.value) {
		t.Fatalf("curl got %s", redact(out))
	}
	last := pw.up.Last(t)
	if last.RawQuery != "api_key="+pw.value {
		t.Fatal("the upstream did not get the value in the query")
	}
}

// runClient runs a client program with only env set (and PATH, HOME).
func runClient(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	done := make(chan struct{})
	timer := time.AfterFunc(60*time.Second, func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	close(done)
	if err != nil {
		t.Fatalf("%s: %v: %s", name, err, redact(string(out)))
	}
	return string(out)
}

// pythonEcho is a script for each Python client: it calls url with the
// placeholder as Bearer and prints the answer's body.
var pythonEcho = map[string]string{
	"urllib": `import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2], "X-Api-Key": sys.argv[2]})
print(urllib.request.urlopen(req, timeout=20).read().decode())`,
	"requests": `import sys, requests
r = requests.get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2], "X-Api-Key": sys.argv[2]}, timeout=20)
r.raise_for_status()
print(r.text)`,
	"httpx": `import sys, httpx
r = httpx.get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2], "X-Api-Key": sys.argv[2]}, timeout=20)
r.raise_for_status()
print(r.text)`,
}

// TestProxyPython: Python 3.13's urllib (strict X.509 verification) and
// Debian's requests and httpx, with only their environment set.
func TestProxyPython(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	for _, c := range []struct{ name, python, script string }{
		{"urllib 3.13", "", "urllib"},
		{"requests", "/usr/bin/python3", "requests"},
		{"httpx", "/usr/bin/python3", "httpx"},
	} {
		t.Run(c.name, func(t *testing.T) {
			python := c.python
			if python == "" {
				python = python313(t)
			} else if exec.Command(python, "-c", "import "+c.script).Run() != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s with %s is needed (bash .ci/run installs it)", python, c.script)
				}
				t.Skipf("no %s with %s", python, c.script)
			}
			_, ph := pw.call(t)
			out := runClient(t, pw.clientEnv(pw.proxyURL), python, "-c", pythonEcho[c.script], pw.upstreamURL("/v1/echo?q=1"), ph)
			var e echoed
			if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &e); err != nil {
				t.Fatalf("%v: %s", err, redact(out))
			}
			if e.Authorization != "Bearer "+ph || e.XAPIKey != ph {
				t.Fatalf("the echo was not turned back into the placeholder: %s", redact(out))
			}
			if last := pw.up.Last(t); last.Header.Get("Authorization") != "Bearer "+pw.value {
				t.Fatal("the upstream did not get the value")
			}
		})
	}
}

// TestProxyWebSocket: a WebSocket client through a tunnel; the placeholder
// in the upgrade request is substituted and frames pass unchanged.
func TestProxyWebSocket(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	_, ph := pw.call(t)
	up := "127.0.0.1:" + pw.up.Port
	rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
	defer rt.conn.Close()
	cfg, err := websocket.NewConfig("wss://"+up+"/v1/ws", "https://"+up)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Header = http.Header{"Authorization": {"Bearer " + ph}}
	ws, err := websocket.NewClient(cfg, rt.conn)
	if err != nil {
		t.Fatalf("WebSocket handshake: %v", err)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		if err := websocket.Message.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(ws, &got); err != nil || got != msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
	}
	if last := pw.up.Last(t); last.Header.Get("Authorization") != "Bearer "+pw.value || last.Path != "/v1/ws" {
		t.Fatal("the upgrade request did not carry the value")
	}
}
