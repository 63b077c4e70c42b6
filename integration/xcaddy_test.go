package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// xcaddyVersion is the xcaddy the test installs: a build tool, not a
// dependency of keygate.
const (
	xcaddyVersion      = "v0.4.5"
	xcaddyInstallLimit = 3 * time.Minute
	xcaddyBuildLimit   = 15 * time.Minute
)

// TestXcaddyBuild runs the README's xcaddy line, as written, from the
// repository root, with xcaddy itself installed from the Go proxy; the
// binary must have keygate's modules and commands. Without the network it
// skips, unless CI=true.
func TestXcaddyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a whole Caddy")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	line := readmeXcaddyLine(t, root)
	args := strings.Fields(line)
	outIdx := slices.Index(args, "--output")
	if outIdx < 0 || outIdx+1 >= len(args) {
		t.Fatalf("the README's xcaddy line names no --output: %s", line)
	}
	if args[outIdx+1] == "keygate" {
		t.Fatalf("the README's xcaddy line overwrites the go build binary ./keygate: %s", line)
	}

	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), xcaddyInstallLimit)
	defer cancel()
	install := exec.CommandContext(ctx, goTool(), "install", "github.com/caddyserver/xcaddy/cmd/xcaddy@"+xcaddyVersion)
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		skipUnlessCI(t, "cannot install xcaddy %s: %v\n%s", xcaddyVersion, err, out)
	}

	// The line runs from the repository root as written, but writes its
	// binary to a temporary directory so that the clone stays clean.
	bin := filepath.Join(t.TempDir(), args[outIdx+1])
	args[outIdx+1] = bin
	ctx, cancel = context.WithTimeout(context.Background(), xcaddyBuildLimit)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(gobin, "xcaddy"), args[1:]...)
	build.Dir = root
	build.Env = append(os.Environ(), "PATH="+filepath.Dir(goTool())+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	out, err := exec.Command(bin, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	for _, m := range []string{"keygate", "http.handlers.keygate_package", "http.handlers.keygate_api", "http.reverse_proxy.transport.keygate"} {
		if !strings.Contains(string(out), m+"\n") {
			t.Errorf("the xcaddy build lacks module %s", m)
		}
	}
	help, _ := exec.Command(bin, "help").CombinedOutput()
	if !strings.Contains(string(help), "  keychain ") || !strings.Contains(string(help), "  grant ") {
		t.Errorf("the xcaddy build lacks keygate's commands:\n%s", help)
	}
}

var xcaddyLine = regexp.MustCompile(`^xcaddy build .*`)

// readmeXcaddyLine is the one xcaddy command in the README's code blocks.
func readmeXcaddyLine(t *testing.T, root string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); xcaddyLine.MatchString(l) {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one xcaddy line in README.md, found %q", found)
	}
	return found[0]
}

// skipUnlessCI skips t, or fails it under CI=true, where what is missing
// must be there.
func skipUnlessCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
