package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// treeHash sums every file's path, mode and contents under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Write([]byte(p + "\x00" + info.Mode().String() + "\x00"))
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestValidateChecksMasterKey: `keygate validate` refuses a master key
// that does not open the store, naming its id, both beside a running
// keygate and with keygate stopped, and changes nothing in the data
// directory.
func TestValidateChecksMasterKey(t *testing.T) {
	in := Start(t, Config{})
	in.MustCLI("", "keychain", "create", "--owner", "erin")
	env := in.cliEnv(nil)

	wrongCfg := in.Config
	wrongCfg.MasterKey = base64.StdEncoding.EncodeToString(randomBytes(t, 32))
	wrong := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(wrong, []byte(in.RenderCaddyfile(wrongCfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		r := RunBinary(t, env, "", "validate", "--config", in.Caddyfile, "--adapter", "caddyfile")
		if r.Code != 0 || !strings.Contains(r.Stderr, "master key checked against the store") {
			t.Errorf("%s: validate with the right key: %s", when, r)
		}
		r = RunBinary(t, env, "", "validate", "--config", wrong, "--adapter", "caddyfile")
		if r.Code == 0 || !strings.Contains(r.Stderr, `master key \"default\" does not open this store`) {
			t.Errorf("%s: validate with a wrong key: %s", when, r)
		}
		if strings.Contains(r.Stdout+r.Stderr, wrongCfg.MasterKey) || strings.Contains(r.Stdout+r.Stderr, in.Config.MasterKey) {
			t.Errorf("%s: validate printed a master key", when)
		}
	}
	check("while keygate runs")
	if !in.Running() {
		t.Fatal("keygate stopped while validate ran")
	}
	in.MustCLI("", "keychain", "list", "--owner", "erin")

	in.Stop()
	data := filepath.Dir(in.StoreDir)
	before := treeHash(t, data)
	check("with keygate stopped")
	if treeHash(t, data) != before {
		t.Fatal("validate changed the data directory")
	}
}
