package proxy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// How a request body is searched for placeholders, by its media type.
// Where keygate knows how the value must be written (JSON, form, XML,
// text, the parts of a multipart body) it substitutes, for keys with body
// placement; anywhere else a placeholder is refused 415, because keygate
// cannot write the value there safely, and a placeholder sent on would
// reach a host that may not have its value.
type bodyKind int

const (
	bodyOpaque    bodyKind = iota // anything else, or no Content-Type
	bodyJSON                      // application/json, +json
	bodyForm                      // application/x-www-form-urlencoded
	bodyXML                       // application/xml, text/xml, +xml
	bodyText                      // text/*
	bodyMultipart                 // multipart/*
)

func bodyKindOf(mt string) bodyKind {
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return bodyJSON
	case mt == "application/x-www-form-urlencoded":
		return bodyForm
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		return bodyXML
	case strings.HasPrefix(mt, "text/"):
		return bodyText
	case strings.HasPrefix(mt, "multipart/"):
		return bodyMultipart
	}
	return bodyOpaque
}

// escape writes a value as it must stand in a body of kind k.
func (k bodyKind) escape(v string) string {
	switch k {
	case bodyJSON:
		return jsonInner(v)
	case bodyForm:
		return url.QueryEscape(v)
	case bodyXML:
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(v))
		return b.String()
	}
	return v
}

// maxInflate bounds a compressed body's decoded size, in multiples of
// max_body: it is only searched, never kept.
const maxInflate = 16

func unsearchable(detail string) *gateway.Problem {
	return gateway.NewProblem(http.StatusUnsupportedMediaType, "unsearchable_body", detail)
}

var errBodyPlaceholder = errors.New("a placeholder in a request body keygate does not substitute in")

// body substitutes in the request body. A body with a placeholder that
// keygate cannot substitute in is refused before anything is sent; one too
// large to hold (past max_body, or of unknown length and opaque type) is
// streamed through a guard that cuts the request before a placeholder
// leaves.
func (s *substitution) body(out *http.Request) *gateway.Problem {
	if out.Body == nil || out.Body == http.NoBody {
		return nil
	}
	if s.signed {
		// The client's signature covers the body as it is (sigv4.go): it
		// is never rewritten, only guarded.
		out.Body = s.guard(out.Body)
		return nil
	}
	switch ce := contentEncoding(out.Header); ce {
	case "":
	case "aws-chunked":
		// A framing of signed chunks (SigV4 streaming uploads), not a
		// compression: nothing is substituted in it, and it is guarded.
		out.Body = s.guard(out.Body)
		return nil
	default:
		return s.compressedBody(out, ce)
	}
	mt, params, _ := mime.ParseMediaType(out.Header.Get("Content-Type"))
	kind := bodyKindOf(mt)
	if kind == bodyOpaque && (out.ContentLength < 0 || out.ContentLength > s.h.MaxBody) {
		// A stream, or large: it goes as it comes, guarded.
		out.Body = s.guard(out.Body)
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, s.h.MaxBody+1))
	if err != nil {
		out.Body.Close()
		return gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body could not be read")
	}
	if int64(len(b)) > s.h.MaxBody {
		if kind == bodyJSON || kind == bodyForm {
			out.Body.Close()
			return gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a JSON or form body above %d bytes cannot be searched for placeholders", s.h.MaxBody))
		}
		if bytes.Contains(b, []byte(policy.PlaceholderPrefix)) {
			out.Body.Close()
			return unsearchable(fmt.Sprintf("a placeholder in a body above max_body (%d bytes): keygate substitutes only in bodies it can hold", s.h.MaxBody))
		}
		out.Body = s.guard(struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(b), out.Body), out.Body})
		return nil
	}
	out.Body.Close()
	var p *gateway.Problem
	switch kind {
	case bodyOpaque:
		if bytes.Contains(b, []byte(policy.PlaceholderPrefix)) {
			// The type is not named: its header may hold a substituted value.
			return unsearchable("a placeholder in a body of a type keygate does not substitute in; JSON, form, XML, text and multipart bodies are substituted")
		}
	case bodyMultipart:
		b, p = s.multipartBody(b, params["boundary"])
	default:
		b, p = s.substituteIn(b, kind)
	}
	if p != nil {
		return p
	}
	if hiddenPlaceholder(kind, b) {
		return forbidden("placement_not_allowed", "an encoded placeholder (percent-encoded, a JSON \\u escape or an XML character reference): write it as it is")
	}
	setBody(out, b)
	return nil
}

