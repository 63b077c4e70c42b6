package ownerpage

import (
	"html/template"
	"net/url"
	"strings"
)

// renderDescription turns a key's description (from a package manifest,
// so written by a package author keygate does not trust) into HTML. It
// knows a tiny safe subset of Markdown: **bold**, `code`, [text](url)
// with http and https URLs only, and line breaks. Everything else is
// escaped: raw HTML in a description is shown as text, never run.
func renderDescription(s string) template.HTML {
	var b strings.Builder
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if i > 0 {
			b.WriteString("<br>")
		}
		renderInline(&b, line, true)
	}
	return template.HTML(b.String())
}

// renderInline writes one line. Bold may hold code and links but not
// bold again, which keeps the renderer trivially terminating.
func renderInline(b *strings.Builder, s string, boldOK bool) {
	for len(s) > 0 {
		i := strings.IndexAny(s, "`*[")
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(s))
			return
		}
		b.WriteString(template.HTMLEscapeString(s[:i]))
		s = s[i:]
		switch {
		case s[0] == '`':
			if end := strings.IndexByte(s[1:], '`'); end > 0 {
				b.WriteString("<code>")
				b.WriteString(template.HTMLEscapeString(s[1 : 1+end]))
				b.WriteString("</code>")
				s = s[end+2:]
				continue
			}
		case boldOK && strings.HasPrefix(s, "**"):
			if end := strings.Index(s[2:], "**"); end > 0 {
				b.WriteString("<strong>")
				renderInline(b, s[2:2+end], false)
				b.WriteString("</strong>")
				s = s[end+4:]
				continue
			}
		case s[0] == '[':
			if text, href, rest, ok := cutLink(s); ok {
				b.WriteString(`<a href="`)
				b.WriteString(template.HTMLEscapeString(href))
				b.WriteString(`" rel="noopener noreferrer">`)
				b.WriteString(template.HTMLEscapeString(text))
				b.WriteString("</a>")
				s = rest
				continue
			}
		}
		// Not markup after all: the character is text.
		b.WriteString(template.HTMLEscapeString(s[:1]))
		s = s[1:]
	}
}

// cutLink reads "[text](url)" at the start of s. The URL must be an
// absolute http or https URL without spaces or parentheses; anything else
// is not a link and stays text.
func cutLink(s string) (text, href, rest string, ok bool) {
	closeText := strings.Index(s, "](")
	if closeText < 1 || strings.ContainsAny(s[1:closeText], "[]") {
		return "", "", "", false
	}
	closeURL := strings.IndexByte(s[closeText+2:], ')')
	if closeURL < 1 {
		return "", "", "", false
	}
	text = s[1:closeText]
	href = s[closeText+2 : closeText+2+closeURL]
	if !safeLink(href) {
		return "", "", "", false
	}
	return text, href, s[closeText+3+closeURL:], true
}

func safeLink(href string) bool {
	if strings.ContainsAny(href, " \t()<>\"'`\\") {
		return false
	}
	u, err := url.Parse(href)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}
