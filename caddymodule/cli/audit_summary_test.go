package cli

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/store"
)

func TestAuditSummary(t *testing.T) {
	// Yesterday's events: the summary counts the last 30 days only.
	day := time.Now().UTC().Add(-24 * time.Hour).Format("2006-01-02")
	evs := strings.ReplaceAll(`[`+
		`{"id":"e1","time":"2026-01-02T15:04:05Z","actor":"agent","action":"ingress","keychain":"kc_1","package":"@acme/tools","keys":["API_KEY","OTHER"],"decision":"allow","status":200},`+
		`{"id":"e2","time":"2026-01-02T15:04:06Z","actor":"package","action":"egress","keychain":"kc_1","package":"@acme/tools","keys":["API_KEY"],"decision":"allow","status":200},`+
		`{"id":"e3","time":"2026-01-02T15:04:07Z","actor":"agent","action":"ingress","keychain":"kc_1","package":"@acme/tools","decision":"deny","status":403,"reason":"not_granted"},`+
		`{"id":"e4","time":"2026-01-02T15:04:08Z","actor":"admin","action":"grant.put","keychain":"kc_1","package":"@acme/tools","decision":"ok"}]`, "2026-01-02", day)
	f := newFakeAPI(t)
	f.on("GET", "/v1/audit", 200, evs)
	r := runCLI(t, "", "audit", "--summary")
	if r.code != 0 {
		t.Fatalf("audit --summary: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{
		`^PACKAGE\s+KEY\s+ALLOWED\s+DENIED\s+LAST\s+DAILY$`,
		`^@acme/tools\s+-\s+0\s+1\s+` + day + `T15:04:07Z\s+\.{29}█\.$`,
		`^@acme/tools\s+API_KEY\s+2\s+0\s+` + day + `T15:04:06Z\s+\.{29}█\.$`,
		`^@acme/tools\s+OTHER\s+1\s+0\s+` + day + `T15:04:05Z\s+\.{29}█\.$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("summary:\n%s", r.stdout)
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %d = %q, want %s", i, lines[i], w)
		}
	}
	q, _ := url.ParseQuery(f.requests()[0].Query)
	since, err := time.Parse(time.RFC3339Nano, q.Get("since"))
	if err != nil || time.Since(since) < 29*24*time.Hour || q.Get("limit") != "1000" {
		t.Errorf("summary query: %v", q)
	}

	r = runCLI(t, "", "audit", "--summary", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 || rows[1]["allowed"] != float64(2) {
		t.Errorf("summary --json: %v %s", err, r.stdout)
	}
	// Each row carries its calls per day, the owners' page's chart.
	if days, _ := rows[1]["days"].([]any); len(days) != 31 || days[29].(map[string]any)["allowed"] != float64(2) {
		t.Errorf("summary --json days: %v", rows[1]["days"])
	}
	if r := runCLI(t, "", "audit", "--summary", "--follow"); r.code != 2 {
		t.Errorf("--summary --follow: exit %d", r.code)
	}
}

func TestSparkline(t *testing.T) {
	var days []store.DayUsage
	for _, n := range []int{0, 1, 4, 8} {
		days = append(days, store.DayUsage{Allowed: n / 2, Denied: n - n/2})
	}
	if got := sparkline(days); got != ".▁▄█" {
		t.Errorf("sparkline = %q, want .▁▄█", got)
	}
	long := make([]store.DayUsage, 40)
	long[0].Allowed = 5 // older than the 31 days drawn
	if got := sparkline(long); got != strings.Repeat(".", 31) {
		t.Errorf("sparkline of 40 quiet days = %q", got)
	}
}
