package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestXcaddyStyleBuild builds a binary the way xcaddy does (README,
// "Building with xcaddy"): a main package of its own module that imports
// caddymodule and Caddy's standard modules, with a replace directive to
// this repository; the binary must have keygate's modules and commands.
func TestXcaddyStyleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a whole Caddy")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module caddy\n\ngo 1.26.0\n\nrequire github.com/keygate/keygate v0.0.0\n\nreplace github.com/keygate/keygate => " + root + "\n"
	main := `package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/keygate/keygate/caddymodule"
)

func main() {
	caddycmd.Main()
}
`
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string][]byte{"go.mod": []byte(gomod), "main.go": []byte(main), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.Command(goTool(), "build", "-mod=mod", "-o", bin, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	for _, m := range []string{"keygate", "http.handlers.keygate_package", "http.handlers.keygate_api", "http.reverse_proxy.transport.keygate"} {
		if !strings.Contains(string(out), m+"\n") {
			t.Errorf("the xcaddy-style build lacks module %s", m)
		}
	}
	help, _ := exec.Command(bin, "help").CombinedOutput()
	if !strings.Contains(string(help), "  keychain ") || !strings.Contains(string(help), "  grant ") {
		t.Errorf("the xcaddy-style build lacks keygate's commands:\n%s", help)
	}
}
