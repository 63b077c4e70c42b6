package policy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// The headers each scheme signs with, as providers send them. http.Header
// canonicalises on lookup, so their case does not matter.
const (
	headerStripeSignature   = "Stripe-Signature"
	headerGitHubSignature   = "X-Hub-Signature-256"
	headerGitHubDelivery    = "X-GitHub-Delivery"
	headerSlackSignature    = "X-Slack-Signature"
	headerSlackTimestamp    = "X-Slack-Request-Timestamp"
	headerStandardID        = "webhook-id"
	headerStandardTimestamp = "webhook-timestamp"
	headerStandardSignature = "webhook-signature"

	standardSecretPrefix = "whsec_"
)

// WebhookSignatureHeaders are the headers that carry a delivery's
// signature in any scheme keygate knows, GitHub's SHA-1 one included. A
// forwarded delivery carries none of them, whatever its webhook's scheme:
// with a signature the package could post the delivery again, and mint
// itself another invocation token, whenever it liked.
var WebhookSignatureHeaders = []string{
	headerStripeSignature, headerGitHubSignature, "X-Hub-Signature", headerSlackSignature, headerStandardSignature,
}

// verifyStripe follows https://docs.stripe.com/webhooks (Verify manually).
func verifyStripe(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) (WebhookDelivery, error) {
	v, err := webhookHeader(h, headerStripeSignature, maxWebhookHeaderLen)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if strings.Count(v, ",") > maxWebhookSignatures {
		return WebhookDelivery{}, badHeader(headerStripeSignature, "has too many signatures")
	}
	var t string
	var sigs [][]byte
	for item := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(item, "=")
		if !ok || k == "" || val == "" {
			return WebhookDelivery{}, badHeader(headerStripeSignature, "malformed")
		}
		switch k {
		case "t":
			if t != "" {
				return WebhookDelivery{}, badHeader(headerStripeSignature, "malformed")
			}
			t = val
		case "v1":
			mac, ok := decodeHexMAC(val)
			if !ok {
				return WebhookDelivery{}, badHeader(headerStripeSignature, "malformed")
			}
			sigs = append(sigs, mac)
		}
		// Other keys (v0 in test mode, future schemes) are not ours to check.
	}
	if t == "" {
		return WebhookDelivery{}, badHeader(headerStripeSignature, "has no timestamp")
	}
	if len(sigs) == 0 {
		return WebhookDelivery{}, badHeader(headerStripeSignature, "has no v1 signature")
	}
	ts, err := parseWebhookTimestamp(headerStripeSignature, t)
	if err != nil {
		return WebhookDelivery{}, err
	}
	match := anyMACEqual(webhookMAC(key, t, ".", body), sigs)
	if match == nil {
		return WebhookDelivery{}, errWebhookMismatch
	}
	if err := checkWebhookFresh(ts, now, tolerance); err != nil {
		return WebhookDelivery{}, err
	}
	id := bodyWebhookID(body, "id")
	if id == "" {
		id = digestWebhookID(WebhookSchemeStripe, t, match)
	}
	return WebhookDelivery{ID: id, Timestamp: ts}, nil
}

// verifyGitHub follows https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries.
func verifyGitHub(key []byte, h http.Header, body []byte) (WebhookDelivery, error) {
	v, err := webhookHeader(h, headerGitHubSignature, maxWebhookHeaderLen)
	if err != nil {
		return WebhookDelivery{}, err
	}
	hexMAC, ok := strings.CutPrefix(v, "sha256=")
	sig, okHex := decodeHexMAC(hexMAC)
	if !ok || !okHex {
		return WebhookDelivery{}, badHeader(headerGitHubSignature, "malformed")
	}
	// X-GitHub-Delivery is not signed: it is checked (a malformed one is
	// refused whatever the signature) but never names the delivery, or a
	// fresh one would make the same signed body new again. The id is a
	// digest of the signature, which covers the body and nothing else.
	if vs := h.Values(headerGitHubDelivery); len(vs) > 1 {
		return WebhookDelivery{}, badHeader(headerGitHubDelivery, "repeated")
	} else if len(vs) == 1 && !validWebhookID(vs[0]) {
		return WebhookDelivery{}, badHeader(headerGitHubDelivery, "malformed")
	}
	if !hmac.Equal(webhookMAC(key, "", "", body), sig) {
		return WebhookDelivery{}, errWebhookMismatch
	}
	return WebhookDelivery{ID: digestWebhookID(WebhookSchemeGitHub, "", sig)}, nil
}

