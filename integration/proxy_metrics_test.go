package integration

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestProxyMetrics: a request through the proxy site with a placeholder
// is counted as a proxy decision and a substitution, and its echoed value
// as a scrubbed answer.
func TestProxyMetrics(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{ExtraPorts: 1, ExtraSites: `
http://127.0.0.1:{{index .Extra 4}} {
	metrics /metrics
}`})
	_, ph := pw.call(t)
	c := pw.goClient(t, pw.proxyURL)
	req, _ := http.NewRequest("GET", pw.upstreamURL("/v1/echo"), nil)
	req.Header.Set("X-Api-Key", ph)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("through the proxy: %d", resp.StatusCode)
	}
	text := awaitMetric(pw.in.Ports.Extra[proxySitePorts], `keygate_scrubbed_responses_total{flow="proxy"} 1`)
	for _, want := range []string{
		`keygate_decisions_total{decision="allow",flow="proxy",reason=""} 1`,
		`keygate_proxy_substitutions_total 1`,
		`keygate_scrubbed_responses_total{flow="proxy"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "keygate_"))
		}
	}
	if !regexp.MustCompile(`(?m)^keygate_scrub_replacements_total\{flow="proxy"\} [1-9]`).MatchString(text) {
		t.Errorf("no replacement counted:\n%s", grepLines(text, "keygate_scrub"))
	}
	if strings.Contains(text, ph) || strings.Contains(text, "kgph_") {
		t.Fatal("the metrics hold a placeholder")
	}
}
