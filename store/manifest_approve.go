package store

import (
	"fmt"
	"strings"
)

// ApproveRule marks operations with a key that are held for the owner's
// decision every time: Method ("POST", or "*" for any), Host (a host
// pattern as in hosts; empty for any of the key's hosts) and Path (exact,
// or a prefix when it ends in "*").
type ApproveRule struct {
	Method string `json:"method"`
	Host   string `json:"host,omitempty"`
	Path   string `json:"path"`
}

const (
	maxApproveRules = 20
	maxApprovePath  = 512
)

// checkApproveRules validates and normalizes rules in place: methods
// upper case, hosts lower case.
func checkApproveRules(field string, rules []ApproveRule) error {
	if len(rules) > maxApproveRules {
		return invalid(field, fmt.Sprintf("has more than %d entries", maxApproveRules))
	}
	for i := range rules {
		r := &rules[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		r.Method = strings.ToUpper(r.Method)
		if r.Method != "*" && !isToken(r.Method) {
			return invalid(f+".method", `must be an HTTP method such as POST, or "*"`)
		}
		if r.Host != "" {
			h, err := normalizeHostPattern(f+".host", r.Host)
			if err != nil {
				return err
			}
			r.Host = h
		}
		p := r.Path
		switch {
		case p == "" || p[0] != '/':
			return invalid(f+".path", `must start with "/"`)
		case len(p) > maxApprovePath:
			return invalid(f+".path", fmt.Sprintf("is longer than %d bytes", maxApprovePath))
		case strings.IndexByte(p, '*') >= 0 && strings.IndexByte(p, '*') != len(p)-1:
			return invalid(f+".path", `may hold "*" only at its end`)
		case strings.ContainsAny(p, "?#"):
			return invalid(f+".path", "must be a path without query or fragment")
		}
		for j := 0; j < len(p); j++ {
			if c := p[j]; c <= ' ' || c >= 0x7f {
				return invalid(f+".path", "contains a space, control or non-ASCII character")
			}
		}
	}
	return nil
}

// isToken reports whether s is an RFC 9110 token of letters, as HTTP
// methods are, at most 20 long.
func isToken(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
