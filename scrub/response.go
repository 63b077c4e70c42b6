package scrub

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// ErrEncoding is the error a response body fails with when its Content-Encoding is one the
// standard library cannot decode (br, zstd, compress, stacked codings): keygate cannot look inside,
// so it delivers nothing rather than a value it could not scrub. It names no value.
var ErrEncoding = errors.New("keygate: response content encoding cannot be scrubbed")

// Response scrubs resp for delivery to the caller: its status line and headers now, its body and
// trailers as they are read (resp.Body becomes the returned Body, whose Count includes the
// header replacements). When the body may change, the digests that describe the old bytes are
// dropped (Content-MD5, Digest, Content-Digest, Repr-Digest), and so is Content-Length
// (resp.ContentLength = -1, so it goes out chunked), except that an identity answer declaring at
// most wholeMax bytes, not an event stream, is read and scrubbed whole before Response
// returns and gets the Content-Length of its scrubbed bytes; it fails then if the body does. A
// gzip or deflate (zlib or raw) body is decoded and delivered identity, without
// Content-Encoding. Any other Content-Encoding gets ErrEncoding, and the body fails closed
// with it: the transport should then answer 502, and asks upstreams for Accept-Encoding: identity
// so this is rare. A ranged (206) answer is scrubbed piece by piece: a
// value split across two ranges is not caught.
func (s *Scrubber) Response(resp *http.Response) (*Body, error) {
	n, src := s.head(resp)
	sb := &Body{s: s, src: src, trailer: &resp.Trailer}
	sb.count.Add(int64(n))
	resp.Body = sb
	if !s.active() || src == http.NoBody || resp.ContentLength == 0 {
		return sb, nil
	}
	declared := resp.ContentLength
	bodyChanges(resp)
	coding, ok := codingToUndo(resp.Header["Content-Encoding"])
	if !ok {
		sb.src = failClosed{src}
		return sb, ErrEncoding
	}
	delete(resp.Header, "Content-Encoding")
	if coding != "" {
		sb.src = &decoder{src: src, coding: coding}
		resp.Uncompressed = true
		return sb, nil
	}
	if declared > 0 && declared <= wholeMax && !eventStream(resp.Header) {
		if err := sb.readWhole(int(declared)); err != nil {
			return sb, err
		}
		resp.ContentLength = int64(len(sb.out))
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(sb.out))}
	}
	return sb, nil
}

// head scrubs resp's status line and headers, and returns the replacements
// made and the body to wrap (never nil).
func (s *Scrubber) head(resp *http.Response) (int, io.ReadCloser) {
	n := s.Headers(resp.Header)
	if s.active() {
		var c int
		resp.Status, c = s.Text(resp.Status)
		n += c
	}
	if resp.Body == nil {
		return n, http.NoBody
	}
	return n, resp.Body
}

// HeadersOnly scrubs resp's status line and headers now, and its trailers,
// announced or not, when its body ends; the body itself goes through as
// sent. It is for an answer whose body is delivered unscrubbed on purpose
// but whose headers are logged. resp.Body becomes the returned PassBody.
func (s *Scrubber) HeadersOnly(resp *http.Response) *PassBody {
	n, src := s.head(resp)
	pb := &PassBody{s: s, src: src, trailer: &resp.Trailer}
	pb.count.Add(int64(n))
	resp.Body = pb
	return pb
}

// PassBody is a body delivered as sent whose response's trailers are
// scrubbed when it ends (see HeadersOnly).
type PassBody struct {
	s       *Scrubber
	src     io.ReadCloser
	trailer *http.Header
	ended   bool
	count   atomic.Int64
}

// Read implements io.Reader.
func (b *PassBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	if err == io.EOF && !b.ended {
		b.ended = true
		b.count.Add(int64(b.s.Headers(*b.trailer)))
	}
	return n, err
}

// Close closes the upstream body.
func (b *PassBody) Close() error { return b.src.Close() }

// Count reports the replacements made in the headers and trailers so far.
func (b *PassBody) Count() int { return int(b.count.Load()) }

// eventStream reports a text/event-stream answer, which is always streamed event by event.
func eventStream(h http.Header) bool {
	var ct string
	if v := h["Content-Type"]; len(v) > 0 {
		ct, _, _ = strings.Cut(v[0], ";")
	}
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// readWhole reads a body of exactly n bytes (n <= wholeMax) and scrubs it in one pass; Read
// then returns the scrubbed bytes and EOF. The unscrubbed bytes are cleared at once. A body that
// ends early or fails is an error, and nothing of it is delivered.
func (b *Body) readWhole(n int) error {
	b.bufs = b.s.buffers(n > firstChunk)
	win := b.bufs.win[:n+1]
	b.bufs.used(n+1, 0)
	defer clear(win)
	fail := func(err error) error {
		b.release()
		b.err = err // the body fails closed too
		return err
	}
	if _, err := io.ReadFull(b.src, win[:n]); err != nil {
		return fail(fmt.Errorf("keygate: reading the upstream's answer: %w", err))
	}
	// net/http enforces the Content-Length, so this read is an EOF; it also hands the
	// connection back for reuse before the caller has read anything.
	if extra, err := b.src.Read(win[n:]); extra > 0 || (err != nil && err != io.EOF) {
		return fail(errors.New("keygate: the upstream's answer is longer than its Content-Length"))
	}
	out, _, c := b.s.scrub(b.bufs.out[:0], win[:n], true, b.scratch())
	b.bufs.used(0, len(out))
	b.out, b.off = out, 0
	b.count.Add(int64(c))
	b.settle(n, io.EOF)
	return nil
}

func bodyChanges(resp *http.Response) {
	resp.ContentLength = -1
	// The names are canonical already: Header.Del would canonicalize each again.
	for _, h := range []string{"Content-Length", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest"} {
		delete(resp.Header, h)
	}
}

// codingToUndo returns the one coding to undo ("" for none), or false when it cannot.
func codingToUndo(values []string) (string, bool) {
	coding := ""
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch {
			// aws-chunked is an upload's framing, which some S3 servers
			// store with the object and name again in its answers; the
			// body they send is the object as it is.
			case c == "" || c == "identity" || c == "aws-chunked":
			case coding == "" && (c == "gzip" || c == "x-gzip" || c == "deflate"):
				coding = c
			default:
				return "", false
			}
		}
	}
	return coding, true
}

// decoder undoes a gzip or deflate coding. It starts on the first Read, so that building the
// response never waits on the upstream.
type decoder struct {
	src    io.ReadCloser
	coding string
	r      io.Reader
	err    error
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		d.r, d.err = d.start()
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

func (d *decoder) start() (io.Reader, error) {
	if d.coding != "deflate" {
		return gzip.NewReader(d.src)
	}
	// HTTP's deflate is zlib (RFC 9110), but some servers send a raw deflate stream.
	br := bufio.NewReader(d.src)
	if h, err := br.Peek(2); err == nil && h[0]&0x0f == 8 && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 {
		return zlib.NewReader(br)
	}
	return flate.NewReader(br), nil
}

func (d *decoder) Close() error { return d.src.Close() }

type failClosed struct{ src io.ReadCloser }

func (f failClosed) Read([]byte) (int, error) { return 0, ErrEncoding }
func (f failClosed) Close() error             { return f.src.Close() }
