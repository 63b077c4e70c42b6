// Command keygate is Caddy with keygate's modules built in: every caddy
// command (run, reload, adapt, validate, version, ...) plus keygate's own.
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/keygate/keygate/caddymodule"
	"github.com/keygate/keygate/caddymodule/gateway"
)

func main() {
	caddy.CustomBinaryName = "keygate"
	gateway.UseAdminSocket()
	caddycmd.Main()
}
