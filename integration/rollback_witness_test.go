package integration

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRollbackWitness: the keygate.audit log carries the chain head after
// each segment. The whole database rolled back to a backup keeps a whole
// chain, so plain verify passes; verify --witness with the exported log
// fails, since the log saw segments the database no longer has.
func TestRollbackWitness(t *testing.T) {
	t.Parallel()
	in := Start(t, Config{GlobalOptions: "log audit {\n\t\tinclude keygate.audit\n\t\toutput stderr\n\t\tformat json\n\t}"})
	heads := func() int { return strings.Count(in.Logs(), `"msg":"audit chain head"`) }
	in.newKeychain(t, "before-backup")
	if !eventually(10*time.Second, 20*time.Millisecond, func() bool { return heads() > 0 }) {
		t.Fatalf("no audit chain head in the log:\n%s", tail(in.Logs(), 10))
	}
	in.Stop()
	backup := filepath.Join(t.TempDir(), "backup")
	copyTree(t, in.StoreDir, backup)
	in.Start()
	n := heads()
	for i := range 3 {
		in.newKeychain(t, "after-backup-"+string(rune('a'+i)))
	}
	if !eventually(10*time.Second, 20*time.Millisecond, func() bool { return heads() > n }) {
		t.Fatal("no new chain head after the backup")
	}
	// The exported log, as an operator ships it.
	exported := filepath.Join(t.TempDir(), "keygate-audit.log")
	if err := os.WriteFile(exported, []byte(in.Logs()), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := in.CLI("", "audit", "verify", "--witness", exported); r.Code != 0 || !strings.Contains(r.Stdout, "witness: segment") {
		t.Fatalf("verify --witness on the live database: %s", r)
	}

	// Roll the whole database back to the backup.
	in.Stop()
	if err := os.RemoveAll(in.StoreDir); err != nil {
		t.Fatal(err)
	}
	copyTree(t, backup, in.StoreDir)
	in.Start()
	if r := in.CLI("", "audit", "verify"); r.Code != 0 {
		t.Fatalf("plain verify after the rollback: %s (a rolled-back chain is whole)", r)
	}
	r := in.CLI("", "audit", "verify", "--witness", exported)
	if r.Code != 1 || !strings.Contains(r.Stderr, "behind the witness") {
		t.Fatalf("verify --witness after the rollback: %s, want exit 1 saying the database is behind", r)
	}
	// Hostile witness parameters: 400, nothing checked.
	for _, q := range []string{"witness_segment=abc", "witness_segment=3&witness_link=zz", "witness_segment=0&witness_link=" + strings.Repeat("a", 64)} {
		if r := in.callAPI(t, "GET", "/v1/audit/verify?"+q, nil); r.Status != http.StatusBadRequest {
			t.Errorf("GET /v1/audit/verify?%s: %s, want 400", q, r)
		}
	}
	// Malformed witness files are refused in one line.
	bad := filepath.Join(t.TempDir(), "empty.log")
	os.WriteFile(bad, []byte("not json\n{\"msg\":\"audit chain head\",\"segment\":\"x\"}\n"), 0o600)
	if r := in.CLI("", "audit", "verify", "--witness", bad); r.Code == 0 || !strings.Contains(r.Stderr, "no \"audit chain head\" line") {
		t.Errorf("a log without chain heads: %s", r)
	}
}
