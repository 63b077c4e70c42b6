package integration

import (
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// echoHeaders answers with every request header it got, in the body and
// as Echo-* response headers: an upstream that reflects the value back.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
			w.Header().Add("Echo-"+k, v)
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprint(w, b.String())
}

// shortAnswer echoes the Authorization header in a body that stops short
// of its Content-Length, and drops the connection.
func shortAnswer(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	body := "got " + r.Header.Get("Authorization")
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body)+100, body)
	buf.Flush()
}

// leakEchoSites are egress routes to an upstream that echoes the request
// headers (scrubbed by the default /api/ route, and with scrub off) and one to a host only a forward
// proxy could reach, each with an access log.
const leakEchoSites = `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	log {
		output file {{.Dir}}/access-echo.log
		format json
	}
	route /raw/* {
		uri strip_prefix /raw
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
				scrub off
			}
		}
	}
	route /viaproxy/* {
		uri strip_prefix /viaproxy
		reverse_proxy echo.invalid:80 {
			transport keygate {
				secret API_KEY
			}
		}
	}
}
`

// TestNoLeaksProxyAndEcho: at DEBUG, an upstream that echoes the request
// headers gets the value, and keygate's answer carries it only with scrub
// off; no log line (global, debug or access) ever does, nor the
// invocation token; and with HTTP_PROXY in keygate's environment the
// forward proxy stand-in sees nothing at all.
func TestNoLeaksProxyAndEcho(t *testing.T) {
	t.Parallel()
	echo := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			shortAnswer(w, r)
			return
		}
		echoHeaders(w, r)
	})
	proxy, carried := forwardProxy(t)
	in := Start(t, Config{
		Template:      leakCaddyfile,
		Upstream:      echo.Addr,
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}\n\tlog debugfile {\n\t\toutput file {{.Dir}}/debug.log\n\t\tlevel DEBUG\n\t}",
		ExtraPorts:    1,
		ExtraSites:    leakEchoSites,
		// Go never proxies loopback: /viaproxy/ dials a name.
		Env: []string{"HTTP_PROXY=" + proxy.URL, "HTTPS_PROXY=" + proxy.URL, "http_proxy=" + proxy.URL, "https_proxy=" + proxy.URL},
	})
	inv, value := egressWorld(t, in, "127.0.0.1", "echo.invalid")
	noteSensitive(inv, value)
	extra := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0])
	answer := func(r reply) string {
		var b strings.Builder
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		return b.String() + string(r.Body)
	}

	// Scrubbed (the default): the echo got the value, the answer lost it.
	r := sendT(t, "GET", in.EgressURL+"/api/echo", "", bearer(inv), nil)
	if r.Status != http.StatusOK || echo.Last(t).Header.Get("Authorization") != "Bearer "+value {
		t.Fatalf("egress to the echo: %s", r)
	}
	if !strings.Contains(string(r.Body), "[redacted by keygate]") {
		t.Errorf("the scrubbed echo shows no redaction: %s", r.Body)
	}
	AssertNotContains(t, "the value in a scrubbed answer", value, map[string]string{"answer": answer(r)})

	// An answer that promises more than it sends, the value in what it
	// sent: keygate reads a short answer whole to scrub it, so the caller
	// gets a 502 and none of it, not the first bytes unscrubbed.
	short := sendT(t, "GET", in.EgressURL+"/api/short", "", bearer(inv), nil)
	if short.Status != http.StatusBadGateway {
		t.Errorf("a truncated answer: %s", short)
	}
	AssertNotContains(t, "the value in a truncated answer", value, map[string]string{"answer": answer(short)})

	// scrub off: the body carries the value back, on purpose; the
	// headers, which Caddy logs, do not.
	raw := sendT(t, "GET", extra+"/raw/echo", "", bearer(inv), nil)
	if raw.Status != http.StatusOK || !strings.Contains(string(raw.Body), value) {
		t.Errorf("with scrub off the echo's body should carry the value: %s", raw)
	}
	AssertNotContains(t, "the value in the headers of an unscrubbed answer", value, map[string]string{"headers": answer(reply{Header: raw.Header})})

	// Through the environment's proxy, if keygate used it.
	vp := sendT(t, "GET", extra+"/viaproxy/steal", "", bearer(inv), nil)
	if vp.Status == http.StatusOK {
		t.Errorf("egress to a name only a proxy reaches answered %s", vp)
	}
	if n := carried.Load(); n != 0 {
		t.Errorf("the environment's forward proxy carried %d requests", n)
	}
	in.Stop()

	outputs := map[string]string{
		"stdout": readFileString(t, in.StdoutPath),
		"stderr": readFileString(t, in.StderrPath),
	}
	filepath.WalkDir(in.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") && !d.IsDir() {
			rel, _ := filepath.Rel(in.Dir, p)
			outputs[rel] = readFileString(t, p)
		}
		return nil
	})
	if !strings.Contains(outputs["access-echo.log"], "/raw/echo") || !strings.Contains(outputs["access-echo.log"], "/viaproxy/steal") ||
		!strings.Contains(outputs["access-egress.log"], "/api/echo") || !strings.Contains(outputs["debug.log"], "upstream roundtrip") {
		t.Errorf("the logs are not all there (%d files): the scan would prove little", len(outputs)-2)
	}
	// Line by line, so a failure names the line's file.
	lines := 0
	for name, out := range outputs {
		for i, line := range strings.Split(out, "\n") {
			lines++
			for what, needle := range needlesFor(map[string]string{"the value": value, "the invocation token": inv}) {
				if strings.Contains(line, needle) {
					t.Errorf("%s line %d holds %s", name, i+1, what)
				}
			}
		}
	}
	t.Logf("scanned %d lines of %d outputs", lines, len(outputs))
}
