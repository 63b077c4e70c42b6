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

// TestSocketTakeoverRefused: a second `keygate run` with the running
// instance's config (same data directory, same default admin socket) must
// fail without touching the running instance's admin socket: `keygate
// reload` and `keygate stop` without --address still reach the first.
func TestSocketTakeoverRefused(t *testing.T) {
	t.Parallel()
	t.Run("badger", func(t *testing.T) {
		t.Parallel()
		tmpl := strings.Replace(DefaultCaddyfile, "\tadmin {{.AdminAddr}}\n", "", 1)
		socketTakeover(t, newWorld(t, Config{Template: tmpl}))
	})
	// PostgreSQL has no directory lock: the socket's own lock is all
	// that keeps a second node from taking the first one's socket.
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		cfg := pgNodeConfig(t, pgDatabase(t, t.Name()))
		cfg.Template = strings.Replace(pgCaddyfile, "\tadmin {{.AdminAddr}}\n", "", 1)
		socketTakeover(t, newWorld(t, cfg))
	})
}

func socketTakeover(t *testing.T, w *world) {
	in := w.in
	sock := filepath.Join(in.Dir, "xdg-data", "caddy", "keygate", "admin.sock")
	before, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("no admin socket: %v", err)
	}
	if !strings.Contains(in.Logs(), "Caddy's admin endpoint is a unix socket") {
		t.Error("the start log does not say the admin endpoint is a unix socket")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), "run", "--config", in.Caddyfile, "--adapter", "caddyfile")
	cmd.Env = in.Env
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the second keygate kept running:\n%s", tail(redact(string(out)), 10))
	}
	if err == nil {
		t.Fatalf("the second keygate exited 0:\n%s", tail(redact(string(out)), 10))
	}
	if !strings.Contains(string(out), "another keygate is running with the admin socket "+sock) {
		t.Errorf("the refusal does not say another keygate holds the socket:\n%s", tail(redact(string(out)), 5))
	}
	after, err := os.Stat(sock)
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("the running instance's admin socket was replaced or removed (%v)", err)
	}
	r := RunBinary(t, in.Env, "", "reload", "--config", in.Caddyfile, "--adapter", "caddyfile")
	if r.Code != 0 {
		t.Fatalf("keygate reload without --address after the second run: %s", r)
	}
	w.healthy(t)
	if r := RunBinary(t, in.Env, "", "stop"); r.Code != 0 {
		t.Fatalf("keygate stop without --address: %s", r)
	}
	in.mu.Lock()
	done := in.done
	in.mu.Unlock()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("keygate stop did not stop the running instance")
	}
}
