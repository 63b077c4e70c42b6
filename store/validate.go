package store

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxValueBytes is the largest secret value accepted when
// Options.MaxValueBytes is 0.
const DefaultMaxValueBytes = 8192

const (
	maxSecretName   = 128
	maxOwnerRunes   = 256
	maxNameRunes    = 256
	maxHostPatterns = 64
	maxHostPattern  = 261 // 253-byte name + ":65535" + brackets slack
	defaultEnv      = "production"
)

// ValidateSecretName checks name against ^[A-Za-z_][A-Za-z0-9_]{0,127}$.
func ValidateSecretName(name string) error {
	return checkSecretName("name", name)
}

func checkSecretName(field, name string) error {
	if name == "" {
		return invalid(field, "is empty")
	}
	if len(name) > maxSecretName {
		return invalid(field, fmt.Sprintf("is longer than %d characters", maxSecretName))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || (i > 0 && '0' <= c && c <= '9')
		if !ok {
			return invalid(field, "must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$")
		}
	}
	return nil
}

// ValidateSecretValue checks that v is 1..max bytes (max <= 0 means
// DefaultMaxValueBytes) with no CR, LF or NUL. The error never quotes v.
func ValidateSecretValue(v []byte, max int) error {
	if max <= 0 {
		max = DefaultMaxValueBytes
	}
	switch {
	case len(v) == 0:
		return invalid("value", "is empty")
	case len(v) > max:
		return invalid("value", fmt.Sprintf("is longer than %d bytes", max))
	}
	for _, c := range v {
		if c == '\r' || c == '\n' || c == 0 {
			return invalid("value", "must not contain CR, LF or NUL")
		}
	}
	return nil
}

// ValidateHostPattern checks one allowed_hosts pattern: an exact DNS name,
// "*.example.com", an IPv4 literal or an IPv6 literal (bracketed when it
// has a port), each with an optional ":port". Kept as the store's API
// for callers that check one pattern before a write (its contract test).
func ValidateHostPattern(p string) error {
	_, err := normalizeHostPattern("allowed_hosts", p)
	return err
}

