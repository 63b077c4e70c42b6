package policy

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Published examples, so that keygate agrees with the providers and not just
// with itself.
const (
	// GitHub, "Validating webhook deliveries", section "Testing the webhook
	// payload validation":
	// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
	ghVectorSecret = "It's a Secret to Everybody"
	ghVectorBody   = "Hello, World!"
	ghVectorSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

	// Slack, "Verifying requests from Slack", the worked example:
	// https://docs.slack.dev/authentication/verifying-requests-from-slack
	slackVectorSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackVectorTS     = "1531420618"
	slackVectorBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackVectorSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

	// Standard Webhooks reference libraries' test vector (e.g.
	// standard-webhooks/standard-webhooks libraries/php/tests, "testSignFunctionWorks").
	stdVectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	stdVectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	stdVectorTS     = "1614265330"
	stdVectorBody   = `{"test": 2432232314}`
	stdVectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

	// Stripe publishes the algorithm (https://docs.stripe.com/webhooks, "Verify
	// manually") and an example header for t=1492774577, but not the secret
	// and body behind it. This vector was computed outside Go, with Python's
	// hmac module: hmac.new(b"whsec_test_secret", b"1492774577." + body,
	// sha256).hexdigest(). Note the key is the whole whsec_ string, unlike
	// Standard Webhooks.
	stripeVectorSecret = "whsec_test_secret"
	stripeVectorTS     = "1492774577"
	stripeVectorBody   = `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}`
	stripeVectorSig    = "a4d8cf7bf8f4f9daf3d0d4a5905396c32f725d47d08d91a0998fa1fefe70c66a"
)

func unix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return time.Unix(n, 0)
}

func whHdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestVerifyWebhookPublishedVectors(t *testing.T) {
	tests := []struct {
		name, scheme, secret, body string
		h                          http.Header
		now                        time.Time
		wantID                     string
	}{
		{
			name: "github", scheme: WebhookSchemeGitHub, secret: ghVectorSecret, body: ghVectorBody,
			h:   whHdr("X-Hub-Signature-256", ghVectorSig, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
			now: time.Unix(1, 0), // no timestamp: any clock
			// The delivery header is unsigned: the id is a digest of the signature.
		},
		{
			name: "slack", scheme: WebhookSchemeSlack, secret: slackVectorSecret, body: slackVectorBody,
			h:   whHdr("X-Slack-Request-Timestamp", slackVectorTS, "X-Slack-Signature", slackVectorSig),
			now: unix(slackVectorTS).Add(time.Minute),
		},
		{
			name: "standard", scheme: WebhookSchemeStandard, secret: stdVectorSecret, body: stdVectorBody,
			h:      whHdr("webhook-id", stdVectorID, "webhook-timestamp", stdVectorTS, "webhook-signature", stdVectorSig),
			now:    unix(stdVectorTS),
			wantID: stdVectorID,
		},
		{
			name: "standard secret without whsec_", scheme: WebhookSchemeStandard,
			secret: strings.TrimPrefix(stdVectorSecret, "whsec_"), body: stdVectorBody,
			h:      whHdr("webhook-id", stdVectorID, "webhook-timestamp", stdVectorTS, "webhook-signature", stdVectorSig),
			now:    unix(stdVectorTS),
			wantID: stdVectorID,
		},
		{
			name: "stripe", scheme: WebhookSchemeStripe, secret: stripeVectorSecret, body: stripeVectorBody,
			h:      whHdr("Stripe-Signature", "t="+stripeVectorTS+",v1="+stripeVectorSig),
			now:    unix(stripeVectorTS).Add(-time.Minute),
			wantID: "evt_1NG8Du2eZvKYlo2CUI79vXWy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := VerifyWebhook(tt.scheme, []byte(tt.secret), tt.h, []byte(tt.body), tt.now, 0)
			if err != nil {
				t.Fatalf("VerifyWebhook: %v", err)
			}
			if tt.wantID != "" && d.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", d.ID, tt.wantID)
			}
			if !validWebhookID(d.ID) {
				t.Errorf("ID %q is not a valid delivery id", d.ID)
			}
		})
	}
}

