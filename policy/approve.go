package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/keygate/keygate/store"
)

// ErrBadPrefer is a Prefer header that does not parse (RFC 7240).
var ErrBadPrefer = errors.New(`the Prefer header does not parse; send e.g. "Prefer: wait=60"`)

// PreferWait reads the wait preference of the Prefer header values (RFC
// 7240 section 4.3): wait=<delta-seconds>. The first wait counts, as the
// RFC says of a repeated preference. Other preferences are skipped but
// must still parse, and a wait that is not a plain number of seconds is
// ErrBadPrefer rather than ignored, so a typo does not silently answer
// at once.
func PreferWait(values []string) (secs int, ok bool, err error) {
	for _, v := range values {
		for _, pref := range splitQuoted(v, ',') {
			pref = strings.TrimSpace(pref)
			if pref == "" {
				continue // 1#element allows empty list elements
			}
			head, _, _ := strings.Cut(pref, ";")
			name, val, hasVal := strings.Cut(head, "=")
			name, val = strings.TrimRight(name, " \t"), strings.TrimLeft(val, " \t")
			val = strings.TrimRight(val, " \t")
			if !isToken(name) {
				return 0, false, ErrBadPrefer
			}
			if !strings.EqualFold(name, "wait") {
				continue
			}
			if !hasVal || val == "" || len(val) > 9 || strings.Trim(val, "0123456789") != "" {
				return 0, false, ErrBadPrefer
			}
			if ok {
				continue
			}
			secs, _ = strconv.Atoi(val)
			ok = true
		}
	}
	return secs, ok, nil
}

// splitQuoted splits s on sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ApproveMatch reports whether a call with method to host:port at path
// falls under one of rules, and so needs the owner's decision each time.
// path is compared as sent, unescaped by nobody: "/v1/charges*" matches
// "/v1/charges/ch_1" but a rule "/v1/charges" only that path. Methods are
// compared ignoring case: "post" is another method to RFC 9110, but POST
// to any upstream that folds case, and a rule must not be stepped around.
func ApproveMatch(rules []store.ApproveRule, method, host, port, path string) bool {
	for _, r := range rules {
		if r.Method != "*" && !strings.EqualFold(r.Method, method) {
			continue
		}
		if r.Host != "" && !MatchHost(r.Host, host, port) {
			continue
		}
		if prefix, ok := strings.CutSuffix(r.Path, "*"); ok {
			if strings.HasPrefix(path, prefix) {
				return true
			}
		} else if r.Path == path {
			return true
		}
	}
	return false
}

// Shape is one exact request shape an owner may approve for a time: the
// package and key, method, host, path with query, and the body's SHA-256.
type Shape struct {
	Package    string `json:"package"`
	Key        string `json:"key"`
	Method     string `json:"method"`
	Host       string `json:"host"`
	Path       string `json:"path"`
	BodySHA256 string `json:"body_sha256"`
}

// ID is the shape's name in the store: a SHA-256 over its fields, each
// length-prefixed so that no two shapes share one.
func (s Shape) ID() string {
	h := sha256.New()
	for _, f := range []string{s.Package, s.Key, s.Method, s.Host, s.Path, s.BodySHA256} {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}
