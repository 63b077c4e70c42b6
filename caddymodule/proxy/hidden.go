package proxy

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"

	"github.com/keygate/keygate/policy"
)

// hiddenPlaceholder reports whether b, once the upstream decodes it as
// kind, holds a placeholder that its raw bytes do not show: percent-encoded
// in a form or query, a \u escape in a JSON string, a character reference
// in XML. keygate substitutes only placeholders written plainly, so such a
// request is refused rather than let the upstream decode a placeholder.
// b is checked after substitution: what it still holds is what would go.
func hiddenPlaceholder(kind bodyKind, b []byte) bool {
	switch kind {
	case bodyForm:
		if !bytes.Contains(b, []byte("%")) {
			return false
		}
		return policy.ContainsPlaceholder(percentDecode(b))
	case bodyJSON:
		if !bytes.Contains(b, []byte(`\u`)) {
			return false
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			tok, err := dec.Token()
			if err != nil {
				return false // malformed JSON: no upstream reads a string from it
			}
			if s, ok := tok.(string); ok && policy.ContainsPlaceholder(s) {
				return true
			}
		}
	case bodyXML:
		if !bytes.Contains(b, []byte("&")) {
			return false
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		dec.Strict = false
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) || err != nil {
				return false
			}
			switch t := tok.(type) {
			case xml.CharData:
				if policy.ContainsPlaceholder(string(t)) {
					return true
				}
			case xml.StartElement:
				for _, a := range t.Attr {
					if policy.ContainsPlaceholder(a.Value) {
						return true
					}
				}
			}
		}
	}
	return false
}

// percentDecode decodes every valid %XX and leaves anything else as it
// is, as lenient decoders do: one malformed escape must not hide the rest.
func percentDecode(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]) {
			out = append(out, unhex(b[i+1])<<4|unhex(b[i+2]))
			i += 2
			continue
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
