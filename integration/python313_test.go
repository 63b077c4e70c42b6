package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// python313 finds a Python 3.13 (its urllib verifies X.509 strictly, which
// is what the proxy site's leaves are checked against): python3.13 on
// PATH, else pyenv's. Without one the test skips, and fails under CI=true.
func python313(t *testing.T) string {
	t.Helper()
	var cands []string
	if p, err := exec.LookPath("python3.13"); err == nil {
		cands = append(cands, p)
	}
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		if home, err := os.UserHomeDir(); err == nil {
			root = filepath.Join(home, ".pyenv")
		}
	}
	if root != "" {
		vs, _ := filepath.Glob(filepath.Join(root, "versions", "3.13*", "bin", "python3"))
		cands = append(cands, vs...)
	}
	for _, p := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		// A pyenv shim answers only when 3.13 is its selected version: ask
		// the interpreter itself.
		out, err := exec.CommandContext(ctx, p, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
		cancel()
		if err == nil && strings.TrimSpace(string(out)) == "3.13" {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Python 3.13 is needed (python3.13 on PATH, or pyenv's: pyenv install 3.13.0)")
	}
	t.Skip("no Python 3.13 (python3.13 on PATH, or pyenv's under $PYENV_ROOT/versions)")
	return ""
}
