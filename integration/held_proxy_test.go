package integration

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// heldPending is a held call as GET .../pending lists it.
type heldPending struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Flow       string          `json:"flow"`
	Key        string          `json:"key"`
	Method     string          `json:"method"`
	Host       string          `json:"host"`
	Path       string          `json:"path"`
	BodySize   int64           `json:"body_size"`
	BodySHA256 string          `json:"body_sha256"`
	Body       json.RawMessage `json:"body"`
	RequestID  string          `json:"request_id"`
}

// pendingOf lists the held calls of keychain kc.
func pendingOf(t testing.TB, in *Instance, kc string) []heldPending {
	t.Helper()
	var out struct {
		Pending []heldPending `json:"pending"`
	}
	if err := json.Unmarshal(in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+kc+"/pending", nil).Body, &out); err != nil {
		t.Fatal(err)
	}
	return out.Pending
}

// waitHeld waits until keychain kc has exactly one held call, and returns it.
func waitHeld(t testing.TB, in *Instance, kc string) heldPending {
	t.Helper()
	var got []heldPending
	if !eventually(10*time.Second, 20*time.Millisecond, func() bool {
		got = pendingOf(t, in, kc)
		return len(got) == 1
	}) {
		t.Fatalf("no single held call for keychain %s (%d listed)", kc, len(got))
	}
	return got[0]
}

// approvePackage registers @it/charges, whose key CHARGE_KEY is held for
// the owner on POST /v1/charges* and may stand in a body, grants it on the world's keychain, and
// returns a call's placeholder for it.
func (pw *proxyWorld) approvePackage(t testing.TB, value string) (placeholder string) {
	t.Helper()
	pw.in.setSecret(t, pw.kc, "CHARGE_KEY", value)
	m := map[string]any{"name": "@it/charges", "version": "1.0.0", "sha256": sha256Hex("@it/charges/v1"), "host": "charges", "upstream": pw.pkgCode.URL,
		"keys": []map[string]any{{"name": "CHARGE_KEY", "required": true, "hosts": []string{"127.0.0.1"}, "placement": []string{"header", "query", "body"},
			"approve": []map[string]any{{"method": "POST", "path": "/v1/charges*"}}}}}
	if r := pw.in.callAPI(t, "PUT", "/v1/packages/@it/charges", m); r.Status != http.StatusCreated && r.Status != http.StatusOK {
		t.Fatalf("put package: %s", r)
	}
	pw.in.grant(t, pw.kc, "@it/charges", "CHARGE_KEY")
	return pw.placeholderOf(t, "charges", "Keygate-Placeholder-CHARGE-KEY")
}

// placeholderOf makes an agent's call into the package at host and returns
// the placeholder its code got in header.
func (pw *proxyWorld) placeholderOf(t testing.TB, host, header string) string {
	t.Helper()
	path := "/call/" + RandomToken(t, "")
	if r := pw.in.callIngress(t, host, pw.token, "GET", path, nil); r.Status != http.StatusOK {
		t.Fatalf("ingress: %s", r)
	}
	for _, req := range pw.pkgCode.Requests() {
		if req.Path == path {
			if ph := req.Header.Get(header); strings.HasPrefix(ph, "kgph_") {
				return ph
			}
		}
	}
	t.Fatalf("the package's code got no %s", header)
	return ""
}

// proxyHeldCall sends a POST through the proxy site in the background.
func (pw *proxyWorld) proxyHeldCall(t testing.TB, ctx context.Context, path, ph, prefer, body string) <-chan reply {
	t.Helper()
	return pw.heldCallVia(t, pw.goClient(t, pw.proxyURL), ctx, path, ph, prefer, body)
}

