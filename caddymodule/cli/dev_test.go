package cli

import (
	"bytes"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

func devTestManifest() *store.Manifest {
	return &store.Manifest{
		Name: "@dev/pkg", Host: "pkg",
		Keys: []store.KeySpec{
			{Name: "API_KEY", Required: true, Hosts: []string{"*.example.com", "api.example.com"}},
			{Name: "LOCAL_KEY", Hosts: []string{"127.0.0.1:9100"}},
			{Name: "NO_HOSTS"},
		},
		AppKeys: []store.KeySpec{{Name: "HOOK_SECRET", Hosts: []string{"[::1]:8443"}}},
	}
}

func TestReadDevValues(t *testing.T) {
	m := devTestManifest()
	tests := []struct {
		name    string
		environ []string
		user    map[string]string
		app     map[string]string
		wantErr string
	}{
		{name: "none", environ: []string{"PATH=/bin"}, user: map[string]string{}, app: map[string]string{}},
		{name: "user and app", environ: []string{"KEYGATE_SECRET_API_KEY=v1", "KEYGATE_SECRET_HOOK_SECRET=v2", "OTHER=x"},
			user: map[string]string{"API_KEY": "v1"}, app: map[string]string{"HOOK_SECRET": "v2"}},
		{name: "value with =", environ: []string{"KEYGATE_SECRET_API_KEY=a=b"}, user: map[string]string{"API_KEY": "a=b"}, app: map[string]string{}},
		{name: "undeclared", environ: []string{"KEYGATE_SECRET_ZED=hidden1", "KEYGATE_SECRET_FOO=hidden2", "KEYGATE_SECRET_API_KEY=v"},
			wantErr: "KEYGATE_SECRET_FOO, KEYGATE_SECRET_ZED: not declared"},
		{name: "case matters", environ: []string{"KEYGATE_SECRET_api_key=hidden"}, wantErr: "KEYGATE_SECRET_api_key: not declared"},
		{name: "empty", environ: []string{"KEYGATE_SECRET_API_KEY="}, wantErr: "KEYGATE_SECRET_API_KEY: empty"},
		{name: "bare prefix", environ: []string{"KEYGATE_SECRET_=hidden"}, wantErr: "KEYGATE_SECRET_: not declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := readDevValues(m, tt.environ)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hidden") {
					t.Fatal("the error holds a value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalMaps(v.user, tt.user) || !equalMaps(v.app, tt.app) {
				t.Fatalf("got %v %v, want %v %v", v.user, v.app, tt.user, tt.app)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDevEgressRoutes(t *testing.T) {
	got := devEgressRoutes(devTestManifest())
	want := []egressRoute{
		{name: "API_KEY", target: "https://api.example.com"},
		{name: "LOCAL_KEY", target: "http://127.0.0.1:9100"},
		{name: "HOOK_SECRET", app: true, target: "http://[::1]:8443"},
	}
	if len(got) != len(want) {
		t.Fatalf("routes = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("route %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestDevEgressRoutesPreset: a key's preset goes on its dev route (with
// aws-s3's region from its placement); twilio's, which needs a user, not.
func TestDevEgressRoutesPreset(t *testing.T) {
	m := devTestManifest()
	m.Keys = []store.KeySpec{{Name: "ANTHROPIC", Preset: "anthropic"}, {Name: "S3", Preset: "aws-s3", Placement: &store.Placement{SigV4: &store.SigV4Placement{Region: "eu-west-1"}}},
		{Name: "TWILIO", Preset: "twilio", Hosts: []string{"api.twilio.com"}}}
	m.AppKeys, m.Version, m.SHA256, m.Upstream = nil, "1", strings.Repeat("a", 64), "http://127.0.0.1:1"
	if err := store.ValidateManifest(m); err != nil {
		t.Fatal(err)
	}
	routes := devEgressRoutes(m)
	if len(routes) != 3 || routes[0].target != "https://api.anthropic.com" || routes[1].target != "https://s3.amazonaws.com" {
		t.Fatalf("%+v", routes)
	}
	src := devCaddyfile("k", "kgadm_dev_x", devPorts{api: 1001, site: 1002, egress: 1003}, routes)
	if _, err := caddyfile.Parse("keygate-dev", []byte(src)); err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	for _, want := range []string{"secret ANTHROPIC\n\t\t\t\tpreset anthropic\n", "preset aws-s3\n\t\t\t\tsigv4 {\n\t\t\t\t\tregion eu-west-1\n", "secret TWILIO\n\t\t\t}"} {
		if !strings.Contains(src, want) {
			t.Errorf("dev Caddyfile lacks %q:\n%s", want, src)
		}
	}
}

// TestDevCaddyfile checks that the generated config parses, binds
// loopback only and keeps Caddy's admin endpoint off. (That it adapts and
// runs is checked through the binary, in integration/dev_test.go: this
// package may not import the modules.)
func TestDevCaddyfile(t *testing.T) {
	src := devCaddyfile("k", "kgadm_dev_x", devPorts{api: 1001, site: 1002, egress: 1003}, devEgressRoutes(devTestManifest()))
	blocks, err := caddyfile.Parse("keygate-dev", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	if len(blocks) != 4 {
		t.Fatalf("want the global options and three sites, got %d blocks", len(blocks))
	}
	for _, want := range []string{"admin off", "persist_config off", "storage memory", "http://:1001 {", "http://*.dev.localhost:1002 {",
		"http://:1003 {", "protocols h1", "level ERROR", "include keygate.audit", "reverse_proxy http://[::1]:8443", "secret HOOK_SECRET app", "reverse_proxy https://api.example.com"} {
		if !strings.Contains(src, want) {
			t.Errorf("dev Caddyfile lacks %q", want)
		}
	}
	if n := strings.Count(src, "\tbind keygate/127.0.0.1\n"); n != 3 {
		t.Errorf("want every site bound exclusively to 127.0.0.1, got %d binds", n)
	}
}

func TestReadDevManifest(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"name":"@dev/pkg","version":"1","sha256":"`+strings.Repeat("a", 64)+`","host":"pkg","upstream":"http://127.0.0.1:1"}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"name":"@dev/pkg","colour":"red"}`), 0o600)
	notObject := filepath.Join(dir, "list.json")
	os.WriteFile(notObject, []byte(`[1]`), 0o600)

	dm, err := readDevManifest(good, "http://127.0.0.1:3000")
	if err != nil {
		t.Fatal(err)
	}
	if dm.m.Upstream != "http://127.0.0.1:3000" || !bytes.Contains(dm.raw, []byte(`"upstream":"http://127.0.0.1:3000"`)) {
		t.Fatalf("--upstream not applied: %s", dm.raw)
	}
	for _, tt := range []struct{ path, upstream, want string }{
		{bad, "", "colour"},
		{notObject, "http://127.0.0.1:1", "not a JSON object"},
		{filepath.Join(dir, "none.json"), "", "no such file"},
		{good, "ftp://x", "--upstream"},
		{good, "http://user:pw@127.0.0.1", "--upstream"},
	} {
		_, err := readDevManifest(tt.path, tt.upstream)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("readDevManifest(%s, %q) = %v, want %q", filepath.Base(tt.path), tt.upstream, err, tt.want)
		}
	}
}

func TestDevStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if _, err := readDevState(path); err == nil || !strings.Contains(err.Error(), "start `keygate dev` first") {
		t.Fatalf("missing state: %v", err)
	}
	s := devState{PID: os.Getpid(), Manifest: "/m.json", Package: "@dev/pkg", Keychain: "kc_x", SiteURL: "http://pkg.dev.localhost:1"}
	if err := writeDevState(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode = %v, %v; want 0600", fi, err)
	}
	got, err := readDevState(path)
	if err != nil || got != s {
		t.Fatalf("read %+v, %v; want %+v", got, err, s)
	}
	other := s
	other.PID = s.PID + 1
	writeDevState(path, other)
	removeDevState(path)
	if _, err := os.Stat(path); err != nil {
		t.Fatal("removed another process's state file")
	}
	writeDevState(path, s)
	removeDevState(path)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("did not remove its own state file")
	}
}

// TestSignWebhook checks that the printed curl line carries headers that
// verify, for the running dev gateway's URL, and holds no secret.
func TestSignWebhook(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "keygate.package.json")
	os.WriteFile(manifest, []byte(`{"name":"@dev/pkg","webhooks":[
		{"name":"stripe","path":"/hook","scheme":"stripe","secret":"STRIPE_WHSEC","tolerance":"5m"},
		{"name":"std","path":"/std","scheme":"standard","secret":"STD_SECRET"}]}`), 0o600)
	body := filepath.Join(dir, "event.json")
	os.WriteFile(body, []byte(`{"id":"evt_1","type":"ping"}`), 0o600)
	state := filepath.Join(dir, "state.json")
	writeDevState(state, devState{PID: 1, Manifest: manifest, Package: "@dev/pkg", Keychain: "kc_abc", SiteURL: "http://pkg.dev.localhost:4242"})
	t.Setenv(envDevState, state)
	const secret = "whsec_topsecretvalue"
	t.Setenv("KEYGATE_SECRET_STRIPE_WHSEC", secret)

	var out bytes.Buffer
	e := &env{stdout: &out}
	e.flags = signFlags(t, "")
	if err := signWebhook(e, []string{"stripe", body}); err != nil {
		t.Fatal(err)
	}
	line := out.String()
	if !strings.Contains(line, "'http://pkg.dev.localhost:4242/_keygate/webhooks/kc_abc/stripe'") {
		t.Fatalf("wrong URL:\n%s", line)
	}
	if strings.Contains(line, "topsecretvalue") {
		t.Fatal("the curl line holds the signing secret")
	}
	sig := between(line, "-H 'Stripe-Signature: ", "'")
	h := http.Header{"Stripe-Signature": {sig}}
	raw, _ := os.ReadFile(body)
	if _, err := policy.VerifyWebhook(policy.WebhookSchemeStripe, []byte(secret), h, raw, time.Now(), 0); err != nil {
		t.Fatalf("printed signature does not verify: %v", err)
	}

	for _, tt := range []struct{ name, want string }{
		{"nope", "declares no webhook nope (it declares: stripe, std)"},
		{"std", "set KEYGATE_SECRET_STD_SECRET"},
	} {
		err := signWebhook(&env{stdout: &out, flags: signFlags(t, "")}, []string{tt.name, body})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	os.Remove(state)
	if err := signWebhook(&env{stdout: &out, flags: signFlags(t, manifest)}, []string{"stripe", body}); err == nil || !strings.Contains(err.Error(), "no running keygate dev") {
		t.Errorf("without a dev gateway: %v", err)
	}
}

func signFlags(t *testing.T, manifest string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("sign-webhook", pflag.ContinueOnError)
	signWebhookLeaf().flags(fs)
	if manifest != "" {
		fs.Set("manifest", manifest)
	}
	return fs
}

func between(s, start, end string) string {
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, end)
	return v
}

// The first key signed with sigv4 gives the AWS SDKs their credentials
// (the placeholder pair) and no session token of the caller's; a second
// one, and a header handed out for no declared key, give nothing more.
func TestDevKeyEnvironment(t *testing.T) {
	sigv4 := &store.Placement{SigV4: &store.SigV4Placement{Service: "s3", Region: "us-east-1"}}
	x := &devExec{placeholders: map[string]string{
		"Keygate-Placeholder-Api-Key":     "kgph_api",
		"Keygate-Placeholder-Aws":         "kgph_aws",
		"Keygate-Sigv4-Secret-Aws":        "kgsk_aws",
		"Keygate-Placeholder-Aws-Other":   "kgph_other",
		"Keygate-Sigv4-Secret-Aws-Other":  "kgsk_other",
		"Keygate-Sigv4-Secret-Undeclared": "kgsk_x",
	}}
	phs, aws := x.keyEnvironment([]store.KeySpec{{Name: "API_KEY"}, {Name: "AWS", Placement: sigv4}, {Name: "AWS_OTHER", Placement: sigv4}})
	if want := map[string]string{"API_KEY": "kgph_api", "AWS": "kgph_aws", "AWS_OTHER": "kgph_other"}; !maps.Equal(phs, want) {
		t.Fatalf("placeholders %v, want %v", phs, want)
	}
	want := []string{"AWS_ACCESS_KEY_ID=kgph_aws", "AWS_SECRET_ACCESS_KEY=kgsk_aws", "AWS_SESSION_TOKEN=", "AWS_SECURITY_TOKEN="}
	if strings.Join(aws, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v\nwant %v", aws, want)
	}
}
