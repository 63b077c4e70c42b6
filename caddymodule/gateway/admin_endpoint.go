package gateway

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
)

// Caddy's admin endpoint rewrites the whole config, keygate's admin_token
// included, and by default it listens on localhost:2019 without
// credentials, where the package's code, on the same host, reaches it.
// keygate's default is a unix socket that only its own user can open.

// AdminSocketPath is the default admin endpoint of any binary with
// keygate's modules: a unix socket in keygate's data directory.
func AdminSocketPath() string {
	return filepath.Join(caddy.AppDataDir(), "keygate", "admin.sock")
}

// The default is set at init, so that it does not depend on how the
// binary was built: an xcaddy build gets it as cmd/keygate does.
func init() {
	UseAdminSocket(len(os.Args) > 1 && os.Args[1] == "run")
}

// UseAdminSocket makes the admin socket Caddy's default admin address,
// unless CADDY_ADMIN names another. Caddy uses the default when the config
// names no admin address, and so do `keygate reload` and `keygate stop`
// without --address, so they find it. With serving set (the command runs a
// server), the socket is bound through keygate's admin socket network,
// which refuses while another process holds it, and its directory is
// created (mode 0700), since the admin endpoint starts before the keygate
// app; other commands (the CLI, keygate dev) write nothing.
func UseAdminSocket(serving bool) {
	if _, set := os.LookupEnv("CADDY_ADMIN"); set {
		return
	}
	path := AdminSocketPath()
	network := "unix"
	if serving {
		_ = os.MkdirAll(filepath.Dir(path), 0o700) // else Caddy's listen error says why
		network = adminSocketNetwork
	}
	caddy.DefaultAdminListen = network + "/" + path + "|0600"
}

// adminListen is the admin address of the config being provisioned, or ""
// when the endpoint is disabled. Caddy keeps the config in the context
// unexported, so it is read through reflection, which cannot change it.
func adminListen(ctx caddy.Context) string {
	cfg := reflect.ValueOf(ctx).FieldByName("cfg")
	if !cfg.IsValid() || cfg.IsNil() {
		return caddy.DefaultAdminListen
	}
	admin := cfg.Elem().FieldByName("Admin")
	if !admin.IsValid() || admin.IsNil() {
		return caddy.DefaultAdminListen
	}
	if admin.Elem().FieldByName("Disabled").Bool() {
		return ""
	}
	if l := admin.Elem().FieldByName("Listen").String(); l != "" {
		return l
	}
	return caddy.DefaultAdminListen
}

// warnNetworkAdmin says, at start, what an admin endpoint reachable over
// the network exposes.
func warnNetworkAdmin(ctx caddy.Context, logger *zap.Logger) {
	addr := adminListen(ctx)
	if addr == "" {
		return
	}
	na, err := caddy.ParseNetworkAddress(addr)
	switch {
	case err == nil && na.IsUnixNetwork():
		// Caddy itself warns "admin endpoint on open interface; host
		// checking disabled" for every unix socket: there is no Host to
		// check. Who can connect is what matters, and the mode says it.
		_, perm, _ := strings.Cut(na.Host, "|")
		logger.Info("Caddy's admin endpoint is a unix socket: only processes that may open it can connect (Caddy's \"open interface\" warning is about its Host check, which a socket does not need)",
			zap.String("socket", strings.TrimSuffix(na.Host, "|"+perm)), zap.String("mode", perm))
	case err == nil && na.IsFdNetwork():
	default:
		how := "remove the admin option"
		if _, set := os.LookupEnv("CADDY_ADMIN"); set {
			how = "unset CADDY_ADMIN"
		}
		logger.Warn("Caddy's admin endpoint listens on a TCP address: any process that can connect to it can rewrite keygate's config, its admin_token and its sites included; "+how+" to use keygate's default unix socket",
			zap.String("admin", addr), zap.String("default_socket", AdminSocketPath()))
	}
}
