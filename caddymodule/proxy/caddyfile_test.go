package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`keygate_proxy {
		pass_hosts pypi.org *.pythonhosted.org
		pass_hosts example.com:8443
		proxy_auth required
		upstream_ca /etc/ca.pem
		allow_private_upstreams
		dial_timeout 3s
		tls_timeout 4s
		response_header_timeout 5s
		max_body 64KiB
		max_tunnels_per_client 8
		curves x25519 secp256r1
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.PassHosts, " ") != "pypi.org *.pythonhosted.org example.com:8443" || h.ProxyAuth != "required" || h.UpstreamCA != "/etc/ca.pem" ||
		!h.AllowPrivateUpstreams || h.DialTimeout != caddy.Duration(3*time.Second) || h.TLSHandshakeTimeout != caddy.Duration(4*time.Second) ||
		h.ResponseHeaderTimeout != caddy.Duration(5*time.Second) || h.MaxBody != 64<<10 || h.MaxTunnelsPerClient != 8 ||
		strings.Join(h.Curves, " ") != "x25519 secp256r1" {
		t.Fatalf("parsed %+v", h)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestUnmarshalCaddyfileHostile: every option refuses what it cannot
// mean, with an error that names the option.
func TestUnmarshalCaddyfileHostile(t *testing.T) {
	for _, src := range []string{
		"keygate_proxy extra",
		"keygate_proxy {\n pass_hosts\n}",
		"keygate_proxy {\n proxy_auth optional\n}",
		"keygate_proxy {\n proxy_auth\n}",
		"keygate_proxy {\n upstream_ca\n}",
		"keygate_proxy {\n upstream_ca a b\n}",
		"keygate_proxy {\n allow_private_upstreams yes\n}",
		"keygate_proxy {\n dial_timeout soon\n}",
		"keygate_proxy {\n tls_timeout -1s\n}",
		"keygate_proxy {\n response_header_timeout 0s\n}",
		"keygate_proxy {\n max_body lots\n}",
		"keygate_proxy {\n max_body 12\n}",
		"keygate_proxy {\n max_body 2PiB\n}",
		"keygate_proxy {\n max_tunnels_per_client 0\n}",
		"keygate_proxy {\n max_tunnels_per_client many\n}",
		"keygate_proxy {\n open_proxy\n}",
		"keygate_proxy {\n curves\n}",
		"keygate_proxy {\n curves p256\n}",
		"keygate_proxy {\n curves X25519\n}",
		"keygate_proxy {\n curves x25519 kyber768\n}",
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(src)); err == nil {
			t.Errorf("accepted %q", src)
		}
	}
	for name, h := range map[string]Handler{
		"a lone *":       {PassHosts: []string{"*"}},
		"a URL":          {PassHosts: []string{"https://example.com"}},
		"a path":         {PassHosts: []string{"example.com/x"}},
		"bad proxy_auth": {ProxyAuth: "maybe"},
		"negative body":  {MaxBody: -1},
		"unknown curve":  {Curves: []string{"x25519", "ffdhe2048"}},
		"empty curve":    {Curves: []string{""}},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

// TestCurvesErrors: an unknown curve's error names the directive, the
// name given and every valid name, in the Caddyfile and from Validate.
func TestCurvesErrors(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate_proxy {\n curves x25519 p-256\n}"))
	const valid = "secp256r1, secp384r1, secp521r1, x25519, x25519mlkem768"
	if err == nil || !strings.Contains(err.Error(), "keygate_proxy curves") || !strings.Contains(err.Error(), `"p-256"`) || !strings.Contains(err.Error(), valid) {
		t.Fatalf("error %v", err)
	}
	err = (&Handler{Curves: []string{"p-256"}}).Validate()
	if err == nil || !strings.Contains(err.Error(), "keygate_proxy: curves") || !strings.Contains(err.Error(), valid) {
		t.Fatalf("Validate: %v", err)
	}
	h = Handler{}
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("keygate_proxy {\n curves x25519mlkem768 x25519 secp256r1 secp384r1 secp521r1\n}")); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
}
