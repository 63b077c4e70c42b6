package policy

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// The webhook schemes a package manifest may name. Each is a provider's own
// way of signing a delivery; see VerifyWebhook for the details of each.
const (
	WebhookSchemeStripe   = "stripe"
	WebhookSchemeGitHub   = "github"
	WebhookSchemeSlack    = "slack"
	WebhookSchemeStandard = "standard" // standardwebhooks.com
)

// DefaultWebhookTolerance is how far a delivery's timestamp may be from now,
// either way, when the manifest sets no tolerance: the 5 minutes that Stripe,
// Slack and Standard Webhooks all recommend.
const DefaultWebhookTolerance = 5 * time.Minute

// Bounds on what a delivery's headers may hold. They are far above what any
// provider sends and keep a hostile sender from making keygate parse (or
// HMAC-compare) more than a few kilobytes of header.
const (
	maxWebhookSignatures = 16   // signatures in one header (key rotation sends 2)
	maxWebhookHeaderLen  = 2048 // a signature header
	maxWebhookIDLen      = 256  // a delivery id, from a header or the body
	maxWebhookTSDigits   = 12   // unix seconds: enough until the year 33658
)

// ErrWebhookSignature is wrapped by every failure that means "not signed by
// the holder of the secret": a missing, malformed, oversized or wrong
// signature, or a malformed header that the signature covers. keygate answers
// 401.
var ErrWebhookSignature = errors.New("webhook signature invalid")

// ErrWebhookStale is wrapped when a correctly signed delivery's timestamp is
// further than the tolerance from now, in either direction. keygate answers
// 401 with reason stale_webhook. It is only reported once the signature has
// verified, so an unsigned request can never learn about the clock.
var ErrWebhookStale = errors.New("webhook timestamp outside tolerance")

// ErrWebhookScheme is returned for a scheme that is none of the
// WebhookScheme* constants.
var ErrWebhookScheme = errors.New("unknown webhook scheme")

// ErrWebhookSecret is wrapped when the signing secret cannot be used: empty,
// or (scheme standard) not whsec_<base64>. It is a configuration problem of
// the keychain, not of the delivery.
var ErrWebhookSecret = errors.New("webhook signing secret unusable")

// webhookError is a failure with a fixed message: built from constants only
// (header names, reasons), never from the secret, a signature or the body.
type webhookError struct {
	msg  string
	kind error
}

func (e *webhookError) Error() string { return e.msg }
func (e *webhookError) Unwrap() error { return e.kind }

func badHeader(name, problem string) error {
	return &webhookError{name + " header " + problem, ErrWebhookSignature}
}

var (
	errWebhookMismatch    error = &webhookError{"webhook signature mismatch", ErrWebhookSignature}
	errWebhookTooOld      error = &webhookError{"webhook timestamp too old", ErrWebhookStale}
	errWebhookTooNew      error = &webhookError{"webhook timestamp too far in the future", ErrWebhookStale}
	errWebhookSecretEmpty error = &webhookError{"webhook signing secret empty", ErrWebhookSecret}
	errWebhookSecretB64   error = &webhookError{"webhook signing secret for scheme standard is not base64", ErrWebhookSecret}
	errWebhookNeedsID           = errors.New("webhook delivery id required for scheme standard")
	errWebhookBadID             = errors.New("webhook delivery id must be 1-256 visible ASCII characters")
	errWebhookClock             = errors.New("webhook time must be after 1970")
)

// WebhookDelivery is what a verified delivery tells keygate about itself.
type WebhookDelivery struct {
	// ID names the delivery for deduplication: the same event sent again
	// (a provider's retry) has the same ID where the provider allows it.
	// It is always taken from what the signature covers, so no unsigned
	// part of a request can make a delivery new again. It is at most 256
	// visible ASCII characters and never empty.
	ID string
	// Timestamp is the signed send time; zero for github, which signs none.
	Timestamp time.Time
}

// ValidWebhookScheme reports whether s names a scheme keygate verifies.
func ValidWebhookScheme(s string) bool {
	switch s {
	case WebhookSchemeStripe, WebhookSchemeGitHub, WebhookSchemeSlack, WebhookSchemeStandard:
		return true
	}
	return false
}

