package caddymodule_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// heldResult is the answer of a call made in the background.
type heldResult struct {
	status int
	hdr    http.Header
	body   []byte
}

// background runs call on its own goroutine; its answer comes on the
// channel.
func background(call func() (int, http.Header, []byte)) <-chan heldResult {
	ch := make(chan heldResult, 1)
	go func() {
		st, hdr, b := call()
		ch <- heldResult{st, hdr, b}
	}()
	return ch
}

type pendingCall struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Reason     string          `json:"reason"`
	Method     string          `json:"method"`
	Host       string          `json:"host"`
	Path       string          `json:"path"`
	BodySize   int64           `json:"body_size"`
	BodySHA256 string          `json:"body_sha256"`
	Body       json.RawMessage `json:"body"`
	RequestID  string          `json:"request_id"`
	Shape      map[string]any  `json:"shape"`
}

// pending lists kc's held calls.
func (g *gateway) pending(kc string) []pendingCall {
	g.t.Helper()
	var out struct{ Pending []pendingCall }
	if err := json.Unmarshal(g.mustAdmin(200, "GET", "/v1/keychains/"+kc+"/pending", nil), &out); err != nil {
		g.t.Fatal(err)
	}
	return out.Pending
}

// awaitHeld waits until kc has n held calls and returns them.
func (g *gateway) awaitHeld(kc string, n int) []pendingCall {
	g.t.Helper()
	var calls []pendingCall
	waitFor(g.t, "held calls", func() bool { calls = g.pending(kc); return len(calls) == n })
	return calls
}

func receive(t *testing.T, ch <-chan heldResult) heldResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the held call did not come back")
	}
	return heldResult{}
}

func wait(secs string) map[string]string { return map[string]string{"Prefer": "wait=" + secs} }

func newKeychain(g *gateway) (id, token string) {
	var kc struct{ ID, Token string }
	json.Unmarshal(g.mustAdmin(201, "POST", "/v1/keychains", map[string]any{"owner": "alice"}), &kc)
	return kc.ID, kc.Token
}

func TestHeldIngressReleasedBySettingValue(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	kc, tok := s.kc, s.token
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+kc+"/secrets/API_KEY", nil)

	ch := background(func() (int, http.Header, []byte) { return g.agent("tools", tok, wait("15")) })
	calls := g.awaitHeld(kc, 1)
	if c := calls[0]; c.Kind != "value" || c.Reason != "missing_keys" || c.Path != "/do/thing" {
		t.Fatalf("held call shown as %+v", c)
	}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+kc+"/secrets/API_KEY", map[string]any{"value": "sk_" + randHex(t, 8), "allowed_hosts": []string{"127.0.0.1"}})
	r := receive(t, ch)
	if r.status != 200 || r.hdr.Get("Preference-Applied") != "wait" {
		t.Fatalf("released call: %d %v %s", r.status, r.hdr, r.body)
	}
	if n := len(g.pending(kc)); n != 0 {
		t.Fatalf("%d calls still listed after release", n)
	}
}

func TestHeldIngressReleasedByGrant(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)

	ch := background(func() (int, http.Header, []byte) { return g.agent("tools", s.token, wait("15")) })
	calls := g.awaitHeld(s.kc, 1)
	if calls[0].Kind != "grant" || calls[0].Reason != "no_grant" {
		t.Fatalf("held call shown as %+v", calls[0])
	}
	// A decision made on the API for a value/grant call is refused: the
	// owner sets the value or approves the grant.
	if st, b := g.admin("POST", "/v1/keychains/"+s.kc+"/pending/"+calls[0].ID+"/approve", map[string]any{"scope": "once"}); st != 409 {
		t.Fatalf("approve of a grant-held call: %d %s", st, b)
	}
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	r := receive(t, ch)
	if r.status != 200 || r.hdr.Get("Preference-Applied") != "wait" {
		t.Fatalf("released call: %d %s", r.status, r.body)
	}
}

