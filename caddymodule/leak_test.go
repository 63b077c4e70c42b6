package caddymodule_test

import (
	"strings"
	"testing"
)

// TestNoLeakAtDebug runs both flows, allowed and refused, with every log
// (access logs included) at DEBUG, and finds no secret value, keychain
// token or invocation token in any log line, response body or header, or
// audit entry.
func TestNoLeakAtDebug(t *testing.T) {
	g := startGateway(t, gatewayOptions{egressCfg: `header X-Api-Key "{secret}"`})
	s := g.standardSetup()
	// Creating a keychain shows its token once, by design; scan what follows.
	g.bodies.Reset()

	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	g.egressCall("/api/ok", inv, nil)
	g.egressCall("/elsewhere/refused", inv, nil)
	g.egressCall("/app/refused", inv, nil)
	g.egressCall("/api/forged", forge(inv), nil)
	g.egressCall("/api/wrongtype", s.token, nil)
	g.agent("nope", s.token, nil)
	g.agent("tools", forge(s.token), nil)
	g.agent("tools", inv, nil) // an invocation token used as a keychain token
	// A secret with CR in it is refused without echoing it.
	g.admin("PUT", "/v1/keychains/"+s.kc+"/secrets/BAD", map[string]any{"value": s.secret + "\r\nX: y"})
	g.admin("PUT", "/v1/keychains/"+s.kc+"/secrets/bad-name", map[string]any{"value": s.secret})
	g.admin("GET", "/v1/keychains/"+s.kc, nil)
	g.admin("GET", "/v1/keychains/"+s.kc+"/secrets", nil)

	waitFor(t, "audit events", func() bool {
		_, b := g.admin("GET", "/v1/audit?keychain="+s.kc, nil)
		return strings.Count(string(b), `"action":"egress"`) >= 3
	})
	_, audit := g.admin("GET", "/v1/audit?limit=1000", nil)

	if g.upstream.last(t).Header.Get("X-Api-Key") != s.secret {
		t.Fatal("the happy path did not inject; the scan would prove nothing")
	}
	logs := g.logs()
	if !strings.Contains(logs, `"level":"debug"`) {
		t.Fatal("no debug lines were logged; the scan would prove nothing")
	}
	for name, where := range map[string]string{
		"logs":      logs,
		"responses": g.bodies.String(),
		"audit":     string(audit),
	} {
		for what, v := range map[string]string{
			"secret value":     s.secret,
			"keychain token":   s.token,
			"invocation token": inv,
			"admin token":      g.adminToken,
		} {
			if strings.Contains(where, v) {
				t.Errorf("%s contain the %s", name, what)
			}
			// Tokens are JWTs: their signature part alone must not leak.
			if i := strings.LastIndexByte(v, '.'); i > 0 && strings.Contains(where, v[i+1:]) {
				t.Errorf("%s contain the signature of the %s", name, what)
			}
		}
	}
}
