package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMetricsSite: Caddy's metrics handler on a site of its own serves
// keygate's metrics (docs/metrics.md), so Prometheus scrapes them without
// the admin endpoint; a denial is counted by flow and reason, and no label
// names a keychain or a package.
func TestMetricsSite(t *testing.T) {
	in := Start(t, Config{ExtraPorts: 1, ExtraSites: `
http://127.0.0.1:{{index .Extra 0}} {
	metrics /metrics
}`})
	client := &http.Client{Timeout: 5 * time.Second}
	// Package code with a token that is not an invocation token: a denial
	// on egress.
	req, _ := http.NewRequest(http.MethodGet, in.EgressURL+"/api/x", nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0]) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`keygate_decisions_total{decision="deny",flow="egress",reason="`, `keygate_decision_duration_seconds_bucket{flow="egress"`,
		// Series that exist before their first event.
		`keygate_oauth_events_total{event="refresh",outcome="ok"} 0`, `keygate_held_calls{kind="approve"} 0`,
		`keygate_held_calls_ended_total{kind="grant",result="allow"} 0`, `keygate_held_decisions_total{decision="refuse"} 0`,
		`keygate_scrubbed_responses_total{flow="egress"} 0`, `keygate_scrub_replacements_total{flow="proxy"} 0`,
		`keygate_proxy_substitutions_total 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "keygate_"))
		}
	}
	// The store's round trips are timed: this node has read and written
	// (single reads may all have come from its cache).
	for _, op := range []string{"get", "view", "update"} {
		m := regexp.MustCompile(`(?m)^keygate_store_duration_seconds_count\{backend="badger",op="` + op + `"\} (\d+)$`).FindStringSubmatch(text)
		if m == nil || (op != "get" && m[1] == "0") {
			t.Errorf("no store %s timed: %v\n%s", op, m, grepLines(text, "keygate_store"))
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "keygate_") && (strings.Contains(line, "kc_") || strings.Contains(line, "@")) {
			t.Errorf("a metric names a keychain or package: %s", line)
		}
	}

	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	families := regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(text, -1)
	served := map[string]bool{}
	for _, f := range families {
		served[f[1]] = true
		if strings.HasPrefix(f[1], "keygate_") && !strings.Contains(string(doc), "`"+f[1]+"`") {
			t.Errorf("metric %s is not in docs/metrics.md", f[1])
		}
	}

	for _, m := range regexp.MustCompile("`(keygate_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if !served[m[1]] {
			t.Errorf("docs/metrics.md lists %s, which keygate does not serve", m[1])
		}
	}

	// The dashboard is Grafana JSON over metrics that exist.
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "grafana", "keygate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil || dash.Title == "" || len(dash.Panels) == 0 {
		t.Fatalf("deploy/grafana/keygate.json: %v", err)
	}
	name := regexp.MustCompile(`\b(keygate_[a-z_]+|go_[a-z_]+|process_[a-z_]+)\b`)
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				base := m
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !served[base] {
					t.Errorf("panel %q queries %s, which keygate does not serve", p.Title, m)
				}
			}
		}
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsCountInjectionAndScrub: an egress call whose upstream echoes
// the injected value is counted as an injection and a scrubbed answer;
// no series holds the value.
func TestMetricsCountInjectionAndScrub(t *testing.T) {
	t.Parallel()
	echo := NewUpstream(t, echoHeaders)
	in := Start(t, Config{Upstream: echo.Addr, ExtraPorts: 1, ExtraSites: `
http://127.0.0.1:{{index .Extra 0}} {
	metrics /metrics
}`})
	inv, value := egressWorld(t, in, "127.0.0.1")
	noteSensitive(inv, value)
	if r := sendT(t, "GET", in.EgressURL+"/api/echo", "", bearer(inv), nil); r.Status != http.StatusOK {
		t.Fatalf("egress: %s", r)
	}
	text := awaitMetric(in.Ports.Extra[0], `keygate_scrubbed_responses_total{flow="egress"} 1`)
	for _, want := range []string{
		`keygate_decisions_total{decision="allow",flow="egress",reason=""} 1`,
		`keygate_scrubbed_responses_total{flow="egress"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "keygate_"))
		}
	}
	if !regexp.MustCompile(`(?m)^keygate_scrub_replacements_total\{flow="egress"\} [1-9]`).MatchString(text) {
		t.Errorf("no replacement counted:\n%s", grepLines(text, "keygate_scrub"))
	}
	if strings.Contains(text, value) || strings.Contains(text, inv) {
		t.Fatal("the metrics hold the value or the invocation token")
	}
}

// awaitMetric scrapes the metrics site on port until its text holds want
// (a scrubbed answer is counted when its body closes, after the client
// has read it), for a few seconds, and returns the last scrape.
func awaitMetric(port int, want string) string {
	client := &http.Client{Timeout: 5 * time.Second}
	var text string
	eventually(5*time.Second, 20*time.Millisecond, func() bool {
		resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text = string(body)
		return strings.Contains(text, want)
	})
	return text
}