// SignWebhook must produce exactly the published signatures.
func TestSignWebhookPublishedVectors(t *testing.T) {
	tests := []struct {
		name, scheme, secret, body, id string
		at                             time.Time
		header, want                   string
	}{
		{"github", WebhookSchemeGitHub, ghVectorSecret, ghVectorBody, "", time.Unix(1, 0), "X-Hub-Signature-256", ghVectorSig},
		{"slack", WebhookSchemeSlack, slackVectorSecret, slackVectorBody, "", unix(slackVectorTS), "X-Slack-Signature", slackVectorSig},
		{"standard", WebhookSchemeStandard, stdVectorSecret, stdVectorBody, stdVectorID, unix(stdVectorTS), "webhook-signature", stdVectorSig},
		{"stripe", WebhookSchemeStripe, stripeVectorSecret, stripeVectorBody, "", unix(stripeVectorTS), "Stripe-Signature", "t=" + stripeVectorTS + ",v1=" + stripeVectorSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := SignWebhook(tt.scheme, []byte(tt.secret), []byte(tt.body), tt.at, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Get(tt.header); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

var (
	whNow     = time.Unix(1_700_000_000, 0)
	whSecrets = map[string]string{
		WebhookSchemeStripe:   "whsec_stripe-endpoint-secret-0123456789",
		WebhookSchemeGitHub:   "github-webhook-secret-0123456789",
		WebhookSchemeSlack:    "slack-signing-secret-0123456789",
		WebhookSchemeStandard: "whsec_c2VjcmV0LWZvci1zdGFuZGFyZC13ZWJob29rcw==",
	}
	whSchemes = []string{WebhookSchemeStripe, WebhookSchemeGitHub, WebhookSchemeSlack, WebhookSchemeStandard}
)

const whBody = `{"id":"evt_123","event_id":"Ev123","type":"ping"}`

func mustSign(t testing.TB, scheme, secret string, body []byte, at time.Time, id string) http.Header {
	t.Helper()
	h, err := SignWebhook(scheme, []byte(secret), body, at, id)
	if err != nil {
		t.Fatalf("SignWebhook(%s): %v", scheme, err)
	}
	return h
}

func TestWebhookRoundTrip(t *testing.T) {
	bodies := map[string][]byte{
		"json":  []byte(whBody),
		"empty": {},
		"nil":   nil,
		"form":  []byte("a=1&b=2"),
		"bytes": {0, 0xff, '\n', '.', ':'},
		"big":   []byte(strings.Repeat("x", 1<<20)),
	}
	for _, scheme := range whSchemes {
		for name, body := range bodies {
			t.Run(scheme+"/"+name, func(t *testing.T) {
				h := mustSign(t, scheme, whSecrets[scheme], body, whNow, "msg_1")
				d, err := VerifyWebhook(scheme, []byte(whSecrets[scheme]), h, body, whNow, 0)
				if err != nil {
					t.Fatalf("VerifyWebhook: %v", err)
				}
				if !validWebhookID(d.ID) {
					t.Errorf("ID %q not valid", d.ID)
				}
				wantTS := whNow
				if scheme == WebhookSchemeGitHub {
					wantTS = time.Time{}
				}
				if !d.Timestamp.Equal(wantTS) {
					t.Errorf("Timestamp = %v, want %v", d.Timestamp, wantTS)
				}
			})
		}
	}
}

func TestWebhookDeliveryID(t *testing.T) {
	tests := []struct {
		name, scheme, body, id string
		want                   string // "" = a digest id
	}{
		{"stripe event id", WebhookSchemeStripe, whBody, "", "evt_123"},
		{"stripe id not a string", WebhookSchemeStripe, `{"id":42}`, "", ""},
		{"stripe id not printable", WebhookSchemeStripe, `{"id":"evt 1"}`, "", ""},
		{"stripe id too long", WebhookSchemeStripe, `{"id":"` + strings.Repeat("e", 257) + `"}`, "", ""},
		{"stripe id only nested", WebhookSchemeStripe, `{"data":{"id":"evt_1"}}`, "", ""},
		{"stripe id key case", WebhookSchemeStripe, `{"ID":"evt_1"}`, "", ""},
		{"stripe body array", WebhookSchemeStripe, `["evt_1"]`, "", ""},
		{"stripe body not json", WebhookSchemeStripe, `id=evt_1`, "", ""},
		{"slack event id", WebhookSchemeSlack, whBody, "", "Ev123"},
		{"slack form body", WebhookSchemeSlack, "command=%2Fx", "", ""},
		{"github delivery header unsigned, not the id", WebhookSchemeGitHub, whBody, "72d3162e-cc78", ""},
		{"github no delivery header", WebhookSchemeGitHub, whBody, "", ""},
		{"standard webhook-id", WebhookSchemeStandard, whBody, "msg_2", "msg_2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustSign(t, tt.scheme, whSecrets[tt.scheme], []byte(tt.body), whNow, tt.id)
			d, err := VerifyWebhook(tt.scheme, []byte(whSecrets[tt.scheme]), h, []byte(tt.body), whNow, 0)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want != "" && d.ID != tt.want:
				t.Errorf("ID = %q, want %q", d.ID, tt.want)
			case tt.want == "" && !strings.HasPrefix(d.ID, "sig:"):
				t.Errorf("ID = %q, want a digest id", d.ID)
			}
			// The same request again has the same id.
			again, err := VerifyWebhook(tt.scheme, []byte(whSecrets[tt.scheme]), h, []byte(tt.body), whNow, 0)
			if err != nil || again.ID != d.ID {
				t.Errorf("second verification: ID %q, err %v; want %q", again.ID, err, d.ID)
			}
		})
	}
}

// TestGitHubReplayWithFreshDeliveryHeader: the same signed body with a new,
// unsigned X-GitHub-Delivery is the same delivery.
func TestGitHubReplayWithFreshDeliveryHeader(t *testing.T) {
	secret := []byte(whSecrets[WebhookSchemeGitHub])
	h := mustSign(t, WebhookSchemeGitHub, string(secret), []byte(whBody), whNow, "first")
	d1, err := VerifyWebhook(WebhookSchemeGitHub, secret, h, []byte(whBody), whNow, 0)
	if err != nil {
		t.Fatal(err)
	}
	h.Set("X-GitHub-Delivery", "a-fresh-one")
	d2, err := VerifyWebhook(WebhookSchemeGitHub, secret, h, []byte(whBody), whNow, 0)
	if err != nil || d2.ID != d1.ID {
		t.Fatalf("replay with a fresh delivery header: ID %q, err %v; want %q", d2.ID, err, d1.ID)
	}
}

// A Slack retry is re-signed with a new timestamp: with an event_id it is the
// same delivery, without one it is not.
func TestWebhookSlackRetrySameID(t *testing.T) {
	secret := whSecrets[WebhookSchemeSlack]
	for _, tc := range []struct {
		body string
		same bool
	}{{whBody, true}, {"command=%2Fx", false}} {
		first := mustSign(t, WebhookSchemeSlack, secret, []byte(tc.body), whNow, "")
		retry := mustSign(t, WebhookSchemeSlack, secret, []byte(tc.body), whNow.Add(time.Minute), "")
		retry.Set("X-Slack-Retry-Num", "1")
		d1, err1 := VerifyWebhook(WebhookSchemeSlack, []byte(secret), first, []byte(tc.body), whNow.Add(time.Minute), 0)
		d2, err2 := VerifyWebhook(WebhookSchemeSlack, []byte(secret), retry, []byte(tc.body), whNow.Add(time.Minute), 0)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if (d1.ID == d2.ID) != tc.same {
			t.Errorf("body %q: ids %q and %q, same = %v", tc.body, d1.ID, d2.ID, tc.same)
		}
	}
}

// webhookCase is one hostile delivery: a valid signed one (body whBody,
// signed at whNow with whSecrets) that mutate changes.
type webhookCase struct {
	name   string
	scheme string
	mutate func(h http.Header, body []byte) (http.Header, []byte)
	want   error // nil: accepted
}

func setHeader(name, value string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, b []byte) (http.Header, []byte) { h.Set(name, value); return h, b }
}

func delHeader(name string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, b []byte) (http.Header, []byte) { h.Del(name); return h, b }
}

