package gateway

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestAdminListen pins the reflection on Caddy's context to the Caddy
// version in go.mod: each admin setting of a config is read back.
func TestAdminListen(t *testing.T) {
	tests := []struct {
		name  string
		admin *caddy.AdminConfig
		want  string
	}{
		{"none: the default", nil, caddy.DefaultAdminListen},
		{"empty listen: the default", &caddy.AdminConfig{}, caddy.DefaultAdminListen},
		{"tcp", &caddy.AdminConfig{Listen: "127.0.0.1:2019"}, "127.0.0.1:2019"},
		{"unix", &caddy.AdminConfig{Listen: "unix//tmp/a.sock|0600"}, "unix//tmp/a.sock|0600"},
		{"disabled", &caddy.AdminConfig{Disabled: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: tt.admin})
			if err != nil {
				t.Fatal(err)
			}
			if got := adminListen(ctx); got != tt.want {
				t.Errorf("adminListen = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUseAdminSocket(t *testing.T) {
	prev := caddy.DefaultAdminListen
	t.Cleanup(func() { caddy.DefaultAdminListen = prev })
	t.Setenv("XDG_DATA_HOME", t.TempDir())

	t.Setenv("CADDY_ADMIN", "127.0.0.1:1")
	caddy.DefaultAdminListen = "from-env"
	UseAdminSocket(true)
	if caddy.DefaultAdminListen != "from-env" {
		t.Errorf("CADDY_ADMIN was overridden: %q", caddy.DefaultAdminListen)
	}

	os.Unsetenv("CADDY_ADMIN") // t.Setenv restores it
	UseAdminSocket(false)
	if _, err := os.Stat(filepath.Dir(AdminSocketPath())); !os.IsNotExist(err) {
		t.Errorf("a command that serves nothing created the socket directory (%v)", err)
	}
	UseAdminSocket(true)
	if want := "unix/" + AdminSocketPath() + "|0600"; caddy.DefaultAdminListen != want {
		t.Errorf("default admin = %q, want %q", caddy.DefaultAdminListen, want)
	}
	fi, err := os.Stat(filepath.Dir(AdminSocketPath()))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
}
