// Command keygate is Caddy with keygate's modules built in: keygate's own
// commands plus Caddy's (run, reload, adapt, validate, ...). Its help and
// version are keygate's; the Caddy commands that would replace the binary
// with one without keygate refuse.
package main

import (
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/keygate/keygate/caddymodule"
	"github.com/keygate/keygate/caddymodule/gateway"
)

func main() {
	caddy.CustomBinaryName = "keygate"
	serving := len(os.Args) > 1 && (os.Args[1] == "run" || os.Args[1] == "start")
	gateway.UseAdminSocket(serving)
	if serving {
		keepHeapFloor(os.Getenv)
	}
	caddy.CustomLongDescription = longDescription
	if code, handled := intercept(os.Args[1:], os.Stdout, os.Stderr); handled {
		os.Exit(code)
	}
	caddycmd.Main()
}
