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
	if want := "unix/" + AdminSocketPath() + "|0600"; caddy.DefaultAdminListen != want {
		t.Errorf("default admin of a command that serves nothing = %q, want %q", caddy.DefaultAdminListen, want)
	}
	UseAdminSocket(true)
	if want := adminSocketNetwork + "/" + AdminSocketPath() + "|0600"; caddy.DefaultAdminListen != want {
		t.Errorf("default admin = %q, want %q", caddy.DefaultAdminListen, want)
	}
	fi, err := os.Stat(filepath.Dir(AdminSocketPath()))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
}

// TestAdminSocketDefaultAtInit: the default admin address is keygate's
// socket in any binary with this package, whatever its main does (an
// xcaddy build's main calls nothing of keygate's).
func TestAdminSocketDefaultAtInit(t *testing.T) {
	if _, set := os.LookupEnv("CADDY_ADMIN"); set {
		t.Skip("CADDY_ADMIN is set")
	}
	if want := "unix/" + AdminSocketPath() + "|0600"; caddy.DefaultAdminListen != want {
		t.Errorf("default admin at init = %q, want %q", caddy.DefaultAdminListen, want)
	}
}
