package caddymodule

// The CLI subcommands register themselves with caddycmd in their init, so
// any build with this module (keygate's main, or xcaddy build --with) has
// them.
import _ "github.com/keygate/keygate/caddymodule/cli"