// contentEncoding is a request's Content-Encoding list, lower case,
// without identity: "" for none.
func contentEncoding(h http.Header) string {
	var encs []string
	for _, v := range h.Values("Content-Encoding") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.ToLower(strings.TrimSpace(e)); e != "" && e != "identity" {
				encs = append(encs, e)
			}
		}
	}
	return strings.Join(encs, ", ")
}

func setBody(out *http.Request, b []byte) {
	out.Body = io.NopCloser(bytes.NewReader(b))
	out.ContentLength = int64(len(b))
	out.Header.Del("Content-Length")
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// substituteIn replaces every placeholder in b, escaped for kind.
func (s *substitution) substituteIn(b []byte, kind bodyKind) ([]byte, *gateway.Problem) {
	if !policy.ContainsPlaceholder(string(b)) {
		return b, nil
	}
	nb, _, err := policy.ReplacePlaceholders(string(b), func(ph string) (string, error) {
		v, err := s.value(ph, true)
		return kind.escape(v), err
	})
	if err != nil {
		return nil, refusal(err)
	}
	return []byte(nb), nil
}

// multipartBody substitutes part by part, each escaped for its own type;
// a part in base64 or quoted-printable transfer encoding may hold no
// placeholder, nor may a part's headers.
func (s *substitution) multipartBody(b []byte, boundary string) ([]byte, *gateway.Problem) {
	// Parsed even without a placeholder in sight: a base64 part can hide
	// one.
	if boundary == "" {
		return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "a multipart body without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(b), boundary)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.SetBoundary(boundary); err != nil {
		return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "a multipart body with a malformed boundary")
	}
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "a malformed multipart body")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, gateway.NewProblem(http.StatusBadRequest, "bad_body", "a malformed multipart body")
		}
		for _, vs := range part.Header {
			for _, v := range vs {
				if policy.ContainsPlaceholder(v) {
					return nil, forbidden("placement_not_allowed", "a placeholder stands in a multipart part's headers")
				}
			}
		}
		if data, err = s.part(part.Header, data); err != nil {
			return nil, refusal(err)
		}
		w, err := mw.CreatePart(part.Header)
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			return nil, gateway.ToProblem(err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, gateway.ToProblem(err)
	}
	if !bytes.Contains(b, []byte(policy.PlaceholderPrefix)) {
		return b, nil // nothing substituted: the body goes as it came
	}
	return buf.Bytes(), nil
}

// part substitutes in one multipart part's content.
func (s *substitution) part(hdr textproto.MIMEHeader, data []byte) ([]byte, error) {
	var decoded io.Reader
	switch cte := strings.ToLower(strings.TrimSpace(hdr.Get("Content-Transfer-Encoding"))); cte {
	case "", "7bit", "8bit", "binary":
	case "base64":
		decoded = base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("\r"), nil), []byte("\n"), nil)))
	case "quoted-printable":
		decoded = quotedprintable.NewReader(bytes.NewReader(data))
	default:
		decoded = bytes.NewReader(data) // unknown: searched as it is
	}
	if decoded != nil {
		d, err := io.ReadAll(decoded)
		if err != nil || bytes.Contains(d, []byte(policy.PlaceholderPrefix)) || bytes.Contains(data, []byte(policy.PlaceholderPrefix)) {
			return nil, &problemError{unsearchable("a placeholder in a multipart part in a transfer encoding keygate does not substitute in (send the part as binary or 8bit)")}
		}
		return data, nil
	}
	mt, _, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
	kind := bodyKindOf(mt)
	if kind == bodyMultipart {
		return nil, &problemError{unsearchable("a placeholder in a nested multipart body")}
	}
	nb, p := s.substituteIn(data, kind)
	if p != nil {
		return nil, &problemError{p}
	}
	if hiddenPlaceholder(kind, nb) {
		return nil, &problemError{forbidden("placement_not_allowed", "an encoded placeholder in a multipart part: write it as it is")}
	}
	return nb, nil
}

