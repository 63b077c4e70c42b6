package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leakCaddyfile is DefaultCaddyfile with an access log on every site, each
// to a file of its own.
var leakCaddyfile = func() string {
	logTo := func(name string) string {
		return "\tbind keygate/127.0.0.1\n\tlog {\n\t\toutput file {{.Dir}}/access-" + name + ".log\n\t}\n"
	}
	s := DefaultCaddyfile
	for _, site := range []struct{ name, next string }{{"api", "keygate_api"}, {"ingress", "keygate_package"}, {"egress", "route /api/*"}} {
		old := "\tbind keygate/127.0.0.1\n\t" + site.next
		if strings.Count(s, old) != 1 {
			panic("leakCaddyfile: DefaultCaddyfile changed; update the test")
		}
		s = strings.Replace(s, old, logTo(site.name)+"\t"+site.next, 1)
	}
	return s
}()

// leakSites adds a plaintext-mode package site, egress routes injecting
// by basic auth and by query parameter, and a route whose upstream is
// down, each with an access log.
const leakSites = `
http://*.plain.test:{{index .Extra 0}} {
	bind 127.0.0.1
	log {
		output file {{.Dir}}/access-plain.log
	}
	keygate_package {
		suffix plain.test
		mode plaintext
	}
}

http://:{{index .Extra 1}} {
	bind 127.0.0.1
	log {
		output file {{.Dir}}/access-egress2.log
	}
	route /basic/* {
		uri strip_prefix /basic
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
				basic_auth apiuser
			}
		}
	}
	route /query/* {
		uri strip_prefix /query
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret API_KEY
				query api_key
			}
		}
	}
	route /down/* {
		uri strip_prefix /down
		reverse_proxy 127.0.0.1:{{index .Extra 2}} {
			transport keygate {
				secret API_KEY
				query api_key
			}
		}
	}
	route /app/* {
		uri strip_prefix /app
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret APP_KEY app
				header X-App-Key "{secret}"
			}
		}
	}
}
`

