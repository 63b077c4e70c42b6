package caddymodule_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/preset"
	"github.com/keygate/keygate/sign"
)

// presetKey is the key, and the route path, of a preset in these tests.
func presetKey(name string) string {
	return "P_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// presetRoutes is one egress route per preset, /p/<name>/*, to the
// stand-in upstream, each naming only its secret and its preset (and what
// aws-s3 and twilio need from a route).
func presetRoutes(upstream string) string {
	var b strings.Builder
	for _, p := range preset.All() {
		extra := ""
		switch p.Name {
		case "aws-s3":
			extra = "sigv4 {\n\t\t\t\t\tregion us-east-1\n\t\t\t\t}"
		case "twilio":
			extra = "basic_auth AC0123456789abcdef"
		}
		fmt.Fprintf(&b, "route /p/%s/* {\n\t\treverse_proxy %s {\n\t\t\ttransport keygate {\n\t\t\t\tsecret %s\n\t\t\t\tpreset %s\n\t\t\t\t%s\n\t\t\t}\n\t\t}\n\t}\n\t",
			p.Name, upstream, presetKey(p.Name), p.Name, extra)
	}
	return b.String()
}

// TestPresetEgress: every preset, on a route that names nothing but its
// secret and preset, puts the secret where the provider's docs say (the
// stand-in upstream on 127.0.0.1 checks the header and scheme, basic
// credentials, query parameter or SigV4 signature), takes the token where
// its SDKs send their key, and sends no token upstream. The manifest's
// keys name the same presets, with 127.0.0.1 as their hosts (a key's own
// hosts win over its preset's).
func TestPresetEgress(t *testing.T) {
	g := startGateway(t, gatewayOptions{egressRoutes: presetRoutes})
	var kc struct{ ID, Token string }
	json.Unmarshal(g.mustAdmin(201, "POST", "/v1/keychains", map[string]any{"owner": "alice"}), &kc)
	var keys []map[string]any
	var names []string
	values := map[string]string{}
	for _, p := range preset.All() {
		k := presetKey(p.Name)
		names = append(names, k)
		spec := map[string]any{"name": k, "preset": p.Name, "hosts": []string{"127.0.0.1"}}
		body := map[string]any{"allowed_hosts": []string{"127.0.0.1"}}
		if p.Placement.Kind() == preset.KindSigV4 {
			spec["placement"] = map[string]any{"sigv4": map[string]any{"region": "us-east-1"}}
			values[k] = awsValue
			body["kind"] = "aws"
		} else {
			values[k] = "val_" + strings.ReplaceAll(p.Name, "-", "_") + "_" + randHex(t, 8)
		}
		body["value"] = values[k]
		keys = append(keys, spec)
		g.mustAdmin(204, "PUT", "/v1/keychains/"+kc.ID+"/secrets/"+k, body)
	}
	m := g.manifest("@acme/presets", "presets", keys...)
	saved := g.mustAdmin(201, "PUT", "/v1/packages/@acme/presets", m)
	var stored struct {
		Keys []struct {
			Name      string
			Preset    string
			Hosts     []string
			Placement json.RawMessage
		}
	}
	if err := json.Unmarshal(saved, &stored); err != nil || len(stored.Keys) != len(keys) {
		t.Fatalf("%v %s", err, saved)
	}
	for _, k := range stored.Keys {
		if k.Preset == "" || len(k.Hosts) != 1 || len(k.Placement) == 0 {
			t.Errorf("stored key %+v: preset, hosts or placement missing", k)
		}
	}
	g.mustAdmin(200, "PUT", "/v1/keychains/"+kc.ID+"/grants/@acme/presets", map[string]any{"keys": names})
	if st, _, b := g.agent("presets", kc.Token, nil); st != 200 {
		t.Fatalf("agent: %d %s", st, b)
	}
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")

	for _, p := range preset.All() {
		t.Run(p.Name, func(t *testing.T) {
			k := presetKey(p.Name)
			hdr := map[string]string{}
			if p.TokenHeader != "" {
				hdr[p.TokenHeader] = inv // as the provider's SDK sends its key
			} else {
				hdr["Authorization"] = "Bearer " + inv
			}
			st, _, b := g.call("POST", g.egress+"/p/"+p.Name+"/v1/thing?x=1", "", hdr, `{"amount":1}`)
			if st != 200 {
				t.Fatalf("%d %s", st, b)
			}
			r := g.upstream.last(t)
			if !strings.HasPrefix(r.URL.Path, "/p/"+p.Name+"/") {
				t.Fatalf("the upstream's last request was %s", r.URL.Path)
			}
			checkPlacement(t, p, r, values[k])
			for name, vs := range r.Header {
				if strings.Contains(strings.Join(vs, " "), inv) || strings.HasPrefix(strings.ToLower(name), "keygate-") {
					t.Errorf("the token or a Keygate header went upstream in %s", name)
				}
			}
			if strings.Contains(r.URL.RawQuery, inv) {
				t.Error("the token went upstream in the query")
			}
		})
	}
	if strings.Contains(g.logs(), inv) {
		t.Error("the invocation token is in the logs")
	}
	for k, v := range values {
		if strings.Contains(g.logs(), v) {
			t.Errorf("the value of %s is in the logs", k)
		}
	}
}

// checkPlacement is the stand-in's check: the secret arrived as the
// preset places it, and nowhere else.
func checkPlacement(t *testing.T, p preset.Preset, r *http.Request, value string) {
	t.Helper()
	pl := p.Placement
	switch pl.Kind() {
	case preset.KindHeader:
		want := strings.Replace(pl.Template, preset.Secret, value, 1)
		if got := r.Header.Get(pl.Header); got != want {
			t.Errorf("%s: %q, want %q", pl.Header, got, want)
		}
		if pl.Header != "Authorization" && r.Header.Get("Authorization") != "" {
			t.Error("Authorization went upstream beside the preset's header")
		}
	case preset.KindBasic:
		user, pass, ok := r.BasicAuth()
		wantUser, wantPass := pl.BasicAuthUser, value
		switch wantUser {
		case preset.Secret:
			wantUser, wantPass = value, ""
		case "":
			wantUser = "AC0123456789abcdef" // the route's
		}
		if !ok || user != wantUser || pass != wantPass {
			t.Errorf("basic credentials %q:%q (%v), want %q:%q", user, pass, ok, wantUser, wantPass)
		}
		if enc := base64.StdEncoding.EncodeToString([]byte(wantUser + ":" + wantPass)); r.Header.Get("Authorization") != "Basic "+enc {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
	case preset.KindQuery:
		if got := r.URL.Query().Get(pl.Query); got != value || r.URL.Query().Get("x") != "1" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		if r.Header.Get("Authorization") != "" {
			t.Error("Authorization went upstream beside the query parameter")
		}
	case preset.KindSigV4:
		sg, err := sign.ParseSigned(r)
		if err != nil {
			t.Fatal(err)
		}
		if sg.AccessKeyID != "AKIDREALKEY" || sg.Service != pl.SigV4Service || sg.Region != "us-east-1" {
			t.Errorf("signed as %q for %s/%s", sg.AccessKeyID, sg.Service, sg.Region)
		}
		if err := sg.Verify(r, "real-secret-access-key", time.Now()); err != nil {
			t.Errorf("the signature does not verify with the real key: %v", err)
		}
	}
}

// TestPresetManifestAPI: a manifest key's preset through the API. Its
// hosts come from the preset when the key gives none (so egress to any
// other host is refused), an oauth block gets the preset's provider
// (which must be configured: here by an oauth_provider that is itself a
// preset) and scopes, and bad presets are 400 naming the field.
func TestPresetManifestAPI(t *testing.T) {
	g := startGateway(t, gatewayOptions{publicURL: true, keygateCfg: "oauth_provider github {\n\t\t\tpreset github\n\t\t}"})
	s := g.standardSetup()
	oauthKey := map[string]any{"name": "GH", "preset": "github", "oauth": map[string]any{"client_id": "CID", "client_secret": "CSEC"}}
	m := g.manifest("@acme/tools", "tools", map[string]any{"name": "API_KEY", "required": true, "preset": "openai"}, oauthKey)
	m["app_keys"] = []map[string]any{{"name": "CID"}, {"name": "CSEC"}}
	var saved struct {
		Keys []struct {
			Hosts []string
			OAuth *struct {
				Provider string
				Scopes   []string
			}
		}
	}
	json.Unmarshal(g.mustAdmin(200, "PUT", "/v1/packages/@acme/tools", m), &saved)
	if h := saved.Keys[0].Hosts; len(h) != 1 || h[0] != "api.openai.com" {
		t.Fatalf("hosts %v", h)
	}
	if o := saved.Keys[1].OAuth; o == nil || o.Provider != "github" || len(o.Scopes) != 1 || o.Scopes[0] != "repo" {
		t.Fatalf("oauth %+v", o)
	}
	g.mustAdmin(200, "PUT", "/v1/keychains/"+s.kc+"/grants/@acme/tools", map[string]any{"keys": []string{"API_KEY"}})
	g.agent("tools", s.token, nil)
	inv := strings.TrimPrefix(g.pkgUpstream.last(t).Header.Get("Authorization"), "Bearer ")
	before := g.upstream.count()
	if st, hdr, b := g.egressCall("/api/v1/models", inv, nil); st != 403 || problem(t, hdr, b)["reason"] != "host_not_allowed" {
		t.Fatalf("a preset's hosts did not hold: %d %s", st, b)
	}
	if g.upstream.count() != before {
		t.Fatal("the request reached the upstream")
	}

	for name, c := range map[string]struct {
		key          map[string]any
		field, words string
	}{
		"unknown":    {map[string]any{"name": "K", "preset": "opneai"}, "keys[0].preset", "known presets are airtable, anthropic"},
		"not string": {map[string]any{"name": "K", "preset": 5}, "keys.preset", "must be of JSON type string"},
		"case":       {map[string]any{"name": "K", "preset": "OpenAI"}, "keys[0].preset", "unknown preset"},
		"no oauth":   {map[string]any{"name": "K", "preset": "openai", "oauth": map[string]any{"client_id": "CID", "client_secret": "CSEC"}}, "keys[0].oauth.provider", "has no OAuth"},
		"oauth not configured": {map[string]any{"name": "K", "preset": "gitlab", "oauth": map[string]any{"client_id": "CID", "client_secret": "CSEC"}},
			"keys[0].oauth.provider", "names gitlab, which is not a configured oauth_provider"},
		"s3 region": {map[string]any{"name": "K", "preset": "aws-s3"}, "keys[0].placement", "give the region"},
	} {
		bad := g.manifest("@acme/bad", "bad", c.key)
		bad["app_keys"] = []map[string]any{{"name": "CID"}, {"name": "CSEC"}}
		st, hdr, b := g.call("PUT", g.api+"/v1/packages/@acme/bad", "", map[string]string{"Authorization": "Bearer " + g.adminToken}, bad)
		if st != 400 {
			t.Errorf("%s: %d %s", name, st, b)
			continue
		}
		p := problem(t, hdr, b)
		if d, _ := p["detail"].(string); !strings.Contains(d, c.words) || (c.field != "" && p["field"] != c.field) {
			t.Errorf("%s: %s", name, b)
		}
	}
	g.mustAdmin(404, "GET", "/v1/packages/@acme/bad", nil)
}
