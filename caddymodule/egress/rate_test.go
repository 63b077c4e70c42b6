package egress

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/policy"
)

func TestRateCaddyfile(t *testing.T) {
	tr, err := parseTransport(t, "secret STRIPE\nheader Authorization \"Bearer {secret}\"\nrate 20/s burst 40")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Rate == nil || tr.Rate.Events != 20 || time.Duration(tr.Rate.Window) != time.Second || tr.Rate.Burst != 40 {
		t.Fatalf("rate %+v", tr.Rate)
	}
	if tr, err = parseTransport(t, "secret STRIPE\nheader Authorization \"Bearer {secret}\"\nrate 600/m"); err != nil || tr.Rate.Events != 600 || tr.Rate.Burst != 0 {
		t.Fatalf("%v %+v", err, tr.Rate)
	}
}

// Every hostile rate is refused with a message naming what is wrong.
func TestRateCaddyfileRefusals(t *testing.T) {
	for name, tc := range map[string]struct{ body, want string }{
		"no value":        {"secret A\nrate", "want '<events>/<window>"},
		"zero events":     {"secret A\nrate 0/s", "above 0"},
		"negative events": {"secret A\nrate -5/s", "above 0"},
		"huge events":     {"secret A\nrate 99999999999999999999/s", "above 0"},
		"no window":       {"secret A\nrate 20", "EVENTS/WINDOW"},
		"bad window":      {"secret A\nrate 20/x", "window"},
		"zero window":     {"secret A\nrate 20/0s", "window"},
		"negative window": {"secret A\nrate 20/-1s", "window"},
		"burst no value":  {"secret A\nrate 20/s burst", "want '<events>/<window>"},
		"burst zero":      {"secret A\nrate 20/s burst 0", "burst"},
		"burst negative":  {"secret A\nrate 20/s burst -1", "burst"},
		"burst word":      {"secret A\nrate 20/s burst lots", "burst"},
		"misspelt burst":  {"secret A\nrate 20/s bust 40", "burst"},
		"extra argument":  {"secret A\nrate 20/s burst 40 more", "want '<events>/<window>"},
		"twice":           {"secret A\nrate 20/s\nrate 10/s", "twice"},
	} {
		if _, err := parseTransport(t, tc.body); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	// The JSON form is checked too (keygate run --config x.json).
	for _, raw := range []string{`{"events":0,"window":1000000000}`, `{"events":5,"window":0}`, `{"events":5,"window":1000000000,"burst":-1}`} {
		tr := &Transport{Secret: "A", Scope: scopeUser, Header: "Authorization", Template: "Bearer {secret}"}
		if err := json.Unmarshal([]byte(`{"rate":`+raw+`}`), tr); err != nil {
			t.Fatal(err)
		}
		if err := tr.Validate(); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("JSON rate %s: err = %v", raw, err)
		}
	}
}

// The bucket is the keychain's and package's: another package or
// keychain has its own.
func TestRateBucketPerKeychainAndPackage(t *testing.T) {
	tr, err := parseTransport(t, "secret A\nheader Authorization \"Bearer {secret}\"\nrate 1/h burst 2")
	if err != nil {
		t.Fatal(err)
	}
	tr.limiter = tr.Rate.Limiter()
	a := claimsFor("kc_a", "@x/one")
	for i := range 2 {
		if p := tr.allowRate(a); p != nil {
			t.Fatalf("call %d: %v", i+1, p)
		}
	}
	p := tr.allowRate(a)
	if p == nil || p.Status != 429 || p.Reason != "rate_limited" || p.RetryAfterS < 1 {
		t.Fatalf("3rd call: %+v", p)
	}
	for _, c := range []*policy.InvocationClaims{claimsFor("kc_a", "@x/two"), claimsFor("kc_b", "@x/one")} {
		if p := tr.allowRate(c); p != nil {
			t.Errorf("%s %s: %v", c.Keychain, c.Package, p)
		}
	}
}

func claimsFor(kc, pkg string) *policy.InvocationClaims {
	c := &policy.InvocationClaims{}
	c.Keychain, c.Package = kc, pkg
	return c
}