// CheckWebhookSecret reports whether secret is usable under scheme (for a
// setting that signs, such as the approval webhook's).
func CheckWebhookSecret(scheme string, secret []byte) error {
	_, err := webhookKey(scheme, secret)
	return err
}

// VerifyWebhook checks that a delivery (its headers h and raw body) was
// signed with secret under scheme and is fresh at now, and returns its
// delivery id. Nothing in the body is looked at before the signature has
// verified. Every comparison is hmac.Equal over decoded MACs.
//
//   - stripe: Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...];
//     HMAC-SHA256 of "<t>.<body>" keyed with the endpoint secret as given
//     (whsec_... included); any one v1 may match, other schemes are ignored.
//     ID: the body's top-level "id" (the event id, the same on every retry),
//     else a digest of t and the matching signature.
//   - github: X-Hub-Signature-256: sha256=<hex> of the body. GitHub signs no
//     time, so there is no staleness check; a captured delivery is answered
//     as a duplicate within keygate's dedup window and replays after it;
//     that is GitHub's design. ID: a digest of the signature (so of the
//     body), never the unsigned X-GitHub-Delivery.
//   - slack: X-Slack-Signature: v0=<hex> of "v0:<X-Slack-Request-Timestamp>:
//     <body>". Slack sends no delivery id header and re-signs each retry
//     (X-Slack-Retry-Num) with a new timestamp, so the ID is the body's
//     top-level "event_id" (Events API, the same on every retry), else a
//     digest of the timestamp and signature (slash commands and
//     interactivity payloads, which carry no event id).
//   - standard: webhook-id, webhook-timestamp, webhook-signature: v1,<base64>
//     [ v1,<base64>...] (space separated; other versions such as v1a are
//     ignored); HMAC-SHA256 of "<id>.<timestamp>.<body>" keyed with the
//     base64 after whsec_ (the prefix is optional). ID: webhook-id.
//
// tolerance <= 0 means DefaultWebhookTolerance. Errors wrap
// ErrWebhookSignature, ErrWebhookStale, ErrWebhookScheme or
// ErrWebhookSecret; none holds any part of the secret, a signature or the
// body.
func VerifyWebhook(scheme string, secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) (WebhookDelivery, error) {
	key, err := webhookKey(scheme, secret)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	switch scheme {
	case WebhookSchemeStripe:
		return verifyStripe(key, h, body, now, tolerance)
	case WebhookSchemeGitHub:
		return verifyGitHub(key, h, body)
	case WebhookSchemeSlack:
		return verifySlack(key, h, body, now, tolerance)
	default:
		return verifyStandard(key, h, body, now, tolerance)
	}
}

// SignWebhook returns the headers a provider would send with body at now, so
// that `keygate dev sign-webhook` can print a curl line that VerifyWebhook
// accepts. id is the delivery id for github (X-GitHub-Delivery, optional) and
// standard (webhook-id, required); stripe and slack carry theirs in the body,
// so it is not used for them.
func SignWebhook(scheme string, secret []byte, body []byte, now time.Time, id string) (http.Header, error) {
	key, err := webhookKey(scheme, secret)
	if err != nil {
		return nil, err
	}
	if now.Unix() <= 0 {
		return nil, errWebhookClock
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	if id != "" && !validWebhookID(id) {
		return nil, errWebhookBadID
	}
	h := http.Header{}
	switch scheme {
	case WebhookSchemeStripe:
		h.Set(headerStripeSignature, "t="+ts+",v1="+hex.EncodeToString(webhookMAC(key, ts, ".", body)))
	case WebhookSchemeGitHub:
		h.Set(headerGitHubSignature, "sha256="+hex.EncodeToString(webhookMAC(key, "", "", body)))
		if id != "" {
			h.Set(headerGitHubDelivery, id)
		}
	case WebhookSchemeSlack:
		h.Set(headerSlackTimestamp, ts)
		h.Set(headerSlackSignature, "v0="+hex.EncodeToString(webhookMAC(key, "v0:"+ts, ":", body)))
	default:
		if id == "" {
			return nil, errWebhookNeedsID
		}
		h.Set(headerStandardID, id)
		h.Set(headerStandardTimestamp, ts)
		h.Set(headerStandardSignature, "v1,"+base64.StdEncoding.EncodeToString(webhookMAC(key, id+"."+ts, ".", body)))
	}
	return h, nil
}

// webhookKey checks scheme and returns the HMAC key its secret stands for.
func webhookKey(scheme string, secret []byte) ([]byte, error) {
	if !ValidWebhookScheme(scheme) {
		return nil, ErrWebhookScheme
	}
	if len(secret) == 0 {
		return nil, errWebhookSecretEmpty
	}
	if scheme != WebhookSchemeStandard {
		return secret, nil
	}
	b64, _ := bytes.CutPrefix(secret, []byte(standardSecretPrefix))
	key := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Strict().Decode(key, b64)
	if err != nil || n == 0 {
		return nil, errWebhookSecretB64
	}
	return key[:n], nil
}

// webhookMAC is HMAC-SHA256 over prefix, sep and body, written in pieces so
// that a large body is never copied to build the signed content.
func webhookMAC(key []byte, prefix, sep string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(prefix))
	m.Write([]byte(sep))
	m.Write(body)
	return m.Sum(nil)
}

