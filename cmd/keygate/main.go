// Command keygate is Caddy with keygate's modules built in: keygate's own
// commands plus Caddy's (run, reload, adapt, validate, ...). Its help and
// version are keygate's; the Caddy commands that would replace the binary
// with one without keygate refuse.
package main

import (
	"fmt"
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
	reloading := len(os.Args) > 1 && os.Args[1] == "reload"
	var before gateway.MasterKeys
	var known bool
	var addr string
	if reloading {
		addr = reloadAdminAddress(os.Args[2:])
		before, known = masterKeyIDs(addr)
	}
	caddycmd.Main() // returns only on success
	if reloading && known {
		if after, ok := masterKeyIDs(addr); ok {
			fmt.Println(reloadKeysNote(before, after))
		}
	}
}