func TestHeldTimesOutWithTheOldAnswer(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)
	start := time.Now()
	st, hdr, body := g.agent("tools", s.token, wait("1"))
	if p := problem(t, hdr, body); st != 403 || p["reason"] != "no_grant" || hdr.Get("Preference-Applied") != "wait" {
		t.Fatalf("timed out call: %d %v %v", st, hdr, p)
	}
	if time.Since(start) < time.Second {
		t.Fatal("the call did not wait")
	}
	if n := len(g.pending(s.kc)); n != 0 {
		t.Fatalf("%d calls listed after timing out", n)
	}
	// Without Prefer, no wait: the answer at once, as before.
	st, hdr, _ = g.agent("tools", s.token, nil)
	if st != 403 || hdr.Get("Preference-Applied") != "" {
		t.Fatalf("call without Prefer: %d %v", st, hdr)
	}
}

func TestHeldPreferHostile(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 1s"})
	s := g.standardSetup()
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)
	for _, v := range []string{"wait=abc", "wait=", "wait=-1", "wait=1e3", "wait=99999999999", "wait=1, wa(it=2", `wait="5"`} {
		st, hdr, body := g.agent("tools", s.token, map[string]string{"Prefer": v})
		if p := problem(t, hdr, body); st != 400 || p["field"] != "Prefer" {
			t.Fatalf("Prefer %q: %d %v", v, st, p)
		}
	}
	// A wait above approval_wait_max waits approval_wait_max.
	start := time.Now()
	if st, _, _ := g.agent("tools", s.token, wait("3600")); st != 403 || time.Since(start) > 10*time.Second {
		t.Fatalf("wait=3600 with approval_wait_max 1s: %d after %s", st, time.Since(start))
	}
}

func TestHeldMaxPendingPerKeychain(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_max_pending 2"})
	s := g.standardSetup()
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)
	a := background(func() (int, http.Header, []byte) { return g.agent("tools", s.token, wait("15")) })
	b := background(func() (int, http.Header, []byte) { return g.agent("tools", s.token, wait("15")) })
	g.awaitHeld(s.kc, 2)
	st, hdr, body := g.agent("tools", s.token, wait("15"))
	if p := problem(t, hdr, body); st != 429 || p["reason"] != "too_many_held" || hdr.Get("Retry-After") == "" || p["retry_after"] == nil {
		t.Fatalf("third held call: %d %v %v", st, hdr, p)
	}
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	if ra, rb := receive(t, a), receive(t, b); ra.status != 200 || rb.status != 200 {
		t.Fatalf("released calls: %d %d", ra.status, rb.status)
	}
}

// approveSetup is the standard setup whose API_KEY needs the owner's
// approval for every POST to /v1/charges*.
func approveSetup(g *gateway) (setup, string) {
	g.t.Helper()
	s := g.standardSetup()
	s.pkg["keys"] = []map[string]any{{
		"name": "API_KEY", "required": true, "description": "The API key", "hosts": []string{"127.0.0.1"},
		"approve": []map[string]any{{"method": "POST", "host": "127.0.0.1", "path": "/v1/charges*"}},
	}}
	g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", s.pkg)
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	if st, _, b := g.agent("tools", s.token, nil); st != 200 {
		g.t.Fatalf("agent call: %d %s", st, b)
	}
	return s, strings.TrimPrefix(g.pkgUpstream.last(g.t).Header.Get("Authorization"), "Bearer ")
}

