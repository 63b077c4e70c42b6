package scrub

import (
	"strings"
)

// IsToken reports whether n is an RFC 9110 token, the grammar of a header name: one or more of
// the characters it allows.
func IsToken[T ~string | ~[]byte](n T) bool {
	if len(n) == 0 {
		return false
	}
	for i := range len(n) {
		if c := n[i]; c >= 0x80 || !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
