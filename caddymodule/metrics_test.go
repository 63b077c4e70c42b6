package caddymodule_test

import (
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/keygate/keygate/oauthtest"
)

// metricValue reads one series of the running config's registry: the
// value of the gauge or counter whose labels include want.
func metricValue(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := findMetric(t, name, want)
	if !ok {
		t.Fatalf("no series %s %v", name, want)
	}
	return v
}

func findMetric(t *testing.T, name string, want map[string]string) (float64, bool) {
	t.Helper()
	ctx := caddy.ActiveContext()
	fams, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// A held call shows on keygate_held_calls while it waits and is counted
// by its result when it ends.
func TestHeldCallMetrics(t *testing.T) {
	g := startGateway(t, gatewayOptions{})
	s := g.standardSetup()
	g.mustAdmin(204, "DELETE", "/v1/keychains/"+s.kc+"/grants/@acme/tools", nil)
	grantKind := map[string]string{"kind": "grant"}
	before := metricValue(t, "keygate_held_calls", grantKind)
	ended := map[string]string{"kind": "grant", "result": "allow"}
	endedBefore := metricValue(t, "keygate_held_calls_ended_total", ended)

	ch := background(func() (int, http.Header, []byte) { return g.agent("tools", s.token, wait("15")) })
	g.awaitHeld(s.kc, 1)
	if n := metricValue(t, "keygate_held_calls", grantKind); n != before+1 {
		t.Fatalf("keygate_held_calls{kind=grant} = %v while one call waits (was %v)", n, before)
	}
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	if r := receive(t, ch); r.status != 200 {
		t.Fatalf("released call: %d %s", r.status, r.body)
	}
	waitFor(t, "the held call's end counted", func() bool {
		return metricValue(t, "keygate_held_calls_ended_total", ended) == endedBefore+1
	})
	if n := metricValue(t, "keygate_held_calls", grantKind); n != before {
		t.Fatalf("keygate_held_calls{kind=grant} = %v after the call went on, want %v", n, before)
	}
}

// OAuth events are counted by event and outcome, as the audit trail
// records them.
func TestOAuthEventMetrics(t *testing.T) {
	srv := oauthtest.New()
	t.Cleanup(srv.Close)
	g := startConnectGateway(t, srv, srv.AuthorizeURL())
	kc, _ := g.newKeychain("alice", "")
	started := map[string]string{"event": "connect", "outcome": "started"}
	badState := map[string]string{"event": "callback", "outcome": "bad_state"}
	n0 := metricValue(t, "keygate_oauth_events_total", map[string]string{"event": "refresh", "outcome": "ok"})

	g.mustAdmin(200, "POST", "/v1/keychains/"+kc+"/connect/@acme/mail/MAIL_TOKEN", nil)
	waitFor(t, "the connect counted", func() bool { return metricValueOr(t, "keygate_oauth_events_total", started) == 1 })
	if st, _, _ := g.call("GET", g.api+"/oauth/callback?state=forged&code=x", "", map[string]string{"Accept": "application/json"}, nil); st != 400 {
		t.Fatalf("callback with a forged state: status %d", st)
	}
	waitFor(t, "the bad callback counted", func() bool { return metricValueOr(t, "keygate_oauth_events_total", badState) == 1 })
	if n := metricValue(t, "keygate_oauth_events_total", map[string]string{"event": "refresh", "outcome": "ok"}); n != n0 {
		t.Errorf("refreshes counted without a refresh: %v", n)
	}
}

// metricValueOr is metricValue, 0 while the series does not exist yet.
func metricValueOr(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	v, _ := findMetric(t, name, want)
	return v
}
