package integration

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMasterKeyFileLostRefused: the master.key beside an existing store
// is gone. keygate must refuse to start, say where the key was expected,
// and write nothing (no new master.key that then fails to open the store).
func TestMasterKeyFileLostRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, Config{FirstRun: true})
	in := w.in
	keyPath := filepath.Join(in.StoreDir, "master.key")
	key, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	noteSensitive(strings.TrimSpace(string(key)))
	in.Stop()
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, in.StoreDir)
	r := in.runUntilExit(t, 30*time.Second, "run", "--config", in.Caddyfile, "--adapter", "caddyfile")
	if r.Code == 0 {
		t.Fatal("keygate started without its master key file")
	}
	if !strings.Contains(r.Stderr, "its master key file "+keyPath+" is missing") {
		t.Errorf("the refusal does not say where the key was expected:\n%s", tail(redactResult(r).Stderr, 5))
	}
	if _, err := os.Stat(keyPath); err == nil {
		t.Error("a new master.key was written next to the existing store")
	}
	if d := diffTrees(before, hashTree(t, in.StoreDir)); len(d) > 0 {
		t.Errorf("the data directory changed: %v", d)
	}
	// Put back, it opens everything again.
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	in.Start()
	w.healthy(t)
}

// TestMasterKeyRotationPlaceholders: with master_key {env.*}, setting
// the variable for `keygate reload` changes nothing, and reload says so;
// rewrap then names the active key and never tells the operator to remove
// the key that seals everything. With {file.*}, editing the file and
// reloading rotates, and after rewrap the old key is said to seal nothing.
func TestMasterKeyRotationPlaceholders(t *testing.T) {
	t.Parallel()
	b64 := func() string { return base64.StdEncoding.EncodeToString(randomBytes(t, 32)) }
	k1, k2 := b64(), b64()
	noteSensitive(k1, k2)
	w := newWorld(t, Config{MasterKey: "{env.KEYGATE_MASTER_KEY}", Env: []string{"KEYGATE_MASTER_KEY=k1:" + k1}})
	in := w.in

	// The operator sets the new keys for the reload only.
	r := RunBinary(t, mergeEnv(in.Env, []string{"KEYGATE_MASTER_KEY=k2:" + k2 + ",k1:" + k1}), "",
		"reload", "--config", in.Caddyfile, "--adapter", "caddyfile", "--address", in.AdminAddr, "--force")
	if r.Code != 0 {
		t.Fatalf("reload: %s", redactResult(r))
	}
	if !strings.Contains(r.Stdout, "the master keys did not change (active k1; configured k1)") {
		t.Errorf("reload does not say the master keys did not change:\n%s", redactResult(r).Stdout)
	}
	r = in.MustCLI("", "rewrap")
	if strings.Contains(r.Stdout, "k1: seals nothing") || strings.Contains(r.Stdout, "may now leave") {
		t.Errorf("rewrap tells the operator the only key may leave:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "Active master key (seals new values): k1.") || !strings.Contains(r.Stdout, "k1 is the only master key") {
		t.Errorf("rewrap does not name the active key:\n%s", r.Stdout)
	}

	// {file.*} is read again on reload.
	keyFile := filepath.Join(in.Dir, "master_key")
	if err := os.WriteFile(keyFile, []byte("k2:"+k2+",k1:"+k1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := in.Config
	cfg.MasterKey = "{file." + keyFile + "}"
	r = in.Reload(cfg)
	if !strings.Contains(r.Stdout, "master keys changed: active k2 (was k1); configured k2,k1") {
		t.Errorf("reload does not say the master keys changed:\n%s", redactResult(r).Stdout)
	}
	r = in.MustCLI("", "rewrap")
	if !strings.Contains(r.Stdout, "Active master key (seals new values): k2.") || !strings.Contains(r.Stdout, "  k1: seals nothing: it may leave master_key") {
		t.Errorf("rewrap after the rotation:\n%s", r.Stdout)
	}
	w.healthy(t)
}
