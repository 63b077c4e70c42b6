// Package caddymodule brings in every keygate module and the CLI, as
// Caddy's modules/standard does: build with
//
//	xcaddy build --with github.com/keygate/keygate/caddymodule
//
// or import it for its side effects, as cmd/keygate does. The modules live
// in sub-packages, one room each:
//
//	gateway    the keygate app and what every module shares (problems, audit, metrics)
//	ingress    keygate_package: Flow 1, agent to package
//	egress     the keygate reverse_proxy transport: Flow 2, package to API
//	proxy      keygate_proxy: the proxy site, for code behind HTTPS_PROXY
//	api        keygate_api: the management API, mounting the owners' page
//	ownerpage  the owners' page and owner sign-in (a library of keygate_api)
//	cli        keygate's CLI commands (imported only from here)
package caddymodule

import (
	_ "github.com/keygate/keygate/caddymodule/api"
	_ "github.com/keygate/keygate/caddymodule/cli"
	_ "github.com/keygate/keygate/caddymodule/egress"
	_ "github.com/keygate/keygate/caddymodule/gateway"
	_ "github.com/keygate/keygate/caddymodule/ingress"
	_ "github.com/keygate/keygate/caddymodule/proxy"
)