func editHeader(name string, f func(string) string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, b []byte) (http.Header, []byte) { h.Set(name, f(h.Get(name))); return h, b }
}

func addHeader(name, value string) func(http.Header, []byte) (http.Header, []byte) {
	return func(h http.Header, b []byte) (http.Header, []byte) { h.Add(name, value); return h, b }
}

func resign(scheme string, at time.Time, secret, id string) func(http.Header, []byte) (http.Header, []byte) {
	return func(_ http.Header, b []byte) (http.Header, []byte) {
		h, err := SignWebhook(scheme, []byte(secret), b, at, id)
		if err != nil {
			panic(err)
		}
		return h, b
	}
}

// flipLast changes the last character of s to another of the same alphabet.
func flipLast(s string) string {
	if s == "" {
		return "x"
	}
	c := s[len(s)-1]
	r := byte('0')
	if c == '0' {
		r = '1'
	}
	return s[:len(s)-1] + string(r)
}

func webhookCases() []webhookCase {
	sig, wrong := ErrWebhookSignature, "a-different-secret"
	good := func(h http.Header, b []byte) (http.Header, []byte) { return h, b }
	hex64 := strings.Repeat("ab", 32)
	b64 := "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	var cs []webhookCase
	for _, s := range whSchemes {
		cs = append(cs,
			webhookCase{"valid", s, good, nil},
			webhookCase{"body flipped", s, func(h http.Header, b []byte) (http.Header, []byte) {
				b = append([]byte(nil), b...)
				b[3] ^= 1
				return h, b
			}, sig},
			webhookCase{"body extended", s, func(h http.Header, b []byte) (http.Header, []byte) { return h, append(b, ' ') }, sig},
			webhookCase{"body empty", s, func(h http.Header, _ []byte) (http.Header, []byte) { return h, nil }, sig},
			webhookCase{"wrong secret", s, resign(s, whNow, wrongSecret(s, wrong), "msg_1"), sig},
			webhookCase{"no headers", s, func(_ http.Header, b []byte) (http.Header, []byte) { return http.Header{}, b }, sig},
			webhookCase{"nil headers", s, func(_ http.Header, b []byte) (http.Header, []byte) { return nil, b }, sig},
		)
	}
	tooOld, tooNew := whNow.Add(-DefaultWebhookTolerance-time.Second), whNow.Add(DefaultWebhookTolerance+time.Second)
	for _, s := range []string{WebhookSchemeStripe, WebhookSchemeSlack, WebhookSchemeStandard} {
		cs = append(cs,
			webhookCase{"stale past", s, resign(s, tooOld, whSecrets[s], "msg_1"), ErrWebhookStale},
			webhookCase{"stale future", s, resign(s, tooNew, whSecrets[s], "msg_1"), ErrWebhookStale},
			webhookCase{"edge past", s, resign(s, whNow.Add(-DefaultWebhookTolerance), whSecrets[s], "msg_1"), nil},
			webhookCase{"edge future", s, resign(s, whNow.Add(DefaultWebhookTolerance), whSecrets[s], "msg_1"), nil},
			webhookCase{"stale and wrong secret", s, resign(s, tooOld, wrongSecret(s, wrong), "msg_1"), sig},
			webhookCase{"epoch", s, resign(s, time.Unix(1, 0), whSecrets[s], "msg_1"), ErrWebhookStale},
		)
	}
	const (
		stripeH = "Stripe-Signature"
		ghH     = "X-Hub-Signature-256"
		slackH  = "X-Slack-Signature"
		slackT  = "X-Slack-Request-Timestamp"
		stdH    = "webhook-signature"
		stdT    = "webhook-timestamp"
		stdID   = "webhook-id"
	)
	huge := strings.Repeat("a", 64<<10)
	st, gh, sl, sd := WebhookSchemeStripe, WebhookSchemeGitHub, WebhookSchemeSlack, WebhookSchemeStandard
	cs = append(cs,
		// stripe
		webhookCase{"signature flipped", st, editHeader(stripeH, flipLast), sig},
		webhookCase{"several v1, one good", st, editHeader(stripeH, func(v string) string { return v + ",v1=" + hex64 }), nil},
		webhookCase{"several v1, good last", st, editHeader(stripeH, func(v string) string {
			t, v1, _ := strings.Cut(v, ",")
			return t + ",v1=" + hex64 + ",v1=" + hex64 + "," + v1
		}), nil},
		webhookCase{"v0 ignored", st, editHeader(stripeH, func(v string) string { return v + ",v0=" + hex64 }), nil},
		webhookCase{"only v0", st, editHeader(stripeH, func(v string) string { return strings.Replace(v, "v1=", "v0=", 1) }), sig},
		webhookCase{"keys uppercase", st, editHeader(stripeH, strings.ToUpper), sig}, // T= and V1= are not keys
		webhookCase{"v1 hex uppercase", st, editHeader(stripeH, func(v string) string { k, h, _ := strings.Cut(v, ",v1="); return k + ",v1=" + strings.ToUpper(h) }), nil},
		webhookCase{"no t", st, editHeader(stripeH, func(v string) string { _, v1, _ := strings.Cut(v, ","); return v1 }), sig},
		webhookCase{"no v1", st, editHeader(stripeH, func(v string) string { t, _, _ := strings.Cut(v, ","); return t }), sig},
		webhookCase{"two t", st, editHeader(stripeH, func(v string) string { return v + ",t=1700000000" }), sig},
		webhookCase{"t signed", st, editHeader(stripeH, func(v string) string { return strings.Replace(v, "t=", "t=+", 1) }), sig},
		webhookCase{"t leading zero", st, editHeader(stripeH, func(v string) string { return strings.Replace(v, "t=", "t=0", 1) }), sig},
		webhookCase{"t not a number", st, setHeader(stripeH, "t=soon,v1="+hex64), sig},
		webhookCase{"t too long", st, setHeader(stripeH, "t=1"+strings.Repeat("0", 20)+",v1="+hex64), sig},
		webhookCase{"v1 short", st, setHeader(stripeH, "t=1700000000,v1=abcd"), sig},
		webhookCase{"v1 not hex", st, setHeader(stripeH, "t=1700000000,v1="+strings.Repeat("zz", 32)), sig},
		webhookCase{"v1 empty", st, setHeader(stripeH, "t=1700000000,v1="), sig},
		webhookCase{"item without =", st, editHeader(stripeH, func(v string) string { return v + ",junk" }), sig},
		webhookCase{"trailing comma", st, editHeader(stripeH, func(v string) string { return v + "," }), sig},
		webhookCase{"spaces", st, editHeader(stripeH, func(v string) string { return strings.Replace(v, ",", ", ", 1) }), sig},
		webhookCase{"too many signatures", st, editHeader(stripeH, func(v string) string { return v + strings.Repeat(",v1="+hex64, 16) }), sig},
		webhookCase{"15 extra signatures", st, editHeader(stripeH, func(v string) string { return v + strings.Repeat(",v1="+hex64, 15) }), nil},
		webhookCase{"huge header", st, setHeader(stripeH, "t=1700000000,v1="+huge), sig},
		webhookCase{"repeated header", st, addHeader(stripeH, "t=1700000000,v1="+hex64), sig},
		webhookCase{"empty header", st, setHeader(stripeH, ""), sig},
		// github
		webhookCase{"signature flipped", gh, editHeader(ghH, flipLast), sig},
		webhookCase{"sha1 prefix", gh, editHeader(ghH, func(v string) string { return strings.Replace(v, "sha256=", "sha1=", 1) }), sig},
		webhookCase{"no prefix", gh, editHeader(ghH, func(v string) string { return strings.TrimPrefix(v, "sha256=") }), sig},
		webhookCase{"uppercase prefix", gh, editHeader(ghH, func(v string) string { return strings.Replace(v, "sha256=", "SHA256=", 1) }), sig},
		webhookCase{"trailing space", gh, editHeader(ghH, func(v string) string { return v + " " }), sig},
		webhookCase{"truncated", gh, editHeader(ghH, func(v string) string { return v[:len(v)-2] }), sig},
		webhookCase{"huge header", gh, setHeader(ghH, "sha256="+huge), sig},
		webhookCase{"repeated header", gh, addHeader(ghH, "sha256="+hex64), sig},
		webhookCase{"legacy sha1 header only", gh, func(h http.Header, b []byte) (http.Header, []byte) {
			h.Del(ghH)
			h.Set("X-Hub-Signature", "sha1="+strings.Repeat("ab", 20))
			return h, b
		}, sig},
		webhookCase{"signed long ago", gh, resign(gh, time.Unix(1, 0), whSecrets[gh], "msg_1"), nil},
		webhookCase{"delivery id missing", gh, delHeader("X-GitHub-Delivery"), nil},
		webhookCase{"delivery id empty", gh, setHeader("X-GitHub-Delivery", ""), sig},
		webhookCase{"delivery id with space", gh, setHeader("X-GitHub-Delivery", "a b"), sig},
		webhookCase{"delivery id huge", gh, setHeader("X-GitHub-Delivery", huge), sig},
		webhookCase{"delivery id repeated", gh, addHeader("X-GitHub-Delivery", "other"), sig},
		// slack
		webhookCase{"signature flipped", sl, editHeader(slackH, flipLast), sig},
		webhookCase{"no timestamp", sl, delHeader(slackT), sig},
		webhookCase{"no signature", sl, delHeader(slackH), sig},
		webhookCase{"timestamp changed", sl, setHeader(slackT, "1700000001"), sig},
		webhookCase{"timestamp padded", sl, editHeader(slackT, func(v string) string { return "0" + v }), sig},
		webhookCase{"timestamp with space", sl, editHeader(slackT, func(v string) string { return v + " " }), sig},
		webhookCase{"timestamp negative", sl, setHeader(slackT, "-1700000000"), sig},
		webhookCase{"timestamp fractional", sl, setHeader(slackT, "1700000000.5"), sig},
		webhookCase{"timestamp huge", sl, setHeader(slackT, huge), sig},
		webhookCase{"v1 prefix", sl, editHeader(slackH, func(v string) string { return strings.Replace(v, "v0=", "v1=", 1) }), sig},
		webhookCase{"two signatures", sl, editHeader(slackH, func(v string) string { return v + ",v0=" + hex64 }), sig},
		webhookCase{"huge header", sl, setHeader(slackH, "v0="+huge), sig},
		webhookCase{"repeated timestamp", sl, addHeader(slackT, "1700000000"), sig},
		webhookCase{"retry header", sl, setHeader("X-Slack-Retry-Num", "2"), nil},
		// standard
		webhookCase{"signature flipped", sd, editHeader(stdH, func(v string) string { return v[:10] + flipLast(v[10:11]) + v[11:] }), sig},
		webhookCase{"several v1, one good", sd, editHeader(stdH, func(v string) string { return "v1," + b64 + " " + v + " v1," + b64 }), nil},
		webhookCase{"v1a ignored", sd, editHeader(stdH, func(v string) string { return "v1a,c2lnbmF0dXJl " + v }), nil},
		webhookCase{"v2 ignored", sd, editHeader(stdH, func(v string) string { return v + " v2,whatever" }), nil},
		webhookCase{"only v1a", sd, editHeader(stdH, func(v string) string { return strings.Replace(v, "v1,", "v1a,", 1) }), sig},
		webhookCase{"no id", sd, delHeader(stdID), sig},
		webhookCase{"id changed", sd, setHeader(stdID, "msg_2"), sig},
		webhookCase{"id with space", sd, setHeader(stdID, "msg 1"), sig},
		webhookCase{"id huge", sd, setHeader(stdID, huge), sig},
		webhookCase{"no timestamp", sd, delHeader(stdT), sig},
		webhookCase{"timestamp changed", sd, setHeader(stdT, "1700000001"), sig},
		webhookCase{"timestamp not a number", sd, setHeader(stdT, "now"), sig},
		webhookCase{"no signature", sd, delHeader(stdH), sig},
		webhookCase{"signature no version", sd, editHeader(stdH, func(v string) string { return strings.TrimPrefix(v, "v1,") }), sig},
		webhookCase{"signature not base64", sd, setHeader(stdH, "v1,!!!!"), sig},
		webhookCase{"signature url base64", sd, setHeader(stdH, "v1,"+strings.Repeat("-_", 22)), sig},
		webhookCase{"signature short", sd, setHeader(stdH, "v1,c2hvcnQ="), sig},
		webhookCase{"double space", sd, editHeader(stdH, func(v string) string { return v + "  v1," + b64 }), sig},
		webhookCase{"comma separated", sd, editHeader(stdH, func(v string) string { return v + ",v1," + b64 }), sig},
		webhookCase{"too many signatures", sd, editHeader(stdH, func(v string) string { return v + strings.Repeat(" v1,"+b64, 16) }), sig},
		webhookCase{"15 extra signatures", sd, editHeader(stdH, func(v string) string { return v + strings.Repeat(" v1,"+b64, 15) }), nil},
		webhookCase{"huge header", sd, setHeader(stdH, "v1,"+huge), sig},
		webhookCase{"repeated signature header", sd, addHeader(stdH, "v1,"+b64), sig},
		webhookCase{"svix headers", sd, func(h http.Header, b []byte) (http.Header, []byte) {
			out := http.Header{}
			for k, v := range h {
				out["Svix-"+strings.TrimPrefix(k, "Webhook-")] = v
			}
			return out, b
		}, sig},
	)
	return cs
}

