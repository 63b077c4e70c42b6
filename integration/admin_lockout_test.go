package integration

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAdminLockoutRefused: code next door sends wrong admin tokens from
// loopback as fast as it likes. The operator's right token keeps working
// throughout; the wrong ones are refused with 429 and Retry-After once
// the budget is spent, and those refusals are audited.
func TestAdminLockoutRefused(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	var guesses []string
	limited := 0
	for i := range 30 {
		g := RandomToken(t, "kgadm_lockout_")
		guesses = append(guesses, g)
		r := sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(g), nil)
		switch r.Status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited++
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q", r.Header.Get("Retry-After"))
			}
		default:
			t.Fatalf("wrong token %d: %s", i+1, r)
		}
		if i%5 == 4 {
			if r := in.callAPI(t, "GET", "/v1/audit?limit=1", nil); r.Status != http.StatusOK {
				t.Fatalf("the right token after %d wrong ones: %s, want 200", i+1, r)
			}
		}
	}
	if limited < 15 {
		t.Errorf("only %d of 30 wrong tokens were throttled", limited)
	}
	var body string
	eventually(5*time.Second, 20*time.Millisecond, func() bool {
		r := in.callAPI(t, "GET", "/v1/audit?limit=1000", nil)
		body = string(r.Body)
		return r.Status == http.StatusOK && strings.Contains(body, `"admin.auth"`) && strings.Contains(body, `"rate_limited"`)
	})
	if !strings.Contains(body, `"rate_limited"`) {
		t.Error("the 429s were not audited")
	}
	for _, g := range guesses {
		AssertNotContains(t, "a guessed token", g, map[string]string{"logs": in.Logs(), "audit": body})
	}
}
