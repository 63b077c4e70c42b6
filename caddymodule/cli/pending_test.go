package cli

import (
	"strings"
	"testing"
)

const heldJSON = `{"id":"hc_1","keychain":"kc_01","package":"@acme/tools","key":"API_KEY","kind":"approve","reason":"approval_required","flow":"egress",` +
	`"method":"POST","host":"api.stripe.com","path":"/v1/charges","body_size":12,"body_sha256":"` + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" + `","request_id":"r1","created":"2026-01-02T15:04:05Z","expires":"2026-01-02T15:06:05Z"}`

func TestPendingCommands(t *testing.T) {
	tests := []struct {
		args     []string
		path     string
		wantBody string
		wantOut  string
	}{
		{[]string{"pending", "list", "kc_01"}, "GET /v1/keychains/kc_01/pending", "", "POST api.stripe.com/v1/charges"},
		{[]string{"pending", "approve", "kc_01", "hc_1"}, "POST /v1/keychains/kc_01/pending/hc_1/approve", `{"scope":"once"}`, "Approved held call hc_1"},
		{[]string{"pending", "approve", "kc_01", "hc_1", "--for", "1h"}, "POST /v1/keychains/kc_01/pending/hc_1/approve", `{"for":"1h","scope":"shape"}`, "Approved"},
		{[]string{"pending", "refuse", "kc_01", "hc_1"}, "POST /v1/keychains/kc_01/pending/hc_1/refuse", "", "Refused held call hc_1"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			body := heldJSON
			if tt.args[1] == "list" {
				body = `{"pending":[` + heldJSON + `]}`
			}
			f.on(strings.Fields(tt.path)[0], strings.Fields(tt.path)[1], 200, body)
			r := runCLI(t, "", tt.args...)
			if r.code != 0 || !strings.Contains(r.stdout, tt.wantOut) {
				t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			reqs := f.requests()
			last := reqs[len(reqs)-1]
			if last.Method+" "+last.Path != tt.path || string(last.Body) != tt.wantBody {
				t.Fatalf("sent %s %s %s", last.Method, last.Path, last.Body)
			}
		})
	}
}

func TestPendingHostileInput(t *testing.T) {
	for _, args := range [][]string{
		{"pending", "approve", "kc_01", "hc_1", "--for", "soon"},
		{"pending", "approve", "kc_01", "hc_1", "--for", "0s"},
		{"pending", "approve", "kc_01", "hc_1", "--for", "-1h"},
		{"pending", "approve", "kc_01"},
		{"pending", "refuse", "kc_01", "hc_1", "extra"},
		{"pending", "list"},
	} {
		f := newFakeAPI(t)
		r := runCLI(t, "", args...)
		if r.code == 0 || len(f.requests()) != 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 3 {
			t.Errorf("%v: exit %d, %d requests, stderr %q", args, r.code, len(f.requests()), r.stderr)
		}
	}
	// A path segment is escaped, never a way into another route.
	f := newFakeAPI(t)
	runCLI(t, "", "pending", "refuse", "kc_01", "../../keychains")
	if reqs := f.requests(); len(reqs) != 1 || reqs[0].Path != "/v1/keychains/kc_01/pending/..%2F..%2Fkeychains/refuse" {
		t.Fatalf("sent %+v", reqs)
	}
}