// wrongSecret is a usable secret of scheme other than whSecrets[scheme].
func wrongSecret(scheme, s string) string {
	if scheme == WebhookSchemeStandard {
		return "whsec_YS1kaWZmZXJlbnQtc2VjcmV0"
	}
	return s
}

func TestVerifyWebhookHostile(t *testing.T) {
	for _, tc := range webhookCases() {
		t.Run(tc.scheme+"/"+tc.name, func(t *testing.T) {
			body := []byte(whBody)
			h, body := tc.mutate(mustSign(t, tc.scheme, whSecrets[tc.scheme], body, whNow, "msg_1"), body)
			d, err := VerifyWebhook(tc.scheme, []byte(whSecrets[tc.scheme]), h, body, whNow, 0)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("VerifyWebhook: %v, want success", err)
			case tc.want == nil && !validWebhookID(d.ID):
				t.Fatalf("accepted with ID %q", d.ID)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("VerifyWebhook: %v, want %v", err, tc.want)
			case tc.want != nil && d != (WebhookDelivery{}):
				t.Fatalf("refused but returned %+v", d)
			}
			if err != nil && errors.Is(err, ErrWebhookSignature) == errors.Is(err, ErrWebhookStale) {
				t.Fatalf("%v is not exactly one of signature or stale", err)
			}
			assertNoWebhookLeak(t, err, whSecrets[tc.scheme], h, body)
		})
	}
}

