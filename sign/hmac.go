package sign

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// HMAC signs a request by template: the message is the template with the
// request's parts put in, its HMAC with the secret as key goes in a header
// or a query parameter, and the timestamp (when the message has one) in
// its own header.
type HMAC struct {
	// sha256 (default) or sha512.
	Algorithm string `json:"algorithm,omitempty"`
	// The message, over {method} {path} {query} {body} {timestamp};
	// "?{query}" gives "?" and the query only when there is one, and
	// "\n" stands for a line feed.
	Message string `json:"message"`
	// Where the signature goes: one of a header or a query parameter
	// (appended to the query the message was made over).
	Header string `json:"header,omitempty"`
	Query  string `json:"query,omitempty"`
	// hex (default, lowercase) or base64.
	Encoding string `json:"encoding,omitempty"`
	// The header that carries {timestamp}; required when the message has
	// one.
	TimestampHeader string `json:"timestamp_header,omitempty"`
	// unix (seconds, default), unix_ms, or iso8601_ms
	// (2006-01-02T15:04:05.000Z).
	TimestampFormat string `json:"timestamp_format,omitempty"`
	// Added to the current time: an API that wants an expiry in the
	// future (BitMEX's api-expires) gets one. 0 to 1 hour.
	TimestampOffset time.Duration `json:"timestamp_offset,omitempty"`

	parts   []part
	newHash func() hash.Hash
	body    bool
}

type partKind uint8

const (
	partText partKind = iota
	partMethod
	partPath
	partQuery
	partQueryMarked // "?{query}"
	partBody
	partTimestamp
)

type part struct {
	kind partKind
	text string
}

const maxMessageTemplate = 1024

// HMACRequest is what a message is made of.
type HMACRequest struct {
	Method, Path, Query string // Path escaped, Query raw, as sent
	Body                []byte
	Time                time.Time
}

// Prepare checks the configuration and compiles the template. Its errors
// name the option at fault.
func (h *HMAC) Prepare() error {
	switch h.Algorithm {
	case "", "sha256":
		h.Algorithm, h.newHash = "sha256", sha256.New
	case "sha512":
		h.newHash = sha512.New
	default:
		return errors.New("hmac: algorithm must be sha256 or sha512")
	}
	switch h.Encoding {
	case "":
		h.Encoding = "hex"
	case "hex", "base64":
	default:
		return errors.New("hmac: encoding must be hex or base64")
	}
	switch h.TimestampFormat {
	case "":
		h.TimestampFormat = "unix"
	case "unix", "unix_ms", "iso8601_ms":
	default:
		return errors.New("hmac: timestamp_format must be unix, unix_ms or iso8601_ms")
	}
	if h.TimestampOffset < 0 || h.TimestampOffset > time.Hour {
		return errors.New("hmac: timestamp_offset must be 0 to 1h")
	}
	if (h.Header == "") == (h.Query == "") {
		return errors.New("hmac: use exactly one of header <name> and query <param>")
	}
	if h.Header != "" && !validName(h.Header) {
		return errors.New("hmac: header: not a valid header name")
	}
	if h.Query != "" && !validParam(h.Query) {
		return errors.New("hmac: query: the parameter name must be letters, digits and - _ . ~")
	}
	if h.TimestampHeader != "" && !validName(h.TimestampHeader) {
		return errors.New("hmac: timestamp_header: not a valid header name")
	}
	for _, name := range []string{h.Header, h.TimestampHeader} {
		if strings.HasPrefix(strings.ToLower(name), "keygate-") {
			return errors.New("hmac: a header must not be a Keygate-* header")
		}
	}
	parts, err := compileMessage(h.Message)
	if err != nil {
		return err
	}
	h.parts, h.body = parts, false
	stamped := false
	for _, p := range parts {
		h.body = h.body || p.kind == partBody
		stamped = stamped || p.kind == partTimestamp
	}
	if stamped && h.TimestampHeader == "" {
		return errors.New("hmac: the message has {timestamp}: name the header that carries it with timestamp_header")
	}
	return nil
}

func compileMessage(m string) ([]part, error) {
	if m == "" {
		return nil, errors.New("hmac: message is empty")
	}
	if len(m) > maxMessageTemplate {
		return nil, fmt.Errorf("hmac: message is longer than %d bytes", maxMessageTemplate)
	}
	if strings.ContainsAny(m, "\r\n\x00") {
		return nil, errors.New(`hmac: message must not contain CR, LF or NUL (write \n for a line feed)`)
	}
	var parts []part
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			parts = append(parts, part{kind: partText, text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(m); i++ {
		switch c := m[i]; {
		case c == '\\' && i+1 < len(m) && m[i+1] == 'n':
			text.WriteByte('\n')
			i++
		case c == '}':
			return nil, errors.New("hmac: message has a } without {")
		case c == '{':
			end := strings.IndexByte(m[i:], '}')
			if end < 0 {
				return nil, errors.New("hmac: message has a { without }")
			}
			name := m[i+1 : i+end]
			kind, ok := map[string]partKind{"method": partMethod, "path": partPath, "query": partQuery, "body": partBody, "timestamp": partTimestamp}[name]
			if !ok {
				return nil, errors.New("hmac: message: the placeholders are {method} {path} {query} {body} {timestamp}")
			}
			if kind == partQuery && strings.HasSuffix(text.String(), "?") {
				t := text.String()
				text.Reset()
				text.WriteString(t[:len(t)-1])
				kind = partQueryMarked
			}
			flush()
			parts = append(parts, part{kind: kind})
			i += end
		default:
			text.WriteByte(c)
		}
	}
	flush()
	return parts, nil
}

// UsesBody reports whether the message includes the body, which must then
// be read before the request is sent.
func (h *HMAC) UsesBody() bool { return h.body }

// Timestamp formats t, plus the offset, as the message and the timestamp
// header carry it.
func (h *HMAC) Timestamp(t time.Time) string {
	t = t.Add(h.TimestampOffset)
	switch h.TimestampFormat {
	case "unix_ms":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "iso8601_ms":
		return t.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// Sign returns the encoded signature of r's message with key, and the
// timestamp it was made with.
func (h *HMAC) Sign(key []byte, r HMACRequest) (signature, timestamp string) {
	timestamp = h.Timestamp(r.Time)
	m := hmac.New(h.newHash, key)
	for _, p := range h.parts {
		switch p.kind {
		case partText:
			m.Write([]byte(p.text))
		case partMethod:
			m.Write([]byte(r.Method))
		case partPath:
			m.Write([]byte(r.Path))
		case partQuery:
			m.Write([]byte(r.Query))
		case partQueryMarked:
			if r.Query != "" {
				m.Write([]byte{'?'})
				m.Write([]byte(r.Query))
			}
		case partBody:
			m.Write(r.Body)
		case partTimestamp:
			m.Write([]byte(timestamp))
		}
	}
	sum := m.Sum(nil)
	if h.Encoding == "base64" {
		return base64.StdEncoding.EncodeToString(sum), timestamp
	}
	return hex.EncodeToString(sum), timestamp
}

// WithoutParam returns a raw query without any pair named name, so that a
// caller's own value cannot stand beside the signature.
func WithoutParam(rawQuery, name string) string {
	if rawQuery == "" {
		return ""
	}
	var b strings.Builder
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}

// validName reports whether name is an RFC 9110 token.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func validParam(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0) {
			return false
		}
	}
	return true
}
