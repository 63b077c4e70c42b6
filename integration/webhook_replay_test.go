package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/keygate/policy"
)

// hookWorld is a package taking a GitHub webhook signed with a keychain
// key and a Slack one signed with an app key, granted by two keychains.
type hookWorld struct {
	in      *Instance
	code    *Upstream
	kcs     []string
	secrets map[string]string
	fail    atomic.Bool // the package's code answers 500
}

func newHookWorld(t *testing.T) *hookWorld {
	t.Helper()
	w := &hookWorld{in: Start(t, Config{}),
		secrets: map[string]string{"GITHUB_WHSEC": RandomToken(t, "gh"), "SLACK_WHSEC": RandomToken(t, "slack")}}
	w.code = NewUpstream(t, func(rw http.ResponseWriter, _ *http.Request) {
		if w.fail.Load() {
			rw.WriteHeader(http.StatusInternalServerError)
		}
	})
	m := webhookManifest{testManifest: apiKeyManifest("@it/replay", "replay", w.code.URL)}
	m.Keys = append(m.Keys, keySpec{Name: "GITHUB_WHSEC", Hosts: []string{"127.0.0.1"}})
	m.AppKeys = []keySpec{{Name: "SLACK_WHSEC"}}
	m.Webhooks = []webhookSpec{
		{Name: "github", Path: "/hooks/github", Scheme: "github", Secret: "GITHUB_WHSEC"},
		{Name: "slack", Path: "/hooks/slack", Scheme: "slack", Secret: "SLACK_WHSEC"},
	}
	if r := w.in.callAPI(t, "PUT", "/v1/packages/"+m.Name, m); r.Status != http.StatusCreated {
		t.Fatalf("put package: %s", r)
	}
	noteSensitive(w.secrets["SLACK_WHSEC"])
	w.in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/packages/"+m.Name+"/app-secrets/SLACK_WHSEC", map[string]string{"value": w.secrets["SLACK_WHSEC"]})
	for i := 0; i < 2; i++ {
		kc, _ := w.in.newKeychain(t, "replay"+strconv.Itoa(i))
		w.in.setSecret(t, kc, "API_KEY", RandomToken(t, "sk_"))
		w.in.setSecret(t, kc, "GITHUB_WHSEC", w.secrets["GITHUB_WHSEC"])
		w.in.grant(t, kc, m.Name, "API_KEY", "GITHUB_WHSEC")
		w.kcs = append(w.kcs, kc)
	}
	return w
}

func (w *hookWorld) url(kc, name string) string {
	return w.in.IngressURL + "/_keygate/webhooks/" + kc + "/" + name
}

func (w *hookWorld) post(t *testing.T, kc, name string, hdr http.Header, body []byte) reply {
	t.Helper()
	return sendT(t, "POST", w.url(kc, name), w.in.ingressHost("replay"), hdr, body)
}

func (w *hookWorld) sign(t *testing.T, scheme, secret string, body []byte, id string) http.Header {
	t.Helper()
	h, err := policy.SignWebhook(scheme, []byte(w.secrets[secret]), body, time.Now(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestWebhookReplayWithFreshDeliveryID: the same signed GitHub body with a
// new, unsigned X-GitHub-Delivery is a duplicate; the package never gets
// the signature it could post again.
func TestWebhookReplayWithFreshDeliveryID(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	body := []byte(`{"action":"opened","number":1}`)
	h := w.sign(t, "github", "GITHUB_WHSEC", body, "delivery-1")
	if r := w.post(t, w.kcs[0], "github", h, body); r.Status != http.StatusOK || w.code.Count() != 1 {
		t.Fatalf("first delivery: %s", r)
	}
	got := w.code.Last(t)
	for _, sig := range policy.WebhookSignatureHeaders {
		if got.Header.Get(sig) != "" {
			t.Errorf("the package got %s", sig)
		}
	}
	for i := 0; i < 3; i++ {
		h.Set("X-GitHub-Delivery", fmt.Sprintf("forged-%d", i))
		r := w.post(t, w.kcs[0], "github", h, body)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "duplicate") {
			t.Errorf("replay %d: %s, want a duplicate", i, r)
		}
	}
	if n := w.code.Count(); n != 1 {
		t.Fatalf("the replays were forwarded: %d forwards, each with a fresh token", n)
	}
}

// TestWebhookAppKeyNotBoundToKeychain: bytes signed with an app key (the
// same for every keychain) mint no keychain token, and posted at another
// keychain's URL they are a duplicate.
func TestWebhookAppKeyNotBoundToKeychain(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	body := []byte(`{"event_id":"EvApp1","type":"event_callback"}`)
	h := w.sign(t, "slack", "SLACK_WHSEC", body, "")
	if r := w.post(t, w.kcs[0], "slack", h, body); r.Status != http.StatusOK || w.code.Count() != 1 {
		t.Fatalf("first delivery: %s", r)
	}
	got := w.code.Last(t)
	if got.Header.Get("Authorization") != "" || got.Header.Get("Keygate-Keychain") != "" {
		t.Errorf("an app-key delivery came with a keychain (%q) or a token (%d bytes)",
			got.Header.Get("Keygate-Keychain"), len(got.Header.Get("Authorization")))
	}
	r := w.post(t, w.kcs[1], "slack", h, body)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "duplicate") || w.code.Count() != 1 {
		t.Fatalf("the same signed bytes at another keychain's URL: %s, %d forwards", r, w.code.Count())
	}
}

// TestWebhookConcurrentDuplicates: identical deliveries arriving together
// are forwarded once.
func TestWebhookConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	body := []byte(`{"action":"closed","number":7}`)
	h := w.sign(t, "github", "GITHUB_WHSEC", body, "")
	var wg sync.WaitGroup
	statuses := make([]int, 6)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := tryHTTP(nil, "POST", w.url(w.kcs[0], "github"), w.in.ingressHost("replay"), h.Clone(), body)
			if err == nil {
				statuses[i] = r.Status
			}
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusOK {
			t.Errorf("delivery %d: status %d", i, st)
		}
	}
	if n := w.code.Count(); n != 1 {
		t.Fatalf("6 identical deliveries at once were forwarded %d times, want 1", n)
	}
}

