package caddymodule_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/caddymodule/internal/clock"
	"github.com/keygate/keygate/store"
)

// The owners' page charts each package's use of each key over the last 30
// days as inline SVG, with the numbers as text too, from the audit index.
func TestOwnerPageUsageChart(t *testing.T) {
	g := startUIGateway(t, "")
	kc, token := ownerSetup(g)
	value := "sk_live_" + randHex(t, 12)
	g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/API_KEY", map[string]any{"value": value, "allowed_hosts": []string{"127.0.0.1"}})

	// A real call today, denied (nothing approved): it names no key.
	if st, _, _ := g.agent("tools", token, nil); st != 403 {
		t.Fatalf("agent call without a grant: status %d, want 403", st)
	}
	waitFor(t, "the denied call in the audit log", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+kc, nil)
		return strings.Contains(string(b), `"action":"ingress"`)
	})

	// Earlier calls, on days the clock puts 2, 9 and 40 days back.
	now := time.Now().UTC()
	defer clock.Set(func() time.Time { return now })()
	day := func(ago int) time.Time { return now.AddDate(0, 0, -ago) }
	var evs []store.AuditEvent
	add := func(ago, n int, decision string) {
		for range n {
			evs = append(evs, store.AuditEvent{Time: day(ago), Actor: "agent", Action: "egress", Keychain: kc,
				Package: "@acme/tools", Keys: []string{"API_KEY"}, Decision: decision, Status: 200})
		}
	}
	add(2, 5, "allow")
	add(9, 3, "allow")
	add(9, 1, "deny")
	add(40, 7, "allow") // older than the chart
	if err := g.app().Store().AppendAudit(evs); err != nil {
		t.Fatal(err)
	}

	c := g.newOwnerClient()
	c.signIn(kc)
	st, hdr, body := c.get("/ui/keychains/" + kc)
	if st != 200 {
		t.Fatalf("keychain page: status %d", st)
	}
	assertPageHeaders(t, hdr)
	i := strings.Index(body, "Use over the last 30 days")
	j := strings.Index(body, "Recent activity")
	if i < 0 || j < i {
		t.Fatalf("no usage section:\n%s", body)
	}
	sec := body[i:j]
	if n := strings.Count(sec, "<svg "); n != 2 {
		t.Fatalf("%d charts, want 2 (API_KEY and the call that named no key):\n%s", n, sec)
	}
	for _, want := range []string{
		`role="img"`, `<title id="`, `<desc id="`,
		`Calls of @acme/tools with API_KEY, last 30 days`,
		`8 calls allowed and 1 call denied in 30 days.`,
		`8 allowed, 1 denied, last `,
		day(2).Format("2006-01-02") + `: 5 allowed, 0 denied`,
		day(9).Format("2006-01-02") + `: 3 allowed, 1 denied`,
		`<tr><td>` + day(9).Format("2006-01-02") + `</td><td>3</td><td>1</td></tr>`,
		`0 allowed, 1 denied`, // today's real call
	} {
		if !strings.Contains(sec, want) {
			t.Errorf("usage section lacks %q:\n%s", want, sec)
		}
	}
	if strings.Contains(sec, day(40).Format("2006-01-02")) {
		t.Error("the chart shows a day older than 30 days")
	}
	// 30 days of bars; the busiest day is full height.
	if !regexp.MustCompile(`<rect x="\d+" y="0" width="6" height="40" class="allowed"/>`).MatchString(sec) {
		t.Errorf("no full-height bar for the busiest day:\n%s", sec)
	}
	// Inline SVG under the CSP: no style attribute or element, no script,
	// nothing fetched from elsewhere.
	for _, bad := range []string{"style=", "<style", "<script", "href=", "src="} {
		if strings.Contains(sec, bad) {
			t.Errorf("usage section holds %q", bad)
		}
	}
	if strings.Contains(body, value) || strings.Contains(body, token) {
		t.Fatal("the page holds the secret's value or the keychain token")
	}
}