// assertNoWebhookLeak fails if err shows the secret, any signature-bearing
// header value, or the body.
func assertNoWebhookLeak(t *testing.T, err error, secret string, h http.Header, body []byte) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	leaks := []string{secret, strings.TrimPrefix(secret, "whsec_"), string(body)}
	for _, name := range []string{"Stripe-Signature", "X-Hub-Signature-256", "X-Slack-Signature", "Webhook-Signature"} {
		for _, v := range h.Values(name) {
			// the whole value and each signature in it
			leaks = append(leaks, v)
			leaks = append(leaks, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '=' })...)
		}
	}
	for _, l := range leaks {
		// Shorter strings occur in any message by chance; a real
		// signature is 44 characters or more, test secrets are longer still.
		if len(l) >= 16 && strings.Contains(msg, l) {
			t.Fatalf("error %q contains a secret, signature or body", msg)
		}
	}
}

func TestWebhookTolerance(t *testing.T) {
	for _, s := range []string{WebhookSchemeStripe, WebhookSchemeSlack, WebhookSchemeStandard} {
		old := mustSign(t, s, whSecrets[s], []byte(whBody), whNow.Add(-30*time.Minute), "msg_1")
		if _, err := VerifyWebhook(s, []byte(whSecrets[s]), old, []byte(whBody), whNow, time.Hour); err != nil {
			t.Errorf("%s: 30m old with 1h tolerance: %v", s, err)
		}
		if _, err := VerifyWebhook(s, []byte(whSecrets[s]), old, []byte(whBody), whNow, -time.Hour); !errors.Is(err, ErrWebhookStale) {
			t.Errorf("%s: negative tolerance must mean the default, got %v", s, err)
		}
		fresh := mustSign(t, s, whSecrets[s], []byte(whBody), whNow.Add(-2*time.Second), "msg_1")
		if _, err := VerifyWebhook(s, []byte(whSecrets[s]), fresh, []byte(whBody), whNow, time.Second); !errors.Is(err, ErrWebhookStale) {
			t.Errorf("%s: 2s old with 1s tolerance: %v", s, err)
		}
		// A clock far from any timestamp must not overflow into "fresh".
		for _, now := range []time.Time{{}, time.Unix(1<<62, 0), time.Unix(-1<<62, 0)} {
			if _, err := VerifyWebhook(s, []byte(whSecrets[s]), fresh, []byte(whBody), now, time.Duration(1<<63-1)); err != nil && !errors.Is(err, ErrWebhookStale) {
				t.Errorf("%s: now %v: %v", s, now, err)
			}
			if _, err := VerifyWebhook(s, []byte(whSecrets[s]), fresh, []byte(whBody), now, 0); !errors.Is(err, ErrWebhookStale) {
				t.Errorf("%s: now %v: %v, want stale", s, now, err)
			}
		}
	}
}

