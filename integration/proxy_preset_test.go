package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestProxyPreset: the proxy site takes a manifest key's hosts and
// placement from its preset. A key with "preset": "openai" and no hosts of
// its own is substituted for api.openai.com only, so its placeholder sent
// to the stand-in on 127.0.0.1 is refused before anything is sent; with
// hosts of its own (which win) it is substituted in Authorization, and
// refused in a body, since the preset's placement is ["header"].
func TestProxyPreset(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	local, remote := RandomToken(t, "sk-local-"), RandomToken(t, "sk-remote-")
	pw.in.setSecret(t, pw.kc, "LOCAL_KEY", local)
	pw.in.setSecret(t, pw.kc, "OPENAI_KEY", remote)
	m := map[string]any{"name": "@it/preset", "version": "1.0.0", "sha256": sha256Hex("@it/preset/v1"), "host": "preset", "upstream": pw.pkgCode.URL,
		"keys": []map[string]any{
			{"name": "LOCAL_KEY", "required": true, "preset": "openai", "hosts": []string{"127.0.0.1"}},
			{"name": "OPENAI_KEY", "required": true, "preset": "openai"},
		}}
	r := pw.in.callAPI(t, "PUT", "/v1/packages/@it/preset", m)
	if r.Status != http.StatusCreated {
		t.Fatalf("put package: %s", r)
	}
	var saved struct {
		Keys []struct {
			Hosts     []string
			Placement []string
		}
	}
	if err := json.Unmarshal(r.Body, &saved); err != nil || strings.Join(saved.Keys[1].Hosts, ",") != "api.openai.com" ||
		strings.Join(saved.Keys[0].Placement, ",") != "header" {
		t.Fatalf("stored manifest: %v %s", err, r.Body)
	}
	pw.in.grant(t, pw.kc, "@it/preset", "LOCAL_KEY", "OPENAI_KEY")
	path := "/call/" + RandomToken(t, "")
	if r := pw.in.callIngress(t, "preset", pw.token, "GET", path, nil); r.Status != http.StatusOK {
		t.Fatalf("ingress: %s", r)
	}
	ph := map[string]string{}
	for _, req := range pw.pkgCode.Requests() {
		if req.Path == path {
			ph["local"], ph["remote"] = req.Header.Get("Keygate-Placeholder-LOCAL-KEY"), req.Header.Get("Keygate-Placeholder-OPENAI-KEY")
		}
	}
	if !strings.HasPrefix(ph["local"], "kgph_") || !strings.HasPrefix(ph["remote"], "kgph_") {
		t.Fatal("the package's code got no placeholders")
	}
	c := pw.goClient(t, pw.proxyURL)
	send := func(auth, body string) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest("POST", pw.upstreamURL("/v1/echo"), rd)
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if st, b := send("Bearer "+ph["local"], ""); st != 200 || strings.Contains(b, local) {
		t.Fatalf("LOCAL_KEY in Authorization: %d %s", st, redact(b))
	}
	if got := pw.up.Last(t).Header.Get("Authorization"); got != "Bearer "+local {
		t.Fatal("the upstream did not get LOCAL_KEY's value in Authorization")
	}
	before := pw.up.Count()
	if st, b := send("Bearer "+ph["remote"], ""); st != 403 || !strings.Contains(b, "host_not_allowed") {
		t.Fatalf("OPENAI_KEY to 127.0.0.1: %d %s", st, redact(b))
	}
	if st, b := send("", `{"api_key":"`+ph["local"]+`"}`); st != 403 || !strings.Contains(b, "placement_not_allowed") {
		t.Fatalf("LOCAL_KEY in a body: %d %s", st, redact(b))
	}
	if pw.up.Count() != before {
		t.Fatal("a refused request reached the upstream")
	}
}
