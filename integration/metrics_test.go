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
	for _, want := range []string{`keygate_decisions_total{decision="deny",flow="egress",reason="`, `keygate_decision_duration_seconds_bucket{flow="egress"`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(text, "keygate_"))
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
				if base := strings.TrimSuffix(m, "_bucket"); !served[base] {
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