func TestWebhookSchemeAndSecretErrors(t *testing.T) {
	body := []byte(whBody)
	h := mustSign(t, WebhookSchemeGitHub, whSecrets[WebhookSchemeGitHub], body, whNow, "")
	tests := []struct {
		name, scheme, secret string
		want                 error
	}{
		{"unknown scheme", "shopify", "secret", ErrWebhookScheme},
		{"empty scheme", "", "secret", ErrWebhookScheme},
		{"scheme case", "GitHub", "secret", ErrWebhookScheme},
		{"empty secret github", WebhookSchemeGitHub, "", ErrWebhookSecret},
		{"empty secret stripe", WebhookSchemeStripe, "", ErrWebhookSecret},
		{"empty secret slack", WebhookSchemeSlack, "", ErrWebhookSecret},
		{"empty secret standard", WebhookSchemeStandard, "", ErrWebhookSecret},
		{"standard prefix only", WebhookSchemeStandard, "whsec_", ErrWebhookSecret},
		{"standard not base64", WebhookSchemeStandard, "whsec_not base64!", ErrWebhookSecret},
		{"standard url base64", WebhookSchemeStandard, "whsec_-_-_", ErrWebhookSecret},
		{"standard plain password", WebhookSchemeStandard, "hunter2", ErrWebhookSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := VerifyWebhook(tt.scheme, []byte(tt.secret), h, body, whNow, 0); !errors.Is(err, tt.want) {
				t.Errorf("VerifyWebhook: %v, want %v", err, tt.want)
			} else {
				assertNoWebhookLeak(t, err, tt.secret, h, body)
			}
			if _, err := SignWebhook(tt.scheme, []byte(tt.secret), body, whNow, "msg_1"); !errors.Is(err, tt.want) {
				t.Errorf("SignWebhook: %v, want %v", err, tt.want)
			}
			if _, err := webhookKey(tt.scheme, []byte(tt.secret)); !errors.Is(err, tt.want) {
				t.Errorf("webhookKey: %v, want %v", err, tt.want)
			}
		})
	}
	for _, s := range whSchemes {
		if !ValidWebhookScheme(s) {
			t.Errorf("ValidWebhookScheme(%q) = false", s)
		}
		if _, err := webhookKey(s, []byte(whSecrets[s])); err != nil {
			t.Errorf("webhookKey(%s): %v", s, err)
		}
	}
}

func TestSignWebhookBadInput(t *testing.T) {
	tests := []struct {
		name, scheme, id string
		at               time.Time
	}{
		{"standard without id", WebhookSchemeStandard, "", whNow},
		{"standard id with space", WebhookSchemeStandard, "msg 1", whNow},
		{"github id with newline", WebhookSchemeGitHub, "a\nb", whNow},
		{"id too long", WebhookSchemeStandard, strings.Repeat("m", 257), whNow},
		{"before 1970", WebhookSchemeStripe, "", time.Unix(-5, 0)},
		{"zero time", WebhookSchemeSlack, "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := SignWebhook(tt.scheme, []byte(whSecrets[tt.scheme]), []byte(whBody), tt.at, tt.id); err == nil {
				t.Errorf("SignWebhook = %v, want an error", h)
			}
		})
	}
}

func BenchmarkVerifyWebhook(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":"evt_1","data":{"object":{"amount":100}}}`, 20))
	for _, s := range whSchemes {
		h := mustSign(b, s, whSecrets[s], body, whNow, "msg_1")
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if _, err := VerifyWebhook(s, []byte(whSecrets[s]), h, body, whNow, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
