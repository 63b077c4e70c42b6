package gateway

import (
	"net"
	"net/url"
	"sync"

	"github.com/keygate/keygate/policy"
)

// The owners' page must say which values go to a package's code in
// plaintext, but the mode is a keygate_package option, and a module
// package never reaches into another: each site tells the App of its
// config at provisioning, and the page asks the App.

// packageSites records the keygate_package sites of one config.
type packageSites struct {
	mu        sync.Mutex
	plaintext map[string]bool // suffix -> delivers in plaintext
}

// RegisterPackageSite records that a keygate_package site of this config
// serves suffix, delivering values in plaintext or not. Two sites of one
// suffix count as plaintext if either is.
func (a *App) RegisterPackageSite(suffix string, plaintext bool) {
	a.sites.mu.Lock()
	defer a.sites.mu.Unlock()
	if a.sites.plaintext == nil {
		a.sites.plaintext = map[string]bool{}
	}
	a.sites.plaintext[suffix] = a.sites.plaintext[suffix] || plaintext
}

// PlaintextSites reports whether any keygate_package site of this config
// delivers values in plaintext. Any package can be called through any
// site, so then every package may receive its values.
func (a *App) PlaintextSites() bool {
	a.sites.mu.Lock()
	defer a.sites.mu.Unlock()
	for _, p := range a.sites.plaintext {
		if p {
			return true
		}
	}
	return false
}

// UpstreamHostPort is the host:port keygate dials for a package's
// upstream URL, with the scheme's default port when it names none.
func UpstreamHostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// UpstreamAllowed reports whether a secret with allowedHosts may be sent
// in plaintext to the package's code at upstream (host:port, see
// UpstreamHostPort): the one test plaintext delivery passes.
func UpstreamAllowed(allowedHosts []string, upstream string) bool {
	host, port, err := net.SplitHostPort(upstream)
	if err != nil {
		host, port = upstream, ""
	}
	return policy.HostAllowed(allowedHosts, host, port)
}
