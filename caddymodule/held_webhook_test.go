package caddymodule_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/policy"
)

// TestHeldWebhook: each new held call is POSTed to approval_webhook,
// signed as Standard Webhooks has it, retried after a failure, and its
// delivery audited; the platform verifies it with the Standard Webhooks
// method (policy.VerifyWebhook, the verifier of package webhooks).
func TestHeldWebhook(t *testing.T) {
	key := make([]byte, 24)
	rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	var mu sync.Mutex
	var got []map[string]any
	attempts := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if _, err := policy.VerifyWebhook(policy.WebhookSchemeStandard, []byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("delivery does not verify: %v", err)
			w.WriteHeader(400)
			return
		}
		if attempts == 1 {
			w.WriteHeader(503) // the platform fails once: keygate retries
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		got = append(got, ev)
	}))
	defer hook.Close()

	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: "approval_wait_max 20s\n\t\tapproval_webhook " + hook.URL + "/held " + secret})
	s, inv := approveSetup(g)
	ch := background(func() (int, http.Header, []byte) { return g.egressCall("/api/v1/charges", inv, nil) })
	call := g.awaitHeld(s.kc, 1)[0]
	waitFor(t, "the webhook delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	mu.Lock()
	ev := got[0]
	mu.Unlock()
	data, _ := ev["data"].(map[string]any)
	req, _ := data["request"].(map[string]any)
	if ev["type"] != "keygate.held_call" || data["id"] != call.ID || data["keychain"] != s.kc || data["package"] != "@acme/tools" ||
		data["key"] != "API_KEY" || data["kind"] != "approve" || req["method"] != "POST" || req["path"] != "/v1/charges" ||
		req["body_sha256"] != call.BodySHA256 || !strings.HasSuffix(data["owner_url"].(string), "/ui/keychains/"+s.kc+"/waiting") {
		t.Fatalf("delivery %v", ev)
	}
	if _, has := data["body"]; has {
		t.Fatal("the delivery carries the request's body")
	}
	g.mustAdmin(200, "POST", "/v1/keychains/"+s.kc+"/pending/"+call.ID+"/approve", map[string]any{"scope": "once"})
	receive(t, ch)
	waitFor(t, "the delivery audited", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+s.kc, nil)
		return strings.Contains(string(b), `"action":"held.webhook"`) && strings.Contains(string(b), "delivered after 2 attempts")
	})
	if strings.Contains(g.logs(), secret) || strings.Contains(g.logs(), base64.StdEncoding.EncodeToString(key)) {
		t.Fatal("the webhook secret is in the logs")
	}
}