// heldCallVia is proxyHeldCall with client c.
func (pw *proxyWorld) heldCallVia(t testing.TB, c *http.Client, ctx context.Context, path, ph, prefer, body string) <-chan reply {
	t.Helper()
	c.Timeout = 60 * time.Second
	ch := make(chan reply, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", pw.upstreamURL(path), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+ph)
		req.Header.Set("Content-Type", "application/json")
		if prefer != "" {
			req.Header.Set("Prefer", prefer)
		}
		resp, err := c.Do(req)
		if err != nil {
			ch <- reply{Status: -1, Body: []byte(err.Error())}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
	}()
	return ch
}

// TestProxyHeldForApproval: a call through the proxy site that its key's
// approve rule covers is held until the owner decides, showing them the
// request with placeholders, never values; approved it reaches the
// upstream with the value; refused or timed out it never does; a caller
// gone while held is released and audited, nothing forwarded; a decision
// replayed, or made through another keychain, finds nothing.
func TestProxyHeldForApproval(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{GlobalOptions: "debug"})
	value := RandomToken(t, "sk_charge_")
	noteSensitive(value)
	ph := pw.approvePackage(t, value)
	pending := "/v1/keychains/" + pw.kc + "/pending/"
	body := `{"amount":1200,"key":"` + ph + `"}`

	t.Run("approved once", func(t *testing.T) {
		before := pw.up.Count()
		ch := pw.proxyHeldCall(t, context.Background(), "/v1/charges?customer=c1&k="+ph, ph, "", body)
		h := waitHeld(t, pw.in, pw.kc)
		sum := sha256.Sum256([]byte(body))
		if h.Kind != "approve" || h.Flow != "proxy" || h.Key != "CHARGE_KEY" || h.Method != "POST" || h.Host != "127.0.0.1" ||
			h.Path != "/v1/charges?customer=c1&k={CHARGE_KEY}" || h.BodySize != int64(len(body)) || h.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("held call shown as %+v", h)
		}
		if string(h.Body) != body {
			t.Fatalf("the JSON body was not shown as sent (with its placeholder): %s", redact(string(h.Body)))
		}
		if pw.up.Count() != before {
			t.Fatal("the held call reached the upstream before a decision")
		}
		pw.in.mustAPI(t, http.StatusOK, "POST", pending+h.ID+"/approve", map[string]string{"scope": "once"})
		r := <-ch
		if r.Status != http.StatusOK || r.Header.Get("Preference-Applied") != "wait" {
			t.Fatalf("approved call: %s", r)
		}
		last := pw.up.Last(t)
		if last.Header.Get("Authorization") != "Bearer "+value || string(last.Body) != strings.ReplaceAll(body, ph, value) {
			t.Fatal("the approved call did not reach the upstream with the value in place of the placeholder, in the header and the body")
		}
		if strings.Contains(string(r.Body), value) {
			t.Fatal("the answer holds the value")
		}
		// Replayed: the decision was taken once.
		if r := pw.in.callAPI(t, "POST", pending+h.ID+"/approve", map[string]string{"scope": "once"}); r.Status != http.StatusNotFound {
			t.Fatalf("replayed decision: %s", r)
		}
	})

	t.Run("refused", func(t *testing.T) {
		before := pw.up.Count()
		ch := pw.proxyHeldCall(t, context.Background(), "/v1/charges", ph, "", body)
		h := waitHeld(t, pw.in, pw.kc)
		// Another keychain's decision on this call finds nothing.
		other, _ := pw.in.newKeychain(t, "other")
		if r := pw.in.callAPI(t, "POST", "/v1/keychains/"+other+"/pending/"+h.ID+"/approve", map[string]string{"scope": "once"}); r.Status != http.StatusNotFound {
			t.Fatalf("a decision through another keychain: %s", r)
		}
		pw.in.mustAPI(t, http.StatusOK, "POST", pending+h.ID+"/refuse", nil)
		r := <-ch
		wantProblem(t, "refused call", r, http.StatusForbidden, "refused")
		if r.Header.Get("Preference-Applied") != "wait" || pw.up.Count() != before {
			t.Fatalf("refused call: %s (forwarded %d)", r, pw.up.Count()-before)
		}
	})

	t.Run("timed out", func(t *testing.T) {
		before := pw.up.Count()
		r := <-pw.proxyHeldCall(t, context.Background(), "/v1/charges", ph, "wait=1", body)
		wantProblem(t, "timed-out call", r, http.StatusForbidden, "approval_required")
		if pw.up.Count() != before || len(pendingOf(t, pw.in, pw.kc)) != 0 {
			t.Fatal("a call whose wait ran out was forwarded or is still listed")
		}
	})

	for _, h2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("caller gone (HTTP/2 in the tunnel: %v)", h2), func(t *testing.T) {
			c := pw.goClient(t, pw.proxyURL)
			if !h2 {
				c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
				c.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			callerGone(t, pw, c, ph, body)
		})
	}
	t.Run("approved for its shape", func(t *testing.T) {
		// The placeholder stands in the header only: the path shown and
		// the body are the same for a later call, whose placeholder differs.
		plain := `{"amount":5}`
		ch := pw.proxyHeldCall(t, context.Background(), "/v1/charges?k="+ph, ph, "", plain)
		h := waitHeld(t, pw.in, pw.kc)
		pw.in.mustAPI(t, http.StatusOK, "POST", pending+h.ID+"/approve", map[string]string{"scope": "shape", "for": "1h"})
		if r := <-ch; r.Status != http.StatusOK {
			t.Fatalf("approved call: %s", r)
		}
		next := pw.placeholderOf(t, "charges", "Keygate-Placeholder-CHARGE-KEY")
		if next == ph {
			t.Fatal("a new call got the same placeholder")
		}
		r := <-pw.proxyHeldCall(t, context.Background(), "/v1/charges?k="+next, next, "", plain)
		if r.Status != http.StatusOK || pw.up.Last(t).RawQuery != "k="+value {
			t.Fatalf("the same shape from a later call: %s", r)
		}
		// Another body is another shape: held again (and let time out).
		r = <-pw.proxyHeldCall(t, context.Background(), "/v1/charges?k="+next, next, "wait=1", `{"amount":6}`)
		wantProblem(t, "another shape", r, http.StatusForbidden, "approval_required")
	})

	t.Run("a malformed Prefer", func(t *testing.T) {
		before := pw.up.Count()
		for _, prefer := range []string{"wait=soon", "wait=-1", "wait=99999999999999999999"} {
			p := wantProblem(t, "Prefer: "+prefer, <-pw.proxyHeldCall(t, context.Background(), "/v1/charges", ph, prefer, body), http.StatusBadRequest, "invalid")
			if p.Field != "Prefer" {
				t.Fatalf("Prefer: %s: field %q", prefer, p.Field)
			}
		}
		if pw.up.Count() != before || len(pendingOf(t, pw.in, pw.kc)) != 0 {
			t.Fatal("a call with a malformed Prefer was forwarded or held")
		}
	})

	t.Run("a path no rule covers passes", func(t *testing.T) {
		r := <-pw.proxyHeldCall(t, context.Background(), "/v1/echo", ph, "", `{"n":1}`)
		if r.Status != http.StatusOK || r.Header.Get("Preference-Applied") != "" {
			t.Fatalf("uncovered call: %s", r)
		}
	})
	audit := string(pw.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil).Body)
	if !strings.Contains(audit, "held.approve") || !strings.Contains(audit, "held.refuse") {
		t.Fatal("the decisions are not in the audit")
	}
	for what, out := range map[string]string{"the logs (DEBUG)": pw.in.Logs(), "the audit": audit} {
		for _, s := range []string{value, ph} {
			if strings.Contains(out, s) {
				t.Fatalf("%s hold a value or a placeholder", what)
			}
		}
	}
}

