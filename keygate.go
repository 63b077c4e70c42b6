// Package keygate is the module root's package so that xcaddy's obvious line
// works from a clone or a published version:
//
//	xcaddy build --with github.com/keygate/keygate=./ --output keygate-caddy
//
// Importing it is importing caddymodule: every keygate module and the CLI.
package keygate

import _ "github.com/keygate/keygate/caddymodule"
