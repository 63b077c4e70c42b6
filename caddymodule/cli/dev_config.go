package cli

import (
	"fmt"
	"net"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/keygate/keygate/preset"
	"github.com/keygate/keygate/store"
)

// devSuffix is the package site's domain suffix in dev mode: *.localhost
// resolves to loopback in curl and browsers without any DNS set-up.
const devSuffix = "dev.localhost"

// devPorts are the loopback ports of dev mode's three sites.
type devPorts struct{ api, site, egress int }

// egressRoute is one egress route of dev mode: /<name>/ on the egress
// site, proxied to target with the key's value injected.
type egressRoute struct {
	name   string
	app    bool
	target string // scheme://host[:port]
	// options are the transport's lines beyond secret: the key's preset.
	options string
}

// path is the route's base path on the egress site.
func (r egressRoute) path() string { return "/" + r.name + "/" }

// devEgressRoutes returns one route per key (and app key) with hosts, to
// its first host that is not a wildcard. Loopback hosts are dialed over
// plain http, for local stand-ins of an API; every other host over https.
func devEgressRoutes(m *store.Manifest) []egressRoute {
	var out []egressRoute
	add := func(keys []store.KeySpec, app bool) {
		for _, k := range keys {
			for _, h := range k.Hosts {
				if strings.HasPrefix(h, "*.") {
					continue
				}
				scheme := "https"
				if isLoopback(hostOnly(h)) {
					scheme = "http"
				}
				out = append(out, egressRoute{name: k.Name, app: app, target: scheme + "://" + h, options: devPresetOptions(k)})
				break
			}
		}
	}
	add(m.Keys, false)
	add(m.AppKeys, true)
	return out
}

// devPresetOptions names the key's preset on its dev route, so that the
// value goes where the provider wants it; with aws-s3, the region comes
// from the key's placement. A preset whose route needs more than that
// (twilio's user) is left out: the route injects Bearer.
func devPresetOptions(k store.KeySpec) string {
	p, err := preset.Get(k.Preset)
	if err != nil {
		return ""
	}
	switch pl := p.Placement; {
	case pl.Kind() == preset.KindSigV4 && k.Placement != nil && k.Placement.SigV4 != nil:
		return fmt.Sprintf("\n\t\t\t\tpreset %s\n\t\t\t\tsigv4 {\n\t\t\t\t\tregion %s\n\t\t\t\t}", p.Name, k.Placement.SigV4.Region)
	case pl.Kind() == preset.KindSigV4, pl.Kind() == preset.KindBasic && pl.BasicAuthUser == "":
		return ""
	}
	return "\n\t\t\t\tpreset " + p.Name
}

// hostOnly strips the port (and IPv6 brackets) from a host pattern.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

// devCaddyfile is dev mode's whole configuration: an in-memory store, and
// the API, package and egress sites, each bound to loopback only. Caddy's
// admin endpoint is off, and nothing is persisted: neither the config nor
// Caddy's own storage files (its storage check and cleaning are off). Every egress route
// injects its key as its preset says, else as "Authorization: Bearer
// {secret}", the keygate transport's default. The terminal shows the summary keygate dev prints
// and the audit trail, one readable line per event: Caddy's own logs only
// from errors up, and plain-HTTP sites speak HTTP/1.1 only, so Caddy does
// not warn that HTTP/2 and HTTP/3 need TLS (as in Caddyfile.example).
func devCaddyfile(masterKey, adminToken string, p devPorts, routes []egressRoute) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{
	admin off
	persist_config off
	storage_check off
	storage_clean_interval off
	servers {
		protocols h1
	}
	log {
		level ERROR
	}
	log keygate_audit {
		output stderr
		format console
		include keygate.audit
	}
	keygate {
		storage memory
		master_key %s
		admin_token %s
		public_url http://127.0.0.1:%d
	}
}

http://:%d {
	bind keygate/127.0.0.1
	keygate_api
}

http://*.%s:%d {
	bind keygate/127.0.0.1
	keygate_package {
		suffix %s
	}
}

http://:%d {
	bind keygate/127.0.0.1
`, masterKey, adminToken, p.api, p.api, devSuffix, p.site, devSuffix, p.egress)
	for _, r := range routes {
		scope := ""
		if r.app {
			scope = " app"
		}
		fmt.Fprintf(&b, `	route %s* {
		uri strip_prefix /%s
		reverse_proxy %s {
			transport keygate {
				secret %s%s%s
			}
		}
	}
`, r.path(), r.name, r.target, r.name, scope, r.options)
	}
	b.WriteString("\trespond \"keygate dev: no egress route here; see the routes keygate dev printed\" 404\n}\n")
	return b.String()
}

// adaptCaddyfile turns src into Caddy's JSON config.
func adaptCaddyfile(src string) ([]byte, error) {
	cfg, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(src), map[string]any{"filename": "keygate-dev"})
	if err != nil {
		return nil, fmt.Errorf("building the dev config: %w", err)
	}
	return cfg, nil
}

// freeLoopbackPort asks the kernel for a free port on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pickPorts fills the zero ports of p with free loopback ports, all
// different.
func pickPorts(p devPorts) (devPorts, error) {
	used := map[int]bool{p.api: p.api != 0, p.site: p.site != 0, p.egress: p.egress != 0}
	for _, port := range []*int{&p.api, &p.site, &p.egress} {
		for *port == 0 {
			n, err := freeLoopbackPort()
			if err != nil {
				return p, err
			}
			if !used[n] {
				*port, used[n] = n, true
			}
		}
	}
	return p, nil
}
