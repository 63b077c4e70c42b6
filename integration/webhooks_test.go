package integration

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/policy"
)

// webhookSpec and webhookManifest are a package that takes webhooks.
type webhookSpec struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Scheme    string `json:"scheme"`
	Secret    string `json:"secret"`
	Tolerance string `json:"tolerance,omitempty"`
}

type webhookManifest struct {
	testManifest
	Webhooks []webhookSpec `json:"webhooks"`
}

// TestWebhooksAtTheEdge drives every scheme through the real binary: a
// valid delivery is forwarded byte for byte with an invocation token and
// never the signing secret; bad, stale, unsigned, oversized and ungranted
// deliveries are refused and not forwarded; a redelivery is answered
// without forwarding again; every outcome is audited.
func TestWebhooksAtTheEdge(t *testing.T) {
	t.Parallel()
	code := NewUpstream(t, nil)
	in := Start(t, Config{})
	kc, kcToken := in.newKeychain(t, "hooks")
	secrets := map[string]string{
		"STRIPE_WHSEC": "whsec_" + RandomToken(t, "stripe"),
		"GITHUB_WHSEC": RandomToken(t, "gh"),
		"STD_WHSEC":    "whsec_" + base64.StdEncoding.EncodeToString([]byte(RandomToken(t, "std"))),
		"SLACK_WHSEC":  RandomToken(t, "slack"),
	}
	m := webhookManifest{testManifest: apiKeyManifest("@it/hooks", "hooks", code.URL)}
	m.Keys = append(m.Keys,
		keySpec{Name: "STRIPE_WHSEC", Hosts: []string{"127.0.0.1"}},
		keySpec{Name: "GITHUB_WHSEC", Hosts: []string{"127.0.0.1"}},
		keySpec{Name: "STD_WHSEC", Hosts: []string{"127.0.0.1"}})
	m.AppKeys = []keySpec{{Name: "SLACK_WHSEC"}}
	m.Webhooks = []webhookSpec{
		{Name: "stripe", Path: "/hooks/stripe", Scheme: "stripe", Secret: "STRIPE_WHSEC", Tolerance: "5m"},
		{Name: "github", Path: "/hooks/github", Scheme: "github", Secret: "GITHUB_WHSEC"},
		{Name: "standard", Path: "/hooks/std", Scheme: "standard", Secret: "STD_WHSEC"},
		{Name: "slack", Path: "/hooks/slack", Scheme: "slack", Secret: "SLACK_WHSEC"},
	}
	in.putPackage(t, m.testManifest) // first without webhooks: then with
	r := in.callAPI(t, "PUT", "/v1/packages/"+m.Name, m)
	if r.Status != http.StatusOK {
		t.Fatalf("put package with webhooks: %s", r)
	}
	in.setSecret(t, kc, "API_KEY", RandomToken(t, "sk_"))
	for _, name := range []string{"STRIPE_WHSEC", "GITHUB_WHSEC", "STD_WHSEC"} {
		in.setSecret(t, kc, name, secrets[name])
	}
	noteSensitive(secrets["SLACK_WHSEC"])
	in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/packages/"+m.Name+"/app-secrets/SLACK_WHSEC", map[string]string{"value": secrets["SLACK_WHSEC"]})
	in.grant(t, kc, m.Name, "API_KEY", "STRIPE_WHSEC", "GITHUB_WHSEC", "STD_WHSEC")

	hookURL := func(kc, name string) string { return in.IngressURL + "/_keygate/webhooks/" + kc + "/" + name }
	post := func(kc, name string, hdr http.Header, body []byte) reply {
		t.Helper()
		return sendT(t, "POST", hookURL(kc, name), in.ingressHost("hooks"), hdr, body)
	}
	sign := func(scheme, secretName string, body []byte, at time.Time, id string) http.Header {
		t.Helper()
		h, err := policy.SignWebhook(scheme, []byte(secrets[secretName]), body, at, id)
		if err != nil {
			t.Fatal(err)
		}
		h.Set("Content-Type", "application/json")
		return h
	}
	forwarded := func() int { return code.Count() }

	cases := []struct {
		name, scheme, secret, path string
		stamped                    bool // the scheme signs a timestamp
		app                        bool // signed with an app key: no keychain token
	}{
		{"stripe", "stripe", "STRIPE_WHSEC", "/hooks/stripe", true, false},
		{"github", "github", "GITHUB_WHSEC", "/hooks/github", false, false},
		{"standard", "standard", "STD_WHSEC", "/hooks/std", true, false},
		{"slack", "slack", "SLACK_WHSEC", "/hooks/slack", true, true},
	}
	for _, tc := range cases {
		body := []byte(fmt.Sprintf(`{"id":"evt_%s_1","event_id":"Ev%s1","type":"test","data":{"n":1}}`, tc.name, tc.name))
		id := "msg_" + tc.name + "_1"

		// Valid: forwarded byte for byte, with an invocation token.
		before := forwarded()
		r := post(kc, tc.name, sign(tc.scheme, tc.secret, body, time.Now(), id), body)
		if r.Status != http.StatusOK || forwarded() != before+1 {
			t.Fatalf("%s valid: %s, forwarded %d, want 200 and one forward", tc.name, r, forwarded()-before)
		}
		got := code.Last(t)
		if got.Path != tc.path || !bytes.Equal(got.Body, body) || got.Method != "POST" {
			t.Errorf("%s: package got %s %s %q, want POST %s with the body byte for byte", tc.name, got.Method, got.Path, got.Body, tc.path)
		}
		wantKC := kc
		if tc.app {
			wantKC = ""
		}
		if got.Header.Get("Keygate-Webhook") != tc.name || got.Header.Get("Keygate-Keychain") != wantKC {
			t.Errorf("%s: package got Keygate-Webhook %q Keygate-Keychain %q", tc.name, got.Header.Get("Keygate-Webhook"), got.Header.Get("Keygate-Keychain"))
		}
		for _, sig := range policy.WebhookSignatureHeaders {
			if got.Header.Get(sig) != "" {
				t.Errorf("%s: the package got the signature header %s, which it could replay", tc.name, sig)
			}
		}
		for _, s := range []string{"STRIPE_WHSEC", "GITHUB_WHSEC", "STD_WHSEC", "SLACK_WHSEC"} {
			if strings.Contains(got.Header.Get("Keygate-Keys"), s) {
				t.Errorf("%s: Keygate-Keys %q offers a webhook signing secret to the package", tc.name, got.Header.Get("Keygate-Keys"))
			}
		}
		tok, ok := strings.CutPrefix(got.Header.Get("Authorization"), "Bearer ")
		if tc.app {
			if got.Header.Get("Authorization") != "" {
				t.Errorf("%s: an app-key delivery carries an Authorization: nothing signed names the keychain", tc.name)
			}
		} else if !ok || tok == kcToken || strings.Count(tok, ".") != 2 {
			t.Errorf("%s: package's Authorization is not an invocation token", tc.name)
		}
		for name, v := range got.Header {
			if strings.Contains(strings.Join(v, " "), secrets[tc.secret]) {
				t.Errorf("%s: header %s carries the signing secret to the package", tc.name, name)
			}
		}
		// The token works on egress for the keys the grant allows.
		if !tc.app {
			if r := in.callEgress(t, tok, "GET", "/api/ping", nil); r.Status != http.StatusOK {
				t.Errorf("%s: egress with the webhook's invocation token: %s", tc.name, r)
			}
		}

		// Redelivered: answered 200, not forwarded again.
		before = forwarded()
		r = post(kc, tc.name, sign(tc.scheme, tc.secret, body, time.Now(), id), body)
		if r.Status != http.StatusOK || forwarded() != before || !strings.Contains(string(r.Body), "duplicate") {
			t.Errorf("%s redelivered: %s, forwarded %d, want 200 duplicate and no forward", tc.name, r, forwarded()-before)
		}

		refused := func(what string, r reply, status int, reason string) {
			t.Helper()
			if r.Status != status || forwarded() != before {
				t.Errorf("%s %s: %s, forwarded %d, want %d and nothing forwarded", tc.name, what, r, forwarded()-before, status)
				return
			}
			var p struct{ Reason string }
			json.Unmarshal(r.Body, &p)
			if reason != "" && p.Reason != reason {
				t.Errorf("%s %s: reason %q, want %q", tc.name, what, p.Reason, reason)
			}
			if strings.Contains(string(r.Body), secrets[tc.secret]) {
				t.Errorf("%s %s: the answer carries the signing secret", tc.name, what)
			}
		}
		body2 := []byte(fmt.Sprintf(`{"id":"evt_%s_2","event_id":"Ev%s2"}`, tc.name, tc.name))
		id2 := "msg_" + tc.name + "_2"
		// Bad: signed for another body, or with another secret.
		refused("bad signature", post(kc, tc.name, sign(tc.scheme, tc.secret, body, time.Now(), id2), body2), 401, "bad_signature")
		wrong, err := policy.SignWebhook(tc.scheme, []byte("whsec_"+base64.StdEncoding.EncodeToString([]byte("another secret entirely"))), body2, time.Now(), id2)
		if err != nil {
			t.Fatal(err)
		}
		refused("wrong secret", post(kc, tc.name, wrong, body2), 401, "bad_signature")
		// Unsigned.
		refused("unsigned", post(kc, tc.name, http.Header{"Content-Type": {"application/json"}}, body2), 401, "bad_signature")
		// Stale: signed ten minutes ago, past a 5m tolerance.
		if tc.stamped {
			refused("stale", post(kc, tc.name, sign(tc.scheme, tc.secret, body2, time.Now().Add(-10*time.Minute), id2), body2), 401, "stale_webhook")
		}
		// Oversized: past max_body (1 MiB), whatever the signature.
		big := bytes.Repeat([]byte("x"), 2<<20)
		refused("oversized", post(kc, tc.name, sign(tc.scheme, tc.secret, big, time.Now(), id2), big), 413, "body_too_large")
	}

	// Ungranted: another keychain with the same values set but no grant.
	other, _ := in.newKeychain(t, "stranger")
	in.setSecret(t, other, "STRIPE_WHSEC", secrets["STRIPE_WHSEC"])
	body := []byte(`{"id":"evt_stranger"}`)
	before := forwarded()
	r = post(other, "stripe", sign("stripe", "STRIPE_WHSEC", body, time.Now(), ""), body)
	if r.Status != http.StatusForbidden || forwarded() != before {
		t.Errorf("ungranted keychain: %s, want 403 and nothing forwarded", r)
	}
	// Granted, but not the signing key: not approved.
	in.setSecret(t, other, "API_KEY", RandomToken(t, "sk_"))
	in.grant(t, other, m.Name, "API_KEY")
	if r := post(other, "stripe", sign("stripe", "STRIPE_WHSEC", body, time.Now(), ""), body); r.Status != http.StatusForbidden || forwarded() != before {
		t.Errorf("signing key not approved: %s, want 403 and nothing forwarded", r)
	} else if p := wantProblem(t, "signing key not approved", r, http.StatusForbidden, "not_approved"); p.Key != "STRIPE_WHSEC" || p.Package != m.Name {
		t.Errorf("signing key not approved: key %q package %q, want STRIPE_WHSEC and %s", p.Key, p.Package, m.Name)
	}

	// Hostile shapes: not a POST, unknown names, paths that try to escape.
	for _, bad := range []struct {
		method, url string
		status      int
	}{
		{"GET", hookURL(kc, "stripe"), 405},
		{"POST", hookURL(kc, "nope"), 404},
		{"POST", hookURL("kc_nope", "stripe"), 404},
		{"POST", in.IngressURL + "/_keygate/webhooks/" + kc, 404},
		{"POST", in.IngressURL + "/_keygate/webhooks/" + kc + "/stripe/../github", 404},
		{"POST", in.IngressURL + "/_keygate/webhooks/" + kc + "/stripe/extra", 404},
	} {
		r := sendT(t, bad.method, bad.url, in.ingressHost("hooks"), sign("stripe", "STRIPE_WHSEC", body, time.Now(), ""), body)
		if r.Status != bad.status || forwarded() != before {
			t.Errorf("%s %s: %s, want %d and nothing forwarded", bad.method, bad.url, r, bad.status)
		}
	}

	// Every outcome is audited, never with a value.
	var outcomes map[string]bool
	ok := eventually(5*time.Second, 20*time.Millisecond, func() bool {
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
		var evs []struct{ Actor, Action, Decision, Reason string }
		json.Unmarshal(r.Body, &evs)
		outcomes = map[string]bool{}
		for _, ev := range evs {
			if ev.Actor == "webhook" {
				outcomes[ev.Decision+":"+ev.Reason] = true
			}
		}
		for _, want := range []string{"allow:", "allow:duplicate_delivery", "deny:bad_signature", "deny:stale_webhook", "deny:body_too_large", "deny:no_grant"} {
			if !outcomes[want] {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("audited webhook outcomes %v", outcomes)
	}
	audit := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
	for name, v := range secrets {
		AssertNotContains(t, name, v, map[string]string{"audit": string(audit.Body), "logs": in.Logs()})
	}
}

// TestWebhookManifestValidation: a manifest's webhooks are checked at PUT,
// each mistake a 400 naming the field, and nothing stored.
func TestWebhookManifestValidation(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{})
	base := apiKeyManifest("@it/badhooks", "badhooks", "http://127.0.0.1:1")
	for _, tc := range []struct {
		name  string
		hooks []webhookSpec
		field string
	}{
		{"unknown scheme", []webhookSpec{{Name: "a", Path: "/a", Scheme: "paypal", Secret: "API_KEY"}}, "webhooks[0].scheme"},
		{"secret not a key", []webhookSpec{{Name: "a", Path: "/a", Scheme: "github", Secret: "NOPE"}}, "webhooks[0].secret"},
		{"duplicate names", []webhookSpec{{Name: "a", Path: "/a", Scheme: "github", Secret: "API_KEY"}, {Name: "a", Path: "/b", Scheme: "github", Secret: "API_KEY"}}, "webhooks[1].name"},
		{"relative path", []webhookSpec{{Name: "a", Path: "a", Scheme: "github", Secret: "API_KEY"}}, "webhooks[0].path"},
		{"bad name", []webhookSpec{{Name: "../x", Path: "/a", Scheme: "github", Secret: "API_KEY"}}, "webhooks[0].name"},
		{"bad tolerance", []webhookSpec{{Name: "a", Path: "/a", Scheme: "github", Secret: "API_KEY", Tolerance: "forever"}}, "webhooks[0].tolerance"},
	} {
		r := in.callAPI(t, "PUT", "/v1/packages/"+base.Name, webhookManifest{testManifest: base, Webhooks: tc.hooks})
		p := wantProblem(t, tc.name, r, http.StatusBadRequest, "invalid")
		if p.Field != tc.field {
			t.Errorf("%s: field %q, want %q", tc.name, p.Field, tc.field)
		}
	}
	if r := in.callAPI(t, "GET", "/v1/packages/"+base.Name, nil); r.Status != http.StatusNotFound {
		t.Errorf("after refused PUTs the package exists: %s", r)
	}
}