func TestHeldEgressApproveRule(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 20s"})
	s, inv := approveSetup(g)
	charge := func() (int, http.Header, []byte) { return g.egressCall("/api/v1/charges", inv, nil) }

	// Not covered by the rule: straight through.
	if st, _, b := g.egressCall("/api/v1/customers", inv, nil); st != 200 {
		t.Fatalf("call outside the approve rules: %d %s", st, b)
	}

	// Approve once.
	before := g.upstream.count()
	ch := background(charge)
	c := g.awaitHeld(s.kc, 1)[0]
	if c.Kind != "approve" || c.Method != "POST" || c.Host != "127.0.0.1" || c.Path != "/v1/charges" ||
		c.BodySize != int64(len(`{"amount":1}`)) || len(c.BodySHA256) != 64 || string(c.Body) != `{"amount":1}` {
		t.Fatalf("held call shown as %+v (body %s)", c, c.Body)
	}
	if g.upstream.count() != before {
		t.Fatal("a held call reached the upstream before the owner's decision")
	}
	// Hostile: another keychain's path does not find the call.
	other, _ := newKeychain(g)
	if st, b := g.admin("POST", "/v1/keychains/"+other+"/pending/"+c.ID+"/approve", map[string]any{"scope": "once"}); st != 404 {
		t.Fatalf("decision through another keychain: %d %s", st, b)
	}
	// Hostile: a shape broader than the one shown.
	broad := map[string]any{}
	for k, v := range c.Shape {
		broad[k] = v
	}
	broad["path"] = "/v1/charges*"
	if st, b := g.admin("POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "shape", "for": "1h", "shape": broad}); st != 400 || !strings.Contains(string(b), "shape_mismatch") || !strings.Contains(string(b), `"field":"shape"`) {
		t.Fatalf("broader shape: %d %s", st, b)
	}
	// Hostile bodies.
	for _, body := range []any{map[string]any{"scope": "always"}, map[string]any{"scope": "shape"}, map[string]any{"scope": "shape", "for": "-1h"},
		map[string]any{"scope": "shape", "for": "9999h"}, map[string]any{"scope": "once", "for": "1h"}, map[string]any{"scope": "once", "extra": 1}, "[", nil} {
		if st, b := g.admin("POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", body); st != 400 {
			t.Fatalf("approve body %v: %d %s", body, st, b)
		}
	}
	g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "once", "shape": c.Shape})
	r := receive(t, ch)
	if r.status != 200 || string(r.body) != "upstream ok" {
		t.Fatalf("approved call: %d %s", r.status, r.body)
	}
	if got := g.upstream.last(t); got.URL.Path != "/v1/charges" {
		t.Fatalf("upstream got %s", got.URL)
	}
	// Hostile: the same decision replayed.
	if st, b := g.admin("POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "once"}); st != 404 {
		t.Fatalf("replayed decision: %d %s", st, b)
	}

	// Once means once: the next charge is held again. Approve its shape.
	ch = background(charge)
	c = g.awaitHeld(s.kc, 1)[0]
	g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "shape", "for": "1h"})
	if r := receive(t, ch); r.status != 200 {
		t.Fatalf("shape-approved call: %d %s", r.status, r.body)
	}
	if st, _, b := charge(); st != 200 {
		t.Fatalf("same shape within the hour: %d %s", st, b)
	}
	// Another body is another shape: held again; refuse it.
	before = g.upstream.count()
	ch = background(func() (int, http.Header, []byte) {
		return g.call("POST", g.egress+"/api/v1/charges", "", map[string]string{"Authorization": "Bearer " + inv}, `{"amount":1000000}`)
	})
	c = g.awaitHeld(s.kc, 1)[0]
	g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/refuse", nil)
	r = receive(t, ch)
	if p := problem(t, r.hdr, r.body); r.status != 403 || p["reason"] != "refused" {
		t.Fatalf("refused call: %d %v", r.status, p)
	}
	if g.upstream.count() != before {
		t.Fatal("a refused call reached the upstream")
	}

	// Each decision is in the audit, naming the request and body hash.
	var audit []struct {
		Action    string `json:"action"`
		Reason    string `json:"reason"`
		RequestID string `json:"request_id"`
	}
	waitFor(t, "decisions audited", func() bool {
		json.Unmarshal(g.mustAdmin(200, "GET", "/v1/audit?keychain="+s.kc, nil), &audit)
		n := 0
		for _, e := range audit {
			if strings.HasPrefix(e.Action, "held.") && e.RequestID != "" && strings.Contains(e.Reason, "body_sha256 ") {
				n++
			}
		}
		return n == 3
	})

	// No value or token in any log line, audit event, or answer given
	// (the held calls' listings included).
	_, auditAll := g.admin("GET", "/v1/audit?limit=1000", nil)
	for what, needle := range map[string]string{"secret value": s.secret, "keychain token": s.token, "invocation token": inv} {
		for where, hay := range map[string]string{"logs": g.logs(), "audit": string(auditAll), "answers": g.bodies.String()} {
			// The keychain's creation answered its token, once.
			if strings.Contains(hay, needle) && (where != "answers" || what != "keychain token") {
				t.Errorf("the %s is in the %s", what, where)
			}
		}
	}
}