// TestNoLeaks runs every flow with DEBUG logging (the global log and an
// access log per site) and then searches for every secret value, keychain
// token and invocation token (and their base64 and query encodings) in
// stdout, stderr, every log file, the audit log, every error body keygate
// answered, the CLI's output (values only: the CLI prints a token once on
// purpose), and every byte of every file under the instance's directory,
// data directory included.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	requireCLI(t)
	pkgCode := NewUpstream(t, nil)
	cfg := Config{
		Template:      leakCaddyfile,
		GlobalOptions: "debug\n\tlog {\n\t\tlevel DEBUG\n\t}\n\tlog debugfile {\n\t\toutput file {{.Dir}}/debug.log\n\t\tlevel DEBUG\n\t}\n\tlog audit {\n\t\toutput file {{.Dir}}/audit.log\n\t\tinclude keygate.audit\n\t}",
		ExtraPorts:    3,
		ExtraSites:    leakSites,
	}
	in := Start(t, cfg)
	if !strings.Contains(in.Logs(), `"level":"debug"`) {
		t.Fatal("keygate does not log at DEBUG: the scan would prove little")
	}
	extra := func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[i]) }

	values := map[string]string{}   // what -> secret value
	tokens := map[string]string{}   // what -> keychain or invocation token
	var errorBodies strings.Builder // every refusal keygate answered
	note := func(what string, r reply) reply {
		if r.Status >= 400 {
			fmt.Fprintf(&errorBodies, "%s: %d %s\n", what, r.Status, r.Body)
		}
		return r
	}

	// Owner, through the CLI: keychain, secret from stdin, package, grant.
	r := in.MustCLI("", "keychain", "create", "--owner", "leaky", "--json")
	var kc struct{ ID, Token string }
	if err := json.Unmarshal([]byte(r.Stdout), &kc); err != nil {
		t.Fatal(err)
	}
	tokens["keychain token (CLI)"] = kc.Token
	values["secret set through the CLI"] = RandomToken(t, "sk_cli_")
	in.MustCLI(values["secret set through the CLI"]+"\n", "secret", "set", kc.ID, "API_KEY", "--allow-host", "127.0.0.1")
	m := apiKeyManifest("@it/leaky", "tools", pkgCode.URL)
	m.AppKeys = []keySpec{{Name: "APP_KEY", Description: "App key.", Hosts: []string{"127.0.0.1"}}}
	b, _ := json.Marshal(m)
	mf := filepath.Join(t.TempDir(), "keygate.package.json")
	os.WriteFile(mf, b, 0o600)
	in.MustCLI("", "package", "put", mf)
	in.MustCLI("", "grant", kc.ID, m.Name, "API_KEY")
	values["app secret"] = RandomToken(t, "app_")
	in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/packages/"+m.Name+"/app-secrets/APP_KEY", map[string]string{"value": values["app secret"]})

	// A second keychain through the API, its token rotated.
	kc2, tok2 := in.newKeychain(t, "leaky2")
	tokens["keychain token (API)"] = tok2
	values["secret set through the API"] = RandomToken(t, "sk_api_")
	in.setSecret(t, kc2, "API_KEY", values["secret set through the API"])
	in.grant(t, kc2, m.Name, "API_KEY")
	rr := in.mustAPI(t, http.StatusOK, "POST", "/v1/keychains/"+kc2+"/token", nil)
	var rot struct{ Token string }
	json.Unmarshal(rr.Body, &rot)
	tokens["rotated keychain token"] = rot.Token
	note("rotated-out token", in.callIngress(t, "tools", tok2, "GET", "/", nil))

	// Ingress and egress in every injection mode.
	for i, tok := range []string{kc.Token, rot.Token} {
		inv := in.mintInvocation(t, pkgCode, "tools", tok)
		tokens[fmt.Sprintf("invocation token %d", i)] = inv
		for _, u := range []string{in.EgressURL + "/api/h", extra(1) + "/basic/b", extra(1) + "/query/q?x=1", extra(1) + "/app/a"} {
			if r := sendT(t, "GET", u, "", bearer(inv), nil); r.Status != http.StatusOK {
				t.Errorf("egress %s: %s", u, r)
			}
		}
		// Upstream down: 502, logged as an error.
		note("egress to a down upstream", sendT(t, "GET", extra(1)+"/down/d?y=2", "", bearer(inv), nil))
		// Tokens in the wrong places.
		note("invocation token on ingress", in.callIngress(t, "tools", inv, "GET", "/", nil))
		note("keychain token on egress", in.callEgress(t, tok, "GET", "/api/x", nil))
		note("invocation token on the API", sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(inv), nil))
		note("keychain token on the API", sendT(t, "GET", in.APIURL+"/v1/keychains", "", bearer(tok), nil))
		// Basic credentials, as some SDKs send an API key.
		basic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(inv+":"))}}
		if r := in.callEgress(t, "", "GET", "/api/basic", basic); r.Status != http.StatusOK {
			t.Errorf("egress with the token as basic auth user: %s", r)
		}
		note("invocation token in Proxy-Authorization, keychain token in Authorization",
			in.callEgress(t, tok, "GET", "/api/x", http.Header{"Proxy-Authorization": {"Bearer " + inv}}))
	}
	// Plaintext mode: the package receives the value in a header.
	pr := sendT(t, "GET", extra(0)+"/plain", "tools.plain.test:"+strconv.Itoa(in.Ports.Extra[0]), bearer(kc.Token), nil)
	if pr.Status != http.StatusOK || pkgCode.Last(t).Header.Get("Keygate-Secret-API-KEY") != values["secret set through the CLI"] {
		t.Errorf("plaintext mode: %s", pr)
	}

	// Denials with the value around: host not allowed, stale grant,
	// missing keys.
	kc3, tok3 := in.newKeychain(t, "leaky3")
	tokens["keychain token 3"] = tok3
	values["secret for another host"] = RandomToken(t, "sk_far_")
	in.setSecret(t, kc3, "API_KEY", values["secret for another host"], "api.example.com")
	note("ingress without grant", in.callIngress(t, "tools", tok3, "GET", "/", nil))
	in.grant(t, kc3, m.Name, "API_KEY")
	inv3 := in.mintInvocation(t, pkgCode, "tools", tok3)
	tokens["invocation token 3"] = inv3
	note("egress to a host not allowed", in.callEgress(t, inv3, "GET", "/api/x", nil))
	note("query egress to a host not allowed", sendT(t, "GET", extra(1)+"/query/q", "", bearer(inv3), nil))
	m.SHA256 = sha256Hex("leaky v2")
	in.putPackage(t, m)
	note("stale grant at ingress", in.callIngress(t, "tools", tok3, "GET", "/", nil))
	note("stale grant at egress", in.callEgress(t, inv3, "GET", "/api/x", nil))
	in.grant(t, kc3, m.Name) // no keys: API_KEY (required) is missing
	note("missing keys", in.callIngress(t, "tools", tok3, "GET", "/", nil))
	in.grant(t, kc.ID, m.Name, "API_KEY") // the first keychain approves the new code

	// API refusals that carry a value in the request.
	bad := RandomToken(t, "sk_bad_")
	values["refused value"] = bad
	for what, body := range map[string]string{
		"value with CRLF":     `{"value":"` + bad + `\r\nX-Injected: 1"}`,
		"value with NUL":      `{"value":"` + bad + `\u0000"}`,
		"value too long":      `{"value":"` + bad + strings.Repeat("x", 9000) + `"}`,
		"malformed JSON":      `{"value":"` + bad + `",}`,
		"unknown field":       `{"value":"` + bad + `","valeu":"` + bad + `"}`,
		"wrong type":          `{"value":"` + bad + `","allowed_hosts":"` + bad + `"}`,
		"bad allowed_hosts":   `{"value":"` + bad + `","allowed_hosts":["` + bad + `/x"]}`,
		"trailing data":       `{"value":"` + bad + `"} {"value":"` + bad + `"}`,
		"oversized body":      `{"value":"` + bad + `","x":"` + strings.Repeat("y", 1<<20) + `"}`,
		"unknown keychain":    `{"value":"` + bad + `"}`,
		"invalid secret name": `{"value":"` + bad + `"}`,
	} {
		path := "/v1/keychains/" + kc.ID + "/secrets/REFUSED"
		switch what {
		case "unknown keychain":
			path = "/v1/keychains/kc_aaaaaaaaaaaaaaaaaaaaaaaaaa/secrets/REFUSED"
		case "invalid secret name":
			path = "/v1/keychains/" + kc.ID + "/secrets/bad-name"
		}
		r := note("API: "+what, in.callAPI(t, "PUT", path, body))
		if r.Status < 400 {
			t.Errorf("API %s: %s, want a refusal", what, r)
		}
	}
	note("CLI: value with CR", reply{Status: 400, Body: []byte(in.CLI(bad+"\r\n", "secret", "set", kc.ID, "REFUSED").Stderr)})

	// A reload at DEBUG, a rewrap, a crash (kill -9) and a restart: the
	// store recovers and reopens, with its logs at DEBUG.
	cfg2 := in.Config
	cfg2.PackageOptions = "rate 1000/s burst 1000"
	in.Reload(cfg2)
	in.MustCLI("", "rewrap")
	in.Kill()
	in.Start()
	inv4 := in.mintInvocation(t, pkgCode, "tools", kc.Token)
	tokens["invocation token after restart"] = inv4
	if r := in.callEgress(t, inv4, "GET", "/api/after", nil); r.Status != http.StatusOK {
		t.Errorf("egress after restart: %s", r)
	}
	in.CLI("", "audit", "--keychain", kc.ID) // the CLI's view of the audit

	// Wait for the audit to settle, then read all of it.
	var audit string
	eventually(5*time.Second, 50*time.Millisecond, func() bool {
		a := in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil)
		done := audit == string(a.Body)
		audit = string(a.Body)
		return done
	})
	for _, v := range values {
		noteSensitive(v)
	}
	for _, v := range tokens {
		noteSensitive(v)
	}
	// The data directory as the running process keeps it (Badger's
	// preallocated memtable and value-log files included), then
	// everything once it stopped and flushed its logs.
	running := scanTree(t, in.StoreDir, needlesFor(values, tokens))
	in.Stop()

	// The scan.
	outputs := map[string]string{
		"stdout":       readFileString(t, in.StdoutPath),
		"stderr":       readFileString(t, in.StderrPath),
		"audit":        audit,
		"error bodies": errorBodies.String(),
	}
	logs := 0
	filepath.WalkDir(in.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".log") && !d.IsDir() {
			rel, _ := filepath.Rel(in.Dir, p)
			outputs[rel] = readFileString(t, p)
			logs++
		}
		return nil
	})
	if logs < 7 || !strings.Contains(outputs["access-egress2.log"], "/query/q") || !strings.Contains(outputs["debug.log"], "upstream roundtrip") ||
		!strings.Contains(outputs["audit.log"], `"logger":"keygate.audit"`) {
		t.Errorf("the logs are not all there (%d log files): the scan would prove little", logs)
	}
	needles := needlesFor(values, tokens)
	for what, needle := range needles {
		AssertNotContains(t, what, needle, outputs)
	}
	for what, v := range values {
		AssertNotContains(t, what, v, map[string]string{"CLI output": in.CLIOutput()})
	}
	// The admin token and the master key belong in the Caddyfile only.
	for what, v := range map[string]string{"admin token": in.AdminToken, "master key": in.Config.MasterKey} {
		AssertNotContains(t, what, v, outputs)
	}
	// Every byte of every file: the data directory, Caddy's directories,
	// the logs. The Caddyfile holds the admin token and master key by
	// design, not values or tokens.
	n := scanTree(t, in.Dir, needles)
	t.Logf("scanned %d log outputs, %d MiB of the running store and %d MiB of files for %d needles",
		len(outputs), running>>20, n>>20, len(needles))
}

// needlesFor is every value and token with its encodings.
func needlesFor(sets ...map[string]string) map[string]string {
	needles := map[string]string{}
	for _, set := range sets {
		for what, v := range set {
			leakNeedles(needles, what, v)
		}
	}
	return needles
}

func readFileString(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
