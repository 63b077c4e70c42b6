package integration

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAuditExport: with `log audit { include keygate.audit; output file }`
// in the global options, the file holds every audit event of the run,
// injections and denials included, by the same ids as GET /v1/audit, and
// no value or token; without such a log, no log carries them.
// (Issue 17.)
func TestAuditExport(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{
		GlobalOptions: "log audit {\n\t\tinclude keygate.audit\n\t\toutput file {{.Dir}}/audit.log\n\t\tformat json\n\t}",
	})
	values := map[string]string{}
	tokens := map[string]string{}

	// An injection (ingress and egress allowed), with changes through the API.
	code := NewUpstream(t, nil)
	m := apiKeyManifest("@it/export", "tools", code.URL)
	in.putPackage(t, m)
	kc, tok := in.newKeychain(t, "exporter")
	tokens["keychain token"] = tok
	values["value"] = RandomToken(t, "sk_exp_")
	in.setSecret(t, kc, "API_KEY", values["value"], "127.0.0.1")
	in.grant(t, kc, m.Name, "API_KEY")
	inv := in.mintInvocation(t, code, "tools", tok)
	tokens["invocation token"] = inv
	if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
		t.Fatalf("egress: %s", r)
	}

	// Denials: ingress without a grant, egress to a host not allowed.
	kc2, tok2 := in.newKeychain(t, "exporter2")
	tokens["keychain token 2"] = tok2
	values["value 2"] = RandomToken(t, "sk_far_")
	in.setSecret(t, kc2, "API_KEY", values["value 2"], "api.example.com")
	if r := in.callIngress(t, "tools", tok2, "GET", "/", nil); r.Status < 400 {
		t.Fatalf("ingress without a grant: %s", r)
	}
	in.grant(t, kc2, m.Name, "API_KEY")
	inv2 := in.mintInvocation(t, code, "tools", tok2)
	tokens["invocation token 2"] = inv2
	if r := in.callEgress(t, inv2, "GET", "/api/x", nil); r.Status != http.StatusForbidden {
		t.Fatalf("egress to a host not allowed: %s", r)
	}

	type event struct{ ID, Action, Decision, Reason string }
	var api []event
	var body string
	eventually(5*time.Second, 50*time.Millisecond, func() bool {
		r := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
		done := body == string(r.Body)
		body = string(r.Body)
		return done
	})
	if err := json.Unmarshal([]byte(body), &api); err != nil {
		t.Fatal(err)
	}
	in.Stop()

	file := readFileString(t, filepath.Join(in.Dir, "audit.log"))
	var exported []event
	heads := 0
	for _, line := range strings.Split(strings.TrimSpace(file), "\n") {
		var l struct {
			Logger, Msg string
			event
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("audit.log line is not JSON: %v: %q", err, line)
		}
		if l.Logger == "keygate.audit" && l.Msg == "audit chain head" {
			heads++ // the rollback witness (rollback_witness_test.go)
			continue
		}
		if l.Logger != "keygate.audit" || l.Msg != "audit" {
			t.Errorf("audit.log holds a line of logger %q (%q): include should keep it to keygate.audit", l.Logger, l.Msg)
			continue
		}
		exported = append(exported, l.event)
	}

	if heads == 0 {
		t.Error("audit.log holds no audit chain head")
	}
	ids := func(evs []event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.ID)
		}
		slices.Sort(out)
		return out
	}
	if a, f := ids(api), ids(exported); !slices.Equal(a, f) {
		t.Errorf("audit ids differ:\nAPI:  %v\nfile: %v", a, f)
	}
	seen := map[string]bool{}
	for _, e := range exported {
		seen[e.Action+" "+e.Decision] = true
		if e.Decision == "deny" {
			seen[e.Action+" deny "+e.Reason] = true
		}
	}
	for _, want := range []string{"ingress allow", "egress allow", "ingress deny", "egress deny host_not_allowed", "secret.put ok", "grant.put ok"} {
		if !seen[want] {
			t.Errorf("no %q event exported; got %v", want, seen)
		}
	}
	// A Caddyfile log that includes keygate.audit takes it out of the
	// default log (the adapter adds an exclude); without one, no log
	// carries it: the store is the record.
	if strings.Contains(in.Logs(), `"logger":"keygate.audit"`) {
		t.Error("the default log carries keygate.audit though a log includes it")
	}
	plain := Start(t, Config{})
	plain.newKeychain(t, "plain")
	plain.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1", nil)
	time.Sleep(200 * time.Millisecond) // several audit flush windows
	plain.Stop()
	if strings.Contains(plain.Logs(), `"logger":"keygate.audit"`) {
		t.Errorf("with no log naming keygate.audit, a keygate.audit line was written:\n%s", tail(plain.Logs(), 5))
	}
	outs := map[string]string{"audit.log": file, "logs": in.Logs()}
	for what, needle := range needlesFor(values, tokens) {
		AssertNotContains(t, what, needle, outs)
	}
	AssertNotContains(t, "the admin token", in.AdminToken, outs)
}
