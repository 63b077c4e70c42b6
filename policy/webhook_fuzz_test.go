package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// webhookFuzzHeaders puts the fuzzed signature, timestamp and id where scheme
// reads them.
func webhookFuzzHeaders(scheme, sig, ts, id string) http.Header {
	h := http.Header{}
	switch scheme {
	case WebhookSchemeStripe:
		h.Set("Stripe-Signature", sig)
	case WebhookSchemeGitHub:
		h.Set("X-Hub-Signature-256", sig)
		h.Set("X-GitHub-Delivery", id)
	case WebhookSchemeSlack:
		h.Set("X-Slack-Signature", sig)
		h.Set("X-Slack-Request-Timestamp", ts)
	default:
		h.Set("webhook-signature", sig)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-id", id)
	}
	for k, v := range h {
		if v[0] == "" {
			delete(h, k) // lets the fuzzer try an absent header
		}
	}
	return h
}

// webhookOracle says whether sig carries the right HMAC for the delivery,
// computed here with crypto/hmac directly rather than with the code under
// test.
func webhookOracle(scheme string, secret []byte, sig, ts, id string, body []byte) bool {
	mac := func(key []byte, parts ...string) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write([]byte(p))
		}
		m.Write(body)
		return m.Sum(nil)
	}
	lower := strings.ToLower(sig) // hex may come in either case
	switch scheme {
	case WebhookSchemeStripe:
		for item := range strings.SplitSeq(sig, ",") {
			if t, ok := strings.CutPrefix(item, "t="); ok {
				return strings.Contains(lower+",", "v1="+hex.EncodeToString(mac(secret, t, "."))+",")
			}
		}
		return false
	case WebhookSchemeGitHub:
		return lower == "sha256="+hex.EncodeToString(mac(secret))
	case WebhookSchemeSlack:
		return lower == "v0="+hex.EncodeToString(mac(secret, "v0:", ts, ":"))
	default:
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(secret), "whsec_"))
		if err != nil {
			return false
		}
		want := "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ".", ts, "."))
		return strings.Contains(" "+sig+" ", " "+want+" ")
	}
}

// FuzzWebhookHeaders: no header a sender can craft makes VerifyWebhook panic,
// accept a delivery without the right HMAC, report a stale delivery as
// anything but stale, or put the secret in an error.
func FuzzWebhookHeaders(f *testing.F) {
	signatureHeader := map[string]string{
		WebhookSchemeStripe:   "Stripe-Signature",
		WebhookSchemeGitHub:   "X-Hub-Signature-256",
		WebhookSchemeSlack:    "X-Slack-Signature",
		WebhookSchemeStandard: "webhook-signature",
	}
	timestampHeader := map[string]string{WebhookSchemeSlack: "X-Slack-Request-Timestamp", WebhookSchemeStandard: "webhook-timestamp"}
	idHeader := map[string]string{WebhookSchemeGitHub: "X-GitHub-Delivery", WebhookSchemeStandard: "webhook-id"}
	index := map[string]uint8{}
	for i, s := range whSchemes {
		index[s] = uint8(i)
	}
	// Seeds: every hostile table case, so the fuzzer starts at the edges,
	// valid signatures included.
	for _, tc := range webhookCases() {
		body := []byte(whBody)
		h, body := tc.mutate(mustSign(f, tc.scheme, whSecrets[tc.scheme], body, whNow, "msg_1"), body)
		f.Add(index[tc.scheme], h.Get(signatureHeader[tc.scheme]), h.Get(timestampHeader[tc.scheme]), h.Get(idHeader[tc.scheme]), body)
	}

	f.Fuzz(func(t *testing.T, n uint8, sig, ts, id string, body []byte) {
		scheme := whSchemes[int(n)%len(whSchemes)]
		secret := []byte(whSecrets[scheme])
		h := webhookFuzzHeaders(scheme, sig, ts, id)
		d, err := VerifyWebhook(scheme, secret, h, body, whNow, 0)
		if err != nil {
			if errors.Is(err, ErrWebhookSignature) == errors.Is(err, ErrWebhookStale) {
				t.Fatalf("error %q is not exactly one of signature or stale", err)
			}
			if d != (WebhookDelivery{}) {
				t.Fatalf("refused but returned %+v", d)
			}
			assertNoWebhookLeak(t, err, string(secret), h, body)
			if errors.Is(err, ErrWebhookSignature) {
				return
			}
		}
		if !webhookOracle(scheme, secret, sig, ts, id, body) {
			t.Fatalf("%s: %v without the right HMAC; headers %q", scheme, err, h)
		}
		if err != nil {
			return // stale, but correctly signed
		}
		if !validWebhookID(d.ID) {
			t.Fatalf("accepted with delivery id %q", d.ID)
		}
		if scheme != WebhookSchemeGitHub && (d.Timestamp.Before(whNow.Add(-DefaultWebhookTolerance)) || d.Timestamp.After(whNow.Add(DefaultWebhookTolerance))) {
			t.Fatalf("accepted at %v, outside the tolerance", d.Timestamp)
		}
	})
}