// TestProxyHeldForValue: with Prefer: wait, a call through the proxy site
// whose key has no value (428) waits for the owner to set it, then goes
// on with it as if it had arrived after; without Prefer it answers 428 at
// once.
func TestProxyHeldForValue(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	_, ph := pw.call(t)
	pw.in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+pw.kc+"/secrets/API_KEY", nil)
	r := <-pw.proxyHeldCall(t, context.Background(), "/v1/echo", ph, "", `{"n":1}`)
	wantProblem(t, "no value, no wait", r, http.StatusPreconditionRequired, "missing_keys")

	before := pw.up.Count()
	ch := pw.proxyHeldCall(t, context.Background(), "/v1/echo?k="+ph, ph, "wait=30", `{"n":2}`)
	h := waitHeld(t, pw.in, pw.kc)
	if h.Kind != "value" || h.Flow != "proxy" || h.Key != "API_KEY" || h.Path != "/v1/echo?k={placeholder}" {
		t.Fatalf("held call shown as %+v", h)
	}
	if pw.up.Count() != before {
		t.Fatal("a call held for a value reached the upstream")
	}
	value := RandomToken(t, "sk_later_")
	noteSensitive(value)
	pw.in.setSecret(t, pw.kc, "API_KEY", value)
	r = <-ch
	if r.Status != http.StatusOK || r.Header.Get("Preference-Applied") != "wait" {
		t.Fatalf("released call: %s", r)
	}
	last := pw.up.Last(t)
	if last.Header.Get("Authorization") != "Bearer "+value || last.RawQuery != "k="+value || string(last.Body) != `{"n":2}` {
		t.Fatal("the released call did not go out with the value set while it waited, and its body whole")
	}
}

// callerGone holds an approve call through c, then cancels it: it is
// released, audited as caller_gone, never forwarded, and no longer
// decidable.
func callerGone(t *testing.T, pw *proxyWorld, c *http.Client, ph, body string) {
	t.Helper()
	before := pw.up.Count()
	ctx, cancel := context.WithCancel(context.Background())
	ch := pw.heldCallVia(t, c, ctx, "/v1/charges", ph, "", body)
	h := waitHeld(t, pw.in, pw.kc)
	cancel()
	<-ch
	if !eventually(5*time.Second, 20*time.Millisecond, func() bool { return len(pendingOf(t, pw.in, pw.kc)) == 0 }) {
		t.Fatal("the call of a caller gone is still listed")
	}
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool {
		for _, e := range pw.auditEvents(t) {
			if e["request_id"] == h.RequestID && e["reason"] == "caller_gone" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("no audit event for the call of a caller gone")
	}
	if r := pw.in.callAPI(t, "POST", "/v1/keychains/"+pw.kc+"/pending/"+h.ID+"/approve", map[string]string{"scope": "once"}); r.Status != http.StatusNotFound {
		t.Fatalf("approving the call of a caller gone: %s", r)
	}
	time.Sleep(200 * time.Millisecond)
	if pw.up.Count() != before {
		t.Fatal("the call of a caller gone was forwarded")
	}
}
