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
	// 64:ff9b:1::/48 is local-use NAT64 (RFC 8215), to what the network
	// chose; fec0::/10, deprecated site-local.
	privatePrefixes = mustPrefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "64:ff9b:1::/48", "fec0::/10")

	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052, the IPv4 address in the last 32 bits
	sixToFour    = netip.MustParsePrefix("2002::/16")    // RFC 3056, the IPv4 address in bits 16 to 47
	v4Compatible = netip.MustParsePrefix("::/96")        // deprecated IPv4-compatible addresses
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

// EmbeddedIPv4 is the IPv4 address an IPv6 address carries and that a
// NAT64 gateway, a 6to4 relay or the host itself may route it to
// (64:ff9b::/96, 2002::/16, ::/96 beyond :: and ::1, ::ffff:0:0/96), else
// ip itself: an address is only as public as the one it reaches.
func EmbeddedIPv4(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip), v4Compatible.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	}
	return ip
}

// UpstreamAddrClass says which class an address an upstream resolved to
// is in.
func UpstreamAddrClass(ip netip.Addr) string {
	ip = EmbeddedIPv4(ip)
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