// webhookHeader returns the one value of header name. A header sent twice is
// malformed: which copy a provider meant is not ours to guess.
func webhookHeader(h http.Header, name string, maxLen int) (string, error) {
	vs := h.Values(name)
	switch {
	case len(vs) == 0 || (len(vs) == 1 && vs[0] == ""):
		return "", badHeader(name, "missing")
	case len(vs) > 1:
		return "", badHeader(name, "repeated")
	case len(vs[0]) > maxLen:
		return "", badHeader(name, "too long")
	}
	return vs[0], nil
}

// parseWebhookTimestamp accepts unix seconds in canonical decimal only (no
// sign, no leading zero, no space), so that the string signed and the time
// checked can never differ.
func parseWebhookTimestamp(name, s string) (time.Time, error) {
	if s == "" || len(s) > maxWebhookTSDigits || s[0] == '0' {
		return time.Time{}, badHeader(name, "malformed")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, badHeader(name, "malformed")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, badHeader(name, "malformed")
	}
	return time.Unix(n, 0), nil
}

// checkWebhookFresh refuses a timestamp further than tolerance from now.
// time.Time.Sub saturates, so no timestamp can overflow into "fresh".
func checkWebhookFresh(ts, now time.Time, tolerance time.Duration) error {
	switch d := now.Sub(ts); {
	case d > tolerance:
		return errWebhookTooOld
	case d < -tolerance:
		return errWebhookTooNew
	}
	return nil
}

// decodeHexMAC decodes a hex HMAC-SHA256; ok is false unless it is exactly
// 32 bytes.
func decodeHexMAC(s string) ([]byte, bool) {
	if len(s) != 2*sha256.Size {
		return nil, false
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// validWebhookID reports whether s can serve as a delivery id: stored for
// deduplication and audited, so it is bounded and printable.
func validWebhookID(s string) bool {
	if s == "" || len(s) > maxWebhookIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// bodyWebhookID returns the top-level string field key of a JSON-object
// body if it is a valid delivery id, else "". Called only on verified
// bodies: the provider vouches for them.
func bodyWebhookID(body []byte, key string) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return ""
	}
	var id string
	if raw, ok := obj[key]; !ok || json.Unmarshal(raw, &id) != nil || !validWebhookID(id) {
		return ""
	}
	return id
}

// digestWebhookID is the delivery id of a scheme whose delivery names none:
// a digest of what was signed and the signature, so the same request sent
// twice has the same id, and neither the signature nor the body shows in the
// audit log.
func digestWebhookID(scheme, ts string, mac []byte) string {
	d := sha256.New()
	d.Write([]byte(scheme))
	d.Write([]byte{0})
	d.Write([]byte(ts))
	d.Write([]byte{0})
	d.Write(mac)
	return "sig:" + hex.EncodeToString(d.Sum(nil)[:16])
}
