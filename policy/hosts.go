package policy

import (
	"net/netip"
	"strings"
)

// MatchHost reports whether a destination (host, as dialed, and port) is
// covered by one allowed_hosts or manifest hosts pattern.
//
// Patterns are:
//
//   - an exact name, "api.stripe.com": that name only;
//   - a wildcard, "*.stripe.com": exactly ONE label in front of the rest,
//     so "api.stripe.com" but neither "stripe.com" (the apex) nor
//     "v1.api.stripe.com". One label, not any depth, because that is what
//     "*" means in TLS certificates (RFC 6125), so owners already read it
//     that way, and because the narrower rule can only refuse, never leak.
//     Write "*.api.stripe.com" as well to allow deeper names;
//   - an IP literal, "10.0.0.5" or "::1" or "[::1]": that address only,
//     compared as an address, so "::1" and "0:0::1" are the same; a wildcard
//     never matches an IP, and an IPv4 never matches its IPv4-in-IPv6 form;
//   - any of these with ":port" ("[v6]:port" for IPv6), which then matches
//     only that port; without a port a pattern matches every port.
//
// Names are compared without regard to ASCII case, and one trailing dot is
// ignored on either side. Only ASCII letters, digits, '-' and '_' are
// allowed in names, so a Unicode look-alike ("аpi.stripe.com" with a
// Cyrillic a), a percent-encoded name ("api%2estripe.com") or a name with an
// empty label never matches anything. A name whose last label starts with a
// digit ("127.1", "1.2.3", "0x7f.1") is refused too: resolvers may read it
// as an IPv4 address. Any malformed pattern, host or port means no match:
// the check fails closed. The port, when not empty, is the decimal port
// dialed, without leading zeros.
//
// MatchHost does not allocate (except on malformed IPv6-looking input, where
// the address parser's error does).
func MatchHost(pattern, host, port string) bool {
	pHost, pPort, ok := splitPattern(pattern)
	if !ok || (port != "" && !validPort(port)) {
		return false
	}
	if pPort != "" && pPort != port {
		return false
	}
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
		if strings.IndexByte(host, ':') < 0 {
			return false // brackets hold IPv6 only
		}
	}
	if pip, isIP := parseIP(pHost); isIP {
		hip, hostIsIP := parseIP(host)
		return hostIsIP && pip.IsValid() && hip.IsValid() && pip == hip
	}
	if _, hostIsIP := parseIP(host); hostIsIP {
		return false
	}
	pHost, host = trimDot(pHost), trimDot(host)
	if !validName(host) {
		return false
	}
	if rest, wild := strings.CutPrefix(pHost, "*."); wild {
		if !validName(rest) {
			return false
		}
		// host = label "." rest, with label non-empty and dot-free.
		n := len(host) - len(rest)
		return n >= 2 && host[n-1] == '.' && equalFold(host[n:], rest) &&
			strings.IndexByte(host[:n-1], '.') < 0
	}
	return validName(pHost) && equalFold(host, pHost)
}

// HostAllowed reports whether any of patterns matches (see MatchHost). No
// patterns means nothing is allowed.
func HostAllowed(patterns []string, host, port string) bool {
	for _, p := range patterns {
		if MatchHost(p, host, port) {
			return true
		}
	}
	return false
}

// splitPattern splits "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 literal into host and port. ok is false when the form is broken.
func splitPattern(p string) (host, port string, ok bool) {
	if p == "" {
		return "", "", false
	}
	if p[0] == '[' {
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := p[1:end], p[end+1:]
		if strings.IndexByte(host, ':') < 0 {
			return "", "", false
		}
		if rest == "" {
			return host, "", true
		}
		if rest[0] != ':' || !validPort(rest[1:]) {
			return "", "", false
		}
		return host, rest[1:], true
	}
	i := strings.IndexByte(p, ':')
	switch {
	case i < 0:
		return p, "", true
	case strings.IndexByte(p[i+1:], ':') >= 0:
		return p, "", true // bare IPv6; parseIP decides whether it is one
	case validPort(p[i+1:]):
		return p[:i], p[i+1:], true
	default:
		return "", "", false
	}
}

// parseIP reports whether s is written as an IP literal and, when it is a
// well-formed one without a zone, returns it (otherwise an invalid Addr).
// Strings made only of digits and dots are IPv4 candidates, strings with a
// colon IPv6 candidates; anything else is a name and is not parsed, which
// keeps the common case free of allocations.
func parseIP(s string) (netip.Addr, bool) {
	colon, v4 := false, s != ""
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ':':
			colon = true
		case c != '.' && (c < '0' || c > '9'):
			v4 = false
		}
	}
	if !colon && !v4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		// An IPv6 candidate that is malformed is still not a name (names
		// have no colons), so report it as an IP that matches nothing.
		// A malformed IPv4 candidate ("1.2.3") is left to validName.
		return netip.Addr{}, colon
	}
	return a, true
}

// trimDot removes one trailing dot (the DNS root).
func trimDot(s string) string {
	return strings.TrimSuffix(s, ".")
}

// validName reports whether s is an ASCII host name: 1 to 253 bytes of
// labels of 1 to 63 letters, digits, '-' or '_', whose last label does not
// start with a digit.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return false
			}
			label = 0
			continue
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
		if label++; label > 63 {
			return false
		}
	}
	if label == 0 {
		return false
	}
	last := s[strings.LastIndexByte(s, '.')+1]
	return last < '0' || last > '9'
}

// validPort reports whether s is a decimal port 1..65535 without leading
// zeros.
func validPort(s string) bool {
	if len(s) == 0 || len(s) > 5 || s[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n <= 65535
}

// equalFold compares ASCII strings without regard to case. Callers have
// checked both with validName, so there is no other byte to care about.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
