package integration

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestProxyKeepsApproveRules: a key whose manifest asks the owner for
// every POST /v1/charges* cannot be taken around that rule through the
// proxy site: such a request (in any method case) waits for the owner,
// and with no decision in approval_wait_max is refused, nothing sent;
// calls the rules do not cover are substituted as before.
func TestProxyKeepsApproveRules(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{KeygateOptions: "approval_wait_max 1s"})
	m := apiKeyManifest(pw.pkgName, pw.host, pw.pkgCode.URL)
	raw, _ := json.Marshal(m)
	var man map[string]any
	json.Unmarshal(raw, &man)
	man["keys"].([]any)[0].(map[string]any)["approve"] = []map[string]any{{"method": "POST", "host": "127.0.0.1", "path": "/v1/charges*"}}
	if r := pw.in.callAPI(t, "PUT", "/v1/packages/"+pw.pkgName, man); r.Status != http.StatusOK {
		t.Fatalf("put package: %s", r)
	}
	pw.in.grant(t, pw.kc, pw.pkgName, "API_KEY")
	_, ph := pw.call(t)
	up := "127.0.0.1:" + pw.up.Port
	rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
	defer rt.conn.Close()
	auth := http.Header{"Authorization": {"Bearer " + ph}, "Content-Type": {"application/json"}}

	if r := rt.do(t, newReq(t, "GET", "https://"+up+"/v1/customers", "", auth, "")); r.Status != http.StatusOK {
		t.Fatalf("a call the rules do not cover: %s", r)
	}
	sent := pw.up.Count()
	for _, method := range []string{"POST", "post"} {
		r := rt.do(t, newReq(t, method, "https://"+up+"/v1/charges", "", auth, `{"amount":1}`))
		if r.Status == http.StatusOK || pw.up.Count() != sent {
			t.Fatalf("%s /v1/charges through the proxy site went out without the owner: %s", method, r)
		}
		if r.Status != http.StatusForbidden {
			t.Errorf("%s /v1/charges: %s, want 403", method, r)
		}
	}
}

// TestProxyApprovedAfterRevocation: a proxy-site call held for the
// owner's approval that is approved after its grant was revoked does not
// go out with the value substituted before the hold.
func TestProxyApprovedAfterRevocation(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{KeygateOptions: "approval_wait_max 20s"})
	m := apiKeyManifest(pw.pkgName, pw.host, pw.pkgCode.URL)
	raw, _ := json.Marshal(m)
	var man map[string]any
	json.Unmarshal(raw, &man)
	man["keys"].([]any)[0].(map[string]any)["approve"] = []map[string]any{{"method": "POST", "host": "127.0.0.1", "path": "/v1/charges*"}}
	if r := pw.in.callAPI(t, "PUT", "/v1/packages/"+pw.pkgName, man); r.Status != http.StatusOK {
		t.Fatalf("put package: %s", r)
	}
	pw.in.grant(t, pw.kc, pw.pkgName, "API_KEY")
	_, ph := pw.call(t)
	up := "127.0.0.1:" + pw.up.Port
	rt := pw.tunnel(t, pw.proxyURL, up, "", false, nil)
	defer rt.conn.Close()
	sent := pw.up.Count()
	done := make(chan reply, 1)
	go func() {
		done <- rt.do(t, newReq(t, "POST", "https://"+up+"/v1/charges", "", http.Header{"Authorization": {"Bearer " + ph}, "Content-Type": {"application/json"}}, `{"amount":1}`))
	}()
	var held struct{ Pending []struct{ ID string } }
	deadline := time.Now().Add(10 * time.Second)
	for len(held.Pending) == 0 && time.Now().Before(deadline) {
		json.Unmarshal(pw.in.mustAPI(t, http.StatusOK, "GET", "/v1/keychains/"+pw.kc+"/pending", nil).Body, &held)
		time.Sleep(50 * time.Millisecond)
	}
	if len(held.Pending) != 1 {
		t.Fatal("the call was not held")
	}
	pw.in.mustAPI(t, http.StatusNoContent, "DELETE", "/v1/keychains/"+pw.kc+"/grants/"+pw.pkgName, nil)
	pw.in.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+pw.kc+"/pending/"+held.Pending[0].ID+"/approve", map[string]any{"scope": "once"})
	r := <-done
	if r.Status == http.StatusOK || pw.up.Count() != sent {
		t.Fatalf("approved after the grant was revoked, the call went out: %s", r)
	}
}