// verifySlack follows https://docs.slack.dev/authentication/verifying-requests-from-slack.
func verifySlack(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) (WebhookDelivery, error) {
	v, err := webhookHeader(h, headerSlackSignature, maxWebhookHeaderLen)
	if err != nil {
		return WebhookDelivery{}, err
	}
	t, err := webhookHeader(h, headerSlackTimestamp, maxWebhookTSDigits)
	if err != nil {
		return WebhookDelivery{}, err
	}
	hexMAC, ok := strings.CutPrefix(v, "v0=")
	sig, okHex := decodeHexMAC(hexMAC)
	if !ok || !okHex {
		return WebhookDelivery{}, badHeader(headerSlackSignature, "malformed")
	}
	ts, err := parseWebhookTimestamp(headerSlackTimestamp, t)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if !hmac.Equal(webhookMAC(key, "v0:"+t, ":", body), sig) {
		return WebhookDelivery{}, errWebhookMismatch
	}
	if err := checkWebhookFresh(ts, now, tolerance); err != nil {
		return WebhookDelivery{}, err
	}
	id := bodyWebhookID(body, "event_id")
	if id == "" {
		id = digestWebhookID(WebhookSchemeSlack, t, sig)
	}
	return WebhookDelivery{ID: id, Timestamp: ts}, nil
}

// verifyStandard follows https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md.
func verifyStandard(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) (WebhookDelivery, error) {
	id, err := webhookHeader(h, headerStandardID, maxWebhookIDLen)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if !validWebhookID(id) {
		return WebhookDelivery{}, badHeader(headerStandardID, "malformed")
	}
	t, err := webhookHeader(h, headerStandardTimestamp, maxWebhookTSDigits)
	if err != nil {
		return WebhookDelivery{}, err
	}
	ts, err := parseWebhookTimestamp(headerStandardTimestamp, t)
	if err != nil {
		return WebhookDelivery{}, err
	}
	v, err := webhookHeader(h, headerStandardSignature, maxWebhookHeaderLen)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if strings.Count(v, " ") >= maxWebhookSignatures {
		return WebhookDelivery{}, badHeader(headerStandardSignature, "has too many signatures")
	}
	var sigs [][]byte
	for item := range strings.SplitSeq(v, " ") {
		version, b64, ok := strings.Cut(item, ",")
		if !ok || version == "" || b64 == "" {
			return WebhookDelivery{}, badHeader(headerStandardSignature, "malformed")
		}
		if version != "v1" {
			continue // v1a (Ed25519) and later versions are not symmetric secrets
		}
		mac, err := base64.StdEncoding.Strict().DecodeString(b64)
		// The decoder skips CR and LF even when strict: a signature is one
		// canonical spelling, so any byte outside the alphabet refuses it.
		if err != nil || len(mac) != sha256.Size || !stdBase64Only(b64) {
			return WebhookDelivery{}, badHeader(headerStandardSignature, "malformed")
		}
		sigs = append(sigs, mac)
	}
	if len(sigs) == 0 {
		return WebhookDelivery{}, badHeader(headerStandardSignature, "has no v1 signature")
	}
	if anyMACEqual(webhookMAC(key, id+"."+t, ".", body), sigs) == nil {
		return WebhookDelivery{}, errWebhookMismatch
	}
	if err := checkWebhookFresh(ts, now, tolerance); err != nil {
		return WebhookDelivery{}, err
	}
	return WebhookDelivery{ID: id, Timestamp: ts}, nil
}

// anyMACEqual returns the signature in sigs that equals want, or nil. Every
// comparison is constant-time; which one matched reveals nothing about the
// secret.
func anyMACEqual(want []byte, sigs [][]byte) []byte {
	for _, s := range sigs {
		if hmac.Equal(want, s) {
			return s
		}
	}
	return nil
}

// stdBase64Only reports whether s holds only standard base64 characters
// and padding.
func stdBase64Only(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}
