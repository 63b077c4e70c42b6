package store

import (
	"net/netip"
	"strings"
)

// Where a package's code may be: the manifest's upstream is the package
// author's to choose, so it must not point keygate at what only keygate's
// host can reach. Cloud metadata services (link-local 169.254.0.0/16 and
// kin) answer with the host's own credentials and are refused always;
// loopback and private ranges are refused unless the package site allows
// them (keygate_package allow_upstreams).

// Upstream address classes.
const (
	UpstreamPublic   = "public"
	UpstreamPrivate  = "private"
	UpstreamLoopback = "loopback"
	UpstreamMetadata = "metadata" // link-local, metadata services, unspecified, multicast: never
)

var (
	metadataPrefixes = mustPrefixes("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32", "0.0.0.0/8", "224.0.0.0/3", "ff00::/8")
	privatePrefixes  = mustPrefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)

// metadataNames are the metadata services' well-known host names.
var metadataNames = []string{"metadata", "metadata.google.internal", "metadata.azure.internal", "instance-data", "instance-data.ec2.internal"}

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// UpstreamAddrClass says which class an address an upstream resolved to
// is in.
func UpstreamAddrClass(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
		return UpstreamMetadata
	case ip.IsLoopback():
		return UpstreamLoopback
	}
	for _, p := range metadataPrefixes {
		if p.Contains(ip) {
			return UpstreamMetadata
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return UpstreamPrivate
		}
	}
	return UpstreamPublic
}

// metadataHost reports whether an upstream host (name or IP literal)
// names a metadata service.
func metadataHost(host string) bool {
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return UpstreamAddrClass(ip) == UpstreamMetadata
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, n := range metadataNames {
		if host == n {
			return true
		}
	}
	return false
}
