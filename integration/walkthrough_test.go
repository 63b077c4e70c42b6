package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestREADMEWalkthrough follows the README's first run on the shipped
// Caddyfile.example (its ports moved to free ones) and the demo program in
// examples/echo-tools: keychain, secret, package, a refused call, the
// grant, and the call whose package reaches the demo API through egress.
// The demo API shows the key's length and sha256 prefix, never the key.
func TestREADMEWalkthrough(t *testing.T) {
	in, root, pkgAddr := startExample(t)

	var kc struct{ ID, Token string }
	if err := json.Unmarshal([]byte(in.MustCLI("", "keychain", "create", "--owner", "alice", "--json").Stdout), &kc); err != nil {
		t.Fatal(err)
	}
	const key = "demo-key-123"
	in.MustCLI(key, "secret", "set", kc.ID, "DEMO_API_KEY", "--allow-host", "127.0.0.1")
	putExampleManifest(t, in, root, pkgAddr, "keygate.package.json")

	agent := func() (int, string) {
		req, _ := http.NewRequest("GET", in.IngressURL+"/", nil)
		req.Host = "echo-tools.keygate.localhost"
		req.Header.Set("Authorization", "Bearer "+kc.Token)
		res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if st, body := agent(); st != 403 || !strings.Contains(body, "keygate grant") {
		t.Fatalf("before the grant: %d %s", st, body)
	}
	in.MustCLI("", "grant", kc.ID, "@demo/echo-tools", "DEMO_API_KEY")
	st, body := agent()
	sum := sha256.Sum256([]byte(key))
	for _, want := range []string{"usable keys: DEMO_API_KEY", "keygate answered 200",
		"got X-Api-Key of length 12, sha256 prefix " + hex.EncodeToString(sum[:4]), "Authorization present: false"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Fatalf("after the grant: %d, answer lacks %q:\n%s", st, want, body)
		}
	}
	if strings.Contains(body, key) || strings.Contains(in.Logs(), key) {
		t.Fatal("the key appears in an answer or the log")
	}
	if strings.Contains(in.Logs(), "HTTP/2 skipped") {
		t.Error("the example config still warns that HTTP/2 is skipped")
	}
}

// startEchoTools builds and runs examples/echo-tools until the test ends.
func startEchoTools(t *testing.T, root, pkgAddr, apiAddr, egress string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "echo-tools")
	build := exec.Command(goTool(), "build", "-o", bin, "./examples/echo-tools")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo-tools: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-package", pkgAddr, "-api", apiAddr, "-egress", egress)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for i := 0; i < 200 && !(dialOK("http://"+pkgAddr) && dialOK("http://"+apiAddr)); i++ {
		time.Sleep(25 * time.Millisecond)
	}
}
