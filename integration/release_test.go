package integration

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReleaseArchive runs scripts/release for linux/amd64 (its flags are
// build-image's, so the build cache mostly serves it; the other three
// targets differ only in GOOS and GOARCH): the archive holds a static
// binary that runs, the docs and the systemd unit, and SHA256SUMS matches.
// Nothing is published.
func TestReleaseArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("builds keygate")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), imageBuildLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "release"), "--version", "v0.0.0-test", "--out", out, "--only", "linux/amd64")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, b)
	}
	name := "keygate_v0.0.0-test_linux_amd64"
	archive := filepath.Join(out, name+".tar.gz")
	body, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if want := hex.EncodeToString(sum[:]) + "  " + name + ".tar.gz\n"; string(sums) != want {
		t.Errorf("SHA256SUMS is %q, want %q", sums, want)
	}

	bin := filepath.Join(t.TempDir(), "keygate")
	var files []string
	gz, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d:%d, mtime %v; want 0:0 and the epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if h.Name == name+"/keygate" {
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o700)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	for _, want := range []string{"keygate", "README.md", "Caddyfile.example", "docs/cli.md", "docs/openapi.json", "deploy/keygate.service"} {
		if !slices.Contains(files, name+"/"+want) {
			t.Errorf("the archive lacks %s: %v", want, files)
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			t.Errorf("the archive holds a test file %s", f)
		}
	}
	e, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, prog := range e.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("the released binary is dynamically linked")
		}
	}
	e.Close()
	if b, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(b), "keygate ") {
		t.Errorf("the released binary's version: %v\n%s", err, b)
	}

	// Bad arguments change nothing and exit 2.
	for _, args := range [][]string{{"--only", "windows/386"}, {"--version", "../x"}, {"--bogus"}} {
		cmd := exec.Command(filepath.Join(root, "scripts", "release"), append(args, "--out", out)...)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("release %v: %v, want exit 2\n%s", args, err, b)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 2 {
		t.Errorf("the bad runs left files in the output: %v", entries)
	}
}

// TestSystemdUnit checks deploy/keygate.service with systemd-analyze
// verify (the binary path pointed at the test's binary) and that it runs
// keygate as its own user, without printing its environment.
func TestSystemdUnit(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "keygate.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nUser=keygate\n", "\nStateDirectory=keygate\n", "\nExecStart=/usr/bin/keygate run --config /etc/keygate/Caddyfile\n", "\nNoNewPrivileges=true\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("keygate.service lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(string(unit), "--environ") && !strings.Contains(string(unit), "# No --environ") {
		t.Error("keygate.service prints the environment at start")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipUnlessCI(t, "systemd-analyze is not installed")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "keygate.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/keygate", Binary(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
}