// compressedBody searches a gzip or deflate body for placeholders (keygate
// does not substitute in them: it would have to compress again) and sends
// it as it came when it holds none. Other encodings cannot be searched.
func (s *substitution) compressedBody(out *http.Request, ce string) *gateway.Problem {
	var open func(io.Reader) (io.Reader, error)
	switch ce {
	case "gzip", "x-gzip":
		open = func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
	case "deflate":
		open = func(r io.Reader) (io.Reader, error) { return zlib.NewReader(r) }
	default:
		out.Body.Close()
		// The encoding is not named: its header may hold a substituted value.
		return unsearchable("a request body in a Content-Encoding keygate cannot search for placeholders; send it uncompressed, or in gzip or deflate")
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, s.h.MaxBody+1))
	out.Body.Close()
	if err != nil {
		return gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body could not be read")
	}
	if int64(len(b)) > s.h.MaxBody {
		return gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a compressed body above %d bytes cannot be searched for placeholders", s.h.MaxBody))
	}
	zr, err := open(bytes.NewReader(b))
	if err != nil {
		return gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body is not in its Content-Encoding")
	}
	limit := s.h.MaxBody * maxInflate
	n, err := io.Copy(io.Discard, io.LimitReader(newPlaceholderGuard(io.NopCloser(zr)), limit+1))
	switch {
	case errors.Is(err, errBodyPlaceholder):
		return unsearchable("a placeholder in a compressed request body: keygate substitutes only in uncompressed bodies")
	case err != nil:
		return gateway.NewProblem(http.StatusBadRequest, "bad_body", "the request body is not in its Content-Encoding")
	case n > limit:
		return gateway.NewProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("a compressed body that decodes to more than %d bytes cannot be searched for placeholders", limit))
	}
	setBody(out, b)
	return nil
}

// placeholderGuard passes a body on as it reads it, but fails before the
// bytes of a placeholder prefix leave: it holds back the last bytes that
// could begin one until the next read shows how they go on.
type placeholderGuard struct {
	r   io.ReadCloser
	buf []byte // read, not yet handed out
	err error
	// tripped is set where the guard refused, read by the handler of
	// the transport's error (which may not wrap errBodyPlaceholder).
	tripped atomic.Bool
}

const guardChunk = 32 << 10

func newPlaceholderGuard(r io.ReadCloser) *placeholderGuard { return &placeholderGuard{r: r} }

// guard wraps a request body that goes out unsearched.
func (s *substitution) guard(r io.ReadCloser) io.ReadCloser {
	g := newPlaceholderGuard(r)
	s.guards = append(s.guards, g)
	return g
}

// cut reports whether a guard of this request refused.
func (s *substitution) cut() bool {
	for _, g := range s.guards {
		if g.tripped.Load() {
			return true
		}
	}
	return false
}

func (g *placeholderGuard) Read(p []byte) (int, error) {
	hold := len(policy.PlaceholderPrefix) - 1
	for len(g.buf) <= hold && g.err == nil {
		if cap(g.buf)-len(g.buf) < guardChunk/2 {
			nb := make([]byte, len(g.buf), len(g.buf)+guardChunk)
			copy(nb, g.buf)
			g.buf = nb
		}
		n, err := g.r.Read(g.buf[len(g.buf):cap(g.buf)])
		g.buf = g.buf[:len(g.buf)+n]
		g.err = err
		if bytes.Contains(g.buf, []byte(policy.PlaceholderPrefix)) {
			g.buf, g.err = nil, errBodyPlaceholder
			g.tripped.Store(true)
			return 0, g.err
		}
	}
	ready := len(g.buf)
	if g.err == nil {
		ready -= hold
	}
	if ready == 0 {
		return 0, g.err
	}
	n := copy(p, g.buf[:ready])
	g.buf = append(g.buf[:0], g.buf[n:]...)
	return n, nil
}

func (g *placeholderGuard) Close() error { return g.r.Close() }

// recordCut audits a request cut mid-body by the guard, joined to its
// allowed event by the request id.
func (h *Handler) recordCut(r *http.Request, ev store.AuditEvent) {
	_ = h.app.RecordChange(r.Context(), gateway.Change{Actor: ev.Actor, Action: gateway.ActionProxy, Keychain: ev.Keychain,
		Package: ev.Package, Keys: ev.Keys, Reason: "cut: unsearchable_body", RequestID: ev.RequestID})
}