func TestHeldApproveRulesHostile(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	for _, rule := range []map[string]any{
		{"method": "POST", "path": "v1/charges"},
		{"method": "POST", "path": "/v1/*/charges"},
		{"method": "PO ST", "path": "/v1"},
		{"method": "POST", "path": "/v1?x=1"},
		{"method": "POST", "host": "https://api.stripe.com", "path": "/v1"},
		{"method": "POST", "path": "/v1", "body": "{}"},
		{"path": "/v1"},
	} {
		s.pkg["keys"] = []map[string]any{{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}, "approve": []any{rule}}}
		st, b := g.admin("PUT", "/v1/packages/@acme/tools", s.pkg)
		if st != 400 {
			t.Fatalf("approve rule %v: %d %s", rule, st, b)
		}
	}
	s.pkg["keys"] = []map[string]any{{"name": "API_KEY", "required": true, "hosts": []string{"127.0.0.1"}, "approve": "POST /v1"}}
	if st, _ := g.admin("PUT", "/v1/packages/@acme/tools", s.pkg); st != 400 {
		t.Fatalf("approve as a string: %d", st)
	}
	// Nothing changed: the package still has no approve rules, calls go through.
	if st, _, b := g.agent("tools", s.token, nil); st != 200 {
		t.Fatalf("agent call after refused manifests: %d %s", st, b)
	}
}

func TestHeldCallerGoneIsReleasedAndAudited(t *testing.T) {
	g := startGateway(t, gatewayOptions{keygateCfg: "approval_wait_max 20s"})
	s, inv := approveSetup(g)
	before := g.upstream.count()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", g.egress+"/api/v1/charges", strings.NewReader(`{"amount":5}`))
		req.Header.Set("Authorization", "Bearer "+inv)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	c := g.awaitHeld(s.kc, 1)[0]
	cancel()
	<-done
	g.awaitHeld(s.kc, 0)
	// A decision after the caller left finds nothing and sends nothing.
	if st, _ := g.admin("POST", "/v1/keychains/"+s.kc+"/pending/"+c.ID+"/approve", map[string]any{"scope": "once"}); st != 404 {
		t.Fatalf("decision after the caller left: %d", st)
	}
	waitFor(t, "caller_gone audited", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+s.kc, nil)
		return strings.Contains(string(b), `"caller_gone"`)
	})
	if g.upstream.count() != before {
		t.Fatal("the call of a caller that left reached the upstream")
	}
}

// TestHeldEgressReleasedBySettingValue: an egress call for a value that
// is gone waits with Prefer: wait and goes on once the value is set.
func TestHeldEgressReleasedBySettingValue(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/secrets/API_KEY", nil)
	before := g.upstream.count()
	ch := background(func() (int, http.Header, []byte) { return g.egressCall("/api/v1/x", inv, wait("15")) })
	if c := g.awaitHeld(s.kc, 1)[0]; c.Kind != "value" || c.Reason != "missing_keys" {
		t.Fatalf("held egress call shown as %+v", c)
	}
	if g.upstream.count() != before {
		t.Fatal("the held call reached the upstream")
	}
	g.mustAdmin(204, "PUT", "/v1/keychains/"+s.kc+"/secrets/API_KEY", map[string]any{"value": s.secret, "allowed_hosts": []string{"127.0.0.1"}})
	r := receive(t, ch)
	if r.status != 200 || r.hdr.Get("Preference-Applied") != "wait" {
		t.Fatalf("released egress call: %d %v %s", r.status, r.hdr, r.body)
	}
	if g.upstream.last(t).Header.Get("Authorization") != "Bearer "+s.secret {
		t.Fatal("the released call did not carry the value set")
	}
}