// normalizeHostPatterns validates and lowercases a pattern list; nil becomes
// an empty list so stored JSON says [] rather than null.
func normalizeHostPatterns(field string, in []string) ([]string, error) {
	if len(in) > maxHostPatterns {
		return nil, invalid(field, fmt.Sprintf("has more than %d entries", maxHostPatterns))
	}
	out := make([]string, 0, len(in))
	for i, p := range in {
		n, err := normalizeHostPattern(fmt.Sprintf("%s[%d]", field, i), p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func normalizeHostPattern(field, p string) (string, error) {
	if p == "" {
		return "", invalid(field, "is empty")
	}
	if len(p) > maxHostPattern {
		return "", invalid(field, "is too long")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f {
			return "", invalid(field, "contains a space, control or non-ASCII character")
		}
	}
	if strings.Contains(p, "://") {
		return "", invalid(field, "must be a host, not a URL with a scheme")
	}
	if strings.ContainsAny(p, "/?#@\\%") {
		return "", invalid(field, "must be a host without path, query, fragment or userinfo")
	}
	p = strings.ToLower(p)

	host, port, bracketed, err := splitPattern(p)
	if err != nil {
		return "", invalid(field, err.Error())
	}
	if port != "" {
		if err := checkPort(port); err != nil {
			return "", invalid(field, err.Error())
		}
	}
	if bracketed {
		return p, nil // splitPattern checked the IPv6 literal
	}
	switch {
	case host == "*":
		return "", invalid(field, "a lone * would match every host")
	case strings.HasPrefix(host, "*."):
		rest := host[2:]
		if strings.Contains(rest, "*") {
			return "", invalid(field, "* is allowed only as the whole first label")
		}
		if !validDNSName(rest) {
			return "", invalid(field, "is not a valid wildcard DNS name")
		}
		if !strings.Contains(rest, ".") {
			return "", invalid(field, "a wildcard needs at least two labels after *. (no *.com)")
		}
	case strings.Contains(host, "*"):
		return "", invalid(field, "* is allowed only as the whole first label")
	default:
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" {
				return "", invalid(field, "IPv6 zones are not allowed")
			}
			if a.Is6() && port != "" {
				return "", invalid(field, "an IPv6 literal with a port must be bracketed")
			}
			return p, nil
		}
		if !validDNSName(host) {
			return "", invalid(field, "is not a valid DNS name or IP literal")
		}
	}
	return p, nil
}

// splitPattern splits "host", "host:port", "[v6]", "[v6]:port" or a bare
// IPv6 literal.
func splitPattern(p string) (host, port string, bracketed bool, err error) {
	if strings.HasPrefix(p, "[") {
		end := strings.IndexByte(p, ']')
		if end < 0 {
			return "", "", false, fmt.Errorf("has an unclosed [")
		}
		host, rest := p[1:end], p[end+1:]
		a, perr := netip.ParseAddr(host)
		if perr != nil || !a.Is6() || a.Zone() != "" {
			return "", "", false, fmt.Errorf("brackets must hold an IPv6 literal")
		}
		if rest == "" {
			return host, "", true, nil
		}
		if rest[0] != ':' || len(rest) == 1 {
			return "", "", false, fmt.Errorf("has characters after ] other than a port")
		}
		return host, rest[1:], true, nil
	}
	if strings.Count(p, ":") > 1 {
		return p, "", false, nil // bare IPv6, checked by the caller
	}
	if i := strings.IndexByte(p, ':'); i >= 0 {
		if i == 0 {
			return "", "", false, fmt.Errorf("has no host")
		}
		if i == len(p)-1 {
			return "", "", false, fmt.Errorf("has an empty port")
		}
		return p[:i], p[i+1:], false, nil
	}
	return p, "", false, nil
}

func checkPort(port string) error {
	if port == "" || len(port) > 5 || port[0] == '0' {
		return fmt.Errorf("has an invalid port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has an invalid port")
	}
	return nil
}

// validDNSName accepts lowercase LDH names; the last label may not be all
// digits, so "1.2.3" is not mistaken for a name.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !validDNSLabel(l) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func validDNSLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-') {
			return false
		}
	}
	return true
}

// checkText accepts empty (when allowed) or valid UTF-8 of printable runes.
func checkText(field, s string, maxRunes int, required bool) error {
	if s == "" {
		if required {
			return invalid(field, "is empty")
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxRunes {
		return invalid(field, fmt.Sprintf("is longer than %d characters", maxRunes))
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return invalid(field, "contains a non-printable character")
		}
	}
	return nil
}

// normalizeEnvironment defaults to "production" and checks
// ^[a-z0-9][a-z0-9_-]{0,31}$.
func normalizeEnvironment(env string) (string, error) {
	if env == "" {
		return defaultEnv, nil
	}
	if len(env) > 32 {
		return "", invalid("environment", "is longer than 32 characters")
	}
	for i := 0; i < len(env); i++ {
		c := env[i]
		ok := ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || (i > 0 && (c == '_' || c == '-'))
		if !ok {
			return "", invalid("environment", "must match ^[a-z0-9][a-z0-9_-]{0,31}$")
		}
	}
	return env, nil
}

// checkKeychainID accepts "kc_" + 26 lowercase base32 characters.
func checkKeychainID(id string) error {
	if len(id) != 29 || !strings.HasPrefix(id, "kc_") {
		return invalid("keychain", "is not a keychain id")
	}
	for i := 3; i < len(id); i++ {
		c := id[i]
		if !(('a' <= c && c <= 'z') || ('2' <= c && c <= '7')) {
			return invalid("keychain", "is not a keychain id")
		}
	}
	return nil
}

// checkKeyID accepts ^[A-Za-z0-9_.-]{1,64}$ (master key and signing key ids).
func checkKeyID(field, id string) error {
	if id == "" || len(id) > 64 {
		return invalid(field, "must be 1 to 64 characters")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_' || c == '.' || c == '-'
		if !ok {
			return invalid(field, "must match ^[A-Za-z0-9_.-]{1,64}$")
		}
	}
	return nil
}
