package scrub

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// formsOf returns the forms of v that Scrubber documents.
func formsOf(v []byte) []string {
	raw := string(v)
	bases := []string{raw, url.QueryEscape(raw), url.PathEscape(raw), percentAll(v)}
	forms := append([]string(nil), bases...)
	if utf8.Valid(v) {
		for _, b := range bases {
			for opts := range jsonAll {
				forms = append(forms, jsonString(b, opts))
			}
		}
	}
	return forms
}

func percentAll(v []byte) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range v {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// The optional JSON escapes, as bits.
const (
	jsonHTML = 1 << iota
	jsonSlash
	jsonASCII
	jsonLineSep
	jsonAll
)

// jsonString returns s as it appears between the quotes of a JSON string.
func jsonString(s string, opts int) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			switch r {
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		case opts&jsonHTML != 0 && (r == '<' || r == '>' || r == '&'),
			opts&jsonLineSep != 0 && (r == '\u2028' || r == '\u2029'):
			fmt.Fprintf(&b, `\u%04x`, r)
		case opts&jsonSlash != 0 && r == '/':
			b.WriteString(`\/`)
		case opts&jsonASCII != 0 && r >= 0x80:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				continue
			}
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
