package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDevModeOutput: keygate dev's terminal shows its summary, the
// management API's port (settable with --api-port) and the declared
// webhooks' URLs, and not Caddy's start-up logs or its HTTP/2 and HTTP/3
// warnings.
func TestDevModeOutput(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "keygate.package.json")
	os.WriteFile(manifest, []byte(`{"name":"@demo/hooks","version":"1.0.0","sha256":"`+strings.Repeat("ab", 32)+`",
		"host":"hooks","upstream":"http://127.0.0.1:1",
		"keys":[{"name":"STRIPE_WEBHOOK_SECRET","required":true}],
		"webhooks":[{"name":"stripe","path":"/stripe-webhook","scheme":"stripe","secret":"STRIPE_WEBHOOK_SECRET"}]}`), 0o600)
	api := FreePorts(t, 1)[0]
	dev := startDev(t, []string{"KEYGATE_SECRET_STRIPE_WEBHOOK_SECRET=whsec_" + RandomToken(t, "")},
		"--manifest", manifest, "--api-port", strconv.Itoa(api))
	o := dev.ready()
	deadline := time.Now().Add(readyTimeout)
	for !strings.Contains(dev.out.String(), "sign one:") && time.Now().Before(deadline) {
		time.Sleep(readyPoll)
	}
	out := dev.out.String()
	for _, want := range []string{
		"  management API  http://127.0.0.1:" + strconv.Itoa(api) + " ",
		"    stripe               " + strings.TrimSuffix(o.site, "/") + "/_keygate/webhooks/kc_",
		"/stripe  -> /stripe-webhook (stripe)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("keygate dev's summary lacks %q:\n%s", want, out)
		}
	}
	dev.cmd.Process.Signal(os.Interrupt)
	dev.wait()
	errs := dev.errs.String()
	for _, noise := range []string{"HTTP/2 skipped", "HTTP/3 skipped", "server running", `"level":"info"`} {
		if strings.Contains(errs, noise) {
			t.Errorf("keygate dev's terminal shows %q:\n%s", noise, tail(errs, 20))
		}
	}
	if !strings.Contains(errs, "keygate.audit") {
		t.Errorf("keygate dev no longer shows the audit trail:\n%s", tail(errs, 20))
	}

	// Hostile ports: refused before anything starts.
	for _, args := range [][]string{{"--api-port", "70000"}, {"--api-port", "-1"}, {"--port", "4000", "--api-port", "4000"}} {
		p := startDev(t, nil, append([]string{"--manifest", manifest}, args...)...)
		if code := p.wait(); code != 2 {
			t.Errorf("dev %v: exit %d, want 2\n%s", args, code, p.errs.String())
		}
	}
}
