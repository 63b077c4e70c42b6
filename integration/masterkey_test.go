package integration

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMasterKeyRotation rotates the master key online, as an operator
// would: k1 alone; then "k2,k1" by reload, so that new values seal with k2
// while k1's still open; `keygate rewrap`; then k2 alone by reload. Every
// value, old and new, user and app scope, injects through egress at each
// step. A reload that drops a key still in use, or brings a wrong one,
// fails and leaves the running instance serving. Finally processes on the
// same data directory with a wrong master key, or without the one it
// needs, refuse to start with a clear error naming the key id, and the
// directory is byte-for-byte unchanged.
func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	requireCLI(t)
	b64 := func() string { return base64.StdEncoding.EncodeToString(randomBytes(t, 32)) }
	k1, k2 := b64(), b64()
	noteSensitive(k1, k2)
	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{
		MasterKey:  "k1:" + k1,
		ExtraPorts: 1,
		ExtraSites: `
http://:{{index .Extra 0}} {
	bind 127.0.0.1
	route /app/* {
		uri strip_prefix /app
		reverse_proxy {{.Upstream}} {
			transport keygate {
				secret APP_KEY app
				header X-App-Key "{secret}"
			}
		}
	}
}`,
	})
	appURL := "http://127.0.0.1:" + strconv.Itoa(in.Ports.Extra[0]) + "/app/x"
	m := apiKeyManifest("@it/rotate", "rotate", pkgCode.URL)
	m.AppKeys = []keySpec{{Name: "APP_KEY", Description: "The package's own key.", Hosts: []string{"127.0.0.1"}}}
	in.putPackage(t, m)

	type kcState struct{ id, token, value string }
	var kcs []*kcState
	addKeychain := func() *kcState {
		k := &kcState{value: RandomToken(t, "mk_")}
		k.id, k.token = in.newKeychain(t, "rotation")
		in.setSecret(t, k.id, "API_KEY", k.value)
		in.grant(t, k.id, m.Name, "API_KEY")
		kcs = append(kcs, k)
		return k
	}
	appValue := ""
	setApp := func() {
		appValue = RandomToken(t, "app_")
		noteSensitive(appValue)
		in.mustAPI(t, http.StatusNoContent, "PUT", "/v1/packages/"+m.Name+"/app-secrets/APP_KEY", map[string]string{"value": appValue})
	}
	// allInject checks that every value opens and reaches the API.
	allInject := func(step string) {
		t.Helper()
		for _, k := range kcs {
			inv := in.mintInvocation(t, pkgCode, "rotate", k.token)
			if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
				t.Fatalf("%s: egress for %s: %s", step, k.id, r)
			}
			if in.Upstream.Last(t).Header.Get("Authorization") != "Bearer "+k.value {
				t.Fatalf("%s: the API did not get %s's value", step, k.id)
			}
			if r := sendT(t, "GET", appURL, "", bearer(inv), nil); r.Status != http.StatusOK {
				t.Fatalf("%s: app-scope egress: %s", step, r)
			}
			if in.Upstream.Last(t).Header.Get("X-App-Key") != appValue {
				t.Fatalf("%s: the API did not get the app value", step)
			}
		}
	}
	// tryReload reloads cfg from a Caddyfile of its own, leaving the
	// instance's Caddyfile and Config alone, and returns the result.
	tryReload := func(cfg Config) Result {
		t.Helper()
		p := filepath.Join(in.Dir, "Caddyfile.try")
		if err := os.WriteFile(p, []byte(in.RenderCaddyfile(cfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		return RunBinary(t, in.Env, "", "reload", "--config", p, "--adapter", "caddyfile", "--address", in.AdminAddr)
	}
	withKey := func(spec string) Config {
		c := in.Config
		c.MasterKey = spec
		return c
	}

	// k1 only.
	a, b := addKeychain(), addKeychain()
	setApp()
	allInject("k1")

	// k2 seals, k1 still opens.
	in.Reload(withKey("k2:" + k2 + ",k1:" + k1))
	allInject("k2,k1 before new writes")
	addKeychain()
	b.value = RandomToken(t, "mk_b2_")
	in.setSecret(t, b.id, "API_KEY", b.value)
	allInject("k2,k1 after new writes")
	_ = a

	// Dropping k1 before rewrap: refused, the instance keeps serving.
	r := tryReload(withKey("k2:" + k2))
	if r.Code == 0 || !regexp.MustCompile(`store needs master key \\*"k1\\*", which is not configured`).MatchString(r.Stderr) {
		t.Errorf("reload without k1 before rewrap: want a failure naming k1: %s", redactResult(r))
	}
	allInject("after the refused reload without k1")
	// A wrong key: refused, the instance keeps serving.
	r = tryReload(withKey("k2:" + b64() + ",k1:" + k1))
	if r.Code == 0 || !regexp.MustCompile(`master key \\*"k2\\*" does not open this store`).MatchString(r.Stderr) {
		t.Errorf("reload with a wrong k2: want a failure naming k2: %s", redactResult(r))
	}
	allInject("after the refused reload with a wrong key")

	// Rewrap, through the CLI.
	r = in.MustCLI("", "rewrap")
	if !regexp.MustCompile(`^Re-wrapped [1-9][0-9]* records. Active master key \(seals new values\): k2\.\n`).MatchString(r.Stdout) ||
		!strings.Contains(r.Stdout, "  k1: seals nothing: it may leave master_key") {
		t.Errorf("rewrap: %s", r.Stdout)
	}
	// And again through the API: idempotent.
	rr := in.mustAPI(t, http.StatusOK, "POST", "/v1/rewrap", nil)
	var rw struct {
		MasterKeyID string `json:"master_key_id"`
	}
	if json.Unmarshal(rr.Body, &rw); rw.MasterKeyID != "k2" {
		t.Errorf("POST /v1/rewrap: %s", rr)
	}
	allInject("after rewrap")

	// k2 only.
	in.Reload(withKey("k2:" + k2))
	allInject("k2 only")
	addKeychain()
	setApp()
	allInject("k2 only, after new writes")
	in.Restart()
	allInject("k2 only, after a restart")

	// Start-up with a wrong or missing key destroys nothing.
	in.Stop()
	before := hashTree(t, in.StoreDir)
	for _, c := range []struct {
		what, spec string
		want       *regexp.Regexp
	}{
		{"wrong k2", "k2:" + b64(), regexp.MustCompile(`master key \\*"k2\\*" does not open this store \(wrong key\)`)},
		{"k2 missing", "k3:" + b64(), regexp.MustCompile(`store needs master key \\*"k2\\*", which is not configured`)},
		{"only the retired k1", "k1:" + k1, regexp.MustCompile(`store needs master key \\*"k2\\*", which is not configured`)},
		{"a key without id", b64(), regexp.MustCompile(`store needs master key \\*"k2\\*", which is not configured`)},
	} {
		p := filepath.Join(in.Dir, "Caddyfile.bad")
		if err := os.WriteFile(p, []byte(in.RenderCaddyfile(withKey(c.spec))), 0o600); err != nil {
			t.Fatal(err)
		}
		r := in.runUntilExit(t, 30*time.Second, "run", "--config", p, "--adapter", "caddyfile")
		if r.Code == 0 {
			t.Errorf("%s: keygate exited 0", c.what)
		}
		if !c.want.MatchString(r.Stderr) {
			t.Errorf("%s: stderr does not say %q:\n%s", c.what, c.want, tail(redactResult(r).Stderr, 10))
		}
		AssertNotContains(t, "the master key", c.spec[strings.LastIndex(c.spec, ":")+1:], map[string]string{"stderr": r.Stderr, "stdout": r.Stdout})
		if d := diffTrees(before, hashTree(t, in.StoreDir)); len(d) > 0 {
			t.Errorf("%s: the data directory changed: %v", c.what, d)
		}
	}
	// The right key still opens everything.
	in.Start()
	allInject("restarted with the right key")
}

// redactResult is r with every noted value and token redacted.
func redactResult(r Result) Result {
	r.Stdout, r.Stderr = redact(r.Stdout), redact(r.Stderr)
	return r
}

// TestMasterKeyFailedReload checks that a reload that brings a new master
// key but fails as a whole (here: a site of the new config cannot bind its
// port) leaves the running config's master key in charge: values written
// afterwards still seal with the key the running config names, so that a
// restart with the running Caddyfile works and nothing needs the new key,
// which the operator may well discard since the reload failed.
func TestMasterKeyFailedReload(t *testing.T) {
	t.Parallel()
	b64 := func() string { return base64.StdEncoding.EncodeToString(randomBytes(t, 32)) }
	k1, k2 := b64(), b64()
	noteSensitive(k1, k2)
	w := newWorld(t, Config{MasterKey: "k1:" + k1})
	in := w.in
	busy := FreePorts(t, 1)[0]
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	cfg := in.Config
	cfg.MasterKey = "k2:" + k2 + ",k1:" + k1
	cfg.ExtraSites = "http://:" + strconv.Itoa(busy) + " {\n\tbind 127.0.0.1\n\trespond \"busy\"\n}"
	p := filepath.Join(in.Dir, "Caddyfile.try")
	if err := os.WriteFile(p, []byte(in.RenderCaddyfile(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := RunBinary(t, in.Env, "", "reload", "--config", p, "--adapter", "caddyfile", "--address", in.AdminAddr)
	if r.Code == 0 {
		t.Fatalf("the reload onto a busy port succeeded")
	}
	w.healthy(t)

	// A value written now, under the running config (k1 only).
	kc, tok := in.newKeychain(t, "after-failed-reload")
	value := RandomToken(t, "v_")
	in.setSecret(t, kc, "API_KEY", value)
	in.grant(t, kc, w.pkgName, "API_KEY")

	// A restart with the running Caddyfile (k1 only) must work, and the
	// value must open.
	in.Stop()
	if err := in.start(); err != nil {
		t.Fatalf("start-up with the running config after a failed reload: %v\n%s", err, tail(redact(in.Logs()), 5))
	}
	w.healthy(t)
	inv := in.mintInvocation(t, w.pkgCode, w.host, tok)
	if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
		t.Fatalf("egress: %s", r)
	}
	if in.Upstream.Last(t).Header.Get("Authorization") != "Bearer "+value {
		t.Fatal("the value written after the failed reload does not arrive")
	}
}

// TestCrashDuringRewrap kills keygate (SIGKILL) while a rewrap runs, after
// k2 was added in front of k1. Whenever the kill lands, the restarted
// process opens every value with "k2,k1"; rewrap runs again to the end;
// then k2 alone opens everything, across a restart too.
func TestCrashDuringRewrap(t *testing.T) {
	t.Parallel()
	const keychains, extraPer = 60, 8 // 60 injectable values, 540 sealed records
	b64 := func() string { return base64.StdEncoding.EncodeToString(randomBytes(t, 32)) }
	k1, k2 := b64(), b64()
	noteSensitive(k1, k2)
	pkgCode := NewUpstream(t, nil)
	in := Start(t, Config{MasterKey: "k1:" + k1})
	in.putPackage(t, apiKeyManifest("@it/rewrap", "rewrap", pkgCode.URL))

	type kcState struct{ id, token, value string }
	kcs := make([]kcState, keychains)
	var wg sync.WaitGroup
	var fails errList
	hdr := bearer(in.AdminToken)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			put := func(method, path string, body any, want int) (reply, bool) {
				r, err := tryHTTP(nil, method, in.APIURL+path, "", hdr, body)
				if err != nil || r.Status != want {
					fails.add("%s %s: %v %v", method, path, r.Status, err)
					return r, false
				}
				return r, true
			}
			for i := w; i < keychains; i += 4 {
				r, ok := put("POST", "/v1/keychains", map[string]string{"owner": "rewrap"}, http.StatusCreated)
				if !ok {
					return
				}
				var c struct{ ID, Token string }
				json.Unmarshal(r.Body, &c)
				k := kcState{id: c.ID, token: c.Token, value: "rw-" + randomHex(16)}
				kcs[i] = k
				put("PUT", "/v1/keychains/"+k.id+"/secrets/API_KEY", map[string]any{"value": k.value, "allowed_hosts": []string{"127.0.0.1"}}, http.StatusNoContent)
				for j := range extraPer {
					put("PUT", "/v1/keychains/"+k.id+"/secrets/EXTRA_"+strconv.Itoa(j), map[string]any{"value": randomHex(8)}, http.StatusNoContent)
				}
				put("PUT", "/v1/keychains/"+k.id+"/grants/@it/rewrap", map[string]any{"keys": []string{"API_KEY"}}, http.StatusOK)
			}
		}()
	}
	wg.Wait()
	fails.report(t, "setting up")
	if t.Failed() {
		t.FailNow()
	}
	for _, k := range kcs {
		noteSensitive(k.token, k.value)
	}
	allInject := func(step string) {
		t.Helper()
		for _, k := range kcs {
			inv := in.mintInvocation(t, pkgCode, "rewrap", k.token)
			if r := in.callEgress(t, inv, "GET", "/api/x", nil); r.Status != http.StatusOK {
				t.Fatalf("%s: egress for %s: %s", step, k.id, r)
			}
			if in.Upstream.Last(t).Header.Get("Authorization") != "Bearer "+k.value {
				t.Fatalf("%s: the API did not get %s's value", step, k.id)
			}
		}
	}

	both := in.Config
	both.MasterKey = "k2:" + k2 + ",k1:" + k1
	in.Reload(both)
	// Rewrap, and kill while it runs: the answer races the kill.
	answered := make(chan int, 1)
	go func() {
		r, err := tryHTTP(nil, "POST", in.APIURL+"/v1/rewrap", "", hdr, nil)
		if err != nil {
			answered <- 0
			return
		}
		answered <- r.Status
	}()
	time.Sleep(time.Duration(1+randomBytes(t, 1)[0]%10) * time.Millisecond)
	in.Kill()
	t.Logf("the rewrap answered %d before the kill (0: it did not)", <-answered)

	in.Start() // with k2,k1
	allInject("after the crash, k2,k1")
	r := in.mustAPI(t, http.StatusOK, "POST", "/v1/rewrap", nil)
	var rw struct {
		Rewrapped   int    `json:"rewrapped"`
		MasterKeyID string `json:"master_key_id"`
	}
	if json.Unmarshal(r.Body, &rw); rw.MasterKeyID != "k2" {
		t.Errorf("rewrap after the crash: %s", r)
	}
	t.Logf("the rewrap after the crash re-wrapped %d records", rw.Rewrapped)
	only := in.Config
	only.MasterKey = "k2:" + k2
	in.Reload(only)
	allInject("k2 only")
	in.Restart()
	allInject("k2 only, restarted")
}