// TestWebhookFailedDeliveryRetried: a delivery the package failed is
// claimed no longer, so the provider's retry is forwarded; once taken, it
// is a duplicate.
func TestWebhookFailedDeliveryRetried(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	body := []byte(`{"action":"synchronize"}`)
	h := w.sign(t, "github", "GITHUB_WHSEC", body, "")
	w.fail.Store(true)
	if r := w.post(t, w.kcs[0], "github", h, body); r.Status != http.StatusInternalServerError {
		t.Fatalf("delivery the package failed: %s", r)
	}
	w.fail.Store(false)
	if r := w.post(t, w.kcs[0], "github", h, body); r.Status != http.StatusOK || strings.Contains(string(r.Body), "duplicate") {
		t.Fatalf("retry after a failure: %s, want forwarded", r)
	}
	if r := w.post(t, w.kcs[0], "github", h, body); !strings.Contains(string(r.Body), "duplicate") || w.code.Count() != 2 {
		t.Fatalf("redelivery of a taken delivery: %s, %d forwards", r, w.code.Count())
	}
}

// TestWebhookUnsignedNotAuditedUnderKeychain: a delivery nothing vouches
// for writes no event under the keychain its URL names.
func TestWebhookUnsignedNotAuditedUnderKeychain(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	kc := w.kcs[0]
	for _, name := range []string{"github", "slack"} {
		r := w.post(t, kc, name, http.Header{"X-Hub-Signature-256": {"sha256=" + strings.Repeat("0", 64)}}, []byte(`{}`))
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "bad_signature") {
			t.Fatalf("unsigned %s: %s", name, r)
		}
	}
	if r := w.post(t, kc, "nope", nil, []byte(`{}`)); r.Status != http.StatusNotFound {
		t.Fatalf("unknown webhook: %s", r)
	}
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool {
		r := w.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
		return strings.Count(string(r.Body), `"bad_signature"`) >= 2
	}) {
		t.Fatal("the refusals were not audited")
	}
	r := w.in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000&keychain="+kc, nil)
	var evs []struct{ Actor, Action string }
	json.Unmarshal(r.Body, &evs)
	for _, ev := range evs {
		if ev.Actor == "webhook" {
			t.Errorf("an unauthenticated delivery wrote %s under the keychain", ev.Action)
		}
	}
}

// TestWebhookBodyReadLast: a body is not read before the URL names a
// webhook, keychain and grant, and one source may stall only a few reads.
func TestWebhookBodyReadLast(t *testing.T) {
	t.Parallel()
	w := newHookWorld(t)
	addr := strings.TrimPrefix(w.in.IngressURL, "http://")
	stall := func(path string) (*bufio.Reader, net.Conn) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{", path, w.in.ingressHost("replay"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		return bufio.NewReader(c), c
	}
	status := func(rd *bufio.Reader) int {
		t.Helper()
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, path := range []string{"/_keygate/webhooks/kc_aaaaaaaaaaaaaaaaaaaaaaaaaa/github", "/_keygate/webhooks/" + w.kcs[0] + "/nope"} {
		rd, _ := stall(path)
		if st := status(rd); st != http.StatusNotFound {
			t.Errorf("%s with a stalled body: status %d, want 404 at once", path, st)
		}
	}
	// Stalled uploads to a real webhook: a few are read, the next is
	// refused at once.
	var readers []*bufio.Reader
	for i := 0; i < 4; i++ {
		rd, _ := stall("/_keygate/webhooks/" + w.kcs[0] + "/github")
		readers = append(readers, rd)
	}
	if !eventually(5*time.Second, 50*time.Millisecond, func() bool {
		rd, c := stall("/_keygate/webhooks/" + w.kcs[0] + "/github")
		c.SetReadDeadline(time.Now().Add(time.Second))
		return status(rd) == http.StatusTooManyRequests
	}) {
		t.Fatal("a source with 4 stalled webhook uploads got a fifth read")
	}
	_ = readers
}
