package egress

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// ScrubReplacement is what every occurrence of an injected value becomes in a response.
const ScrubReplacement = "[redacted by keygate]"

// ErrScrubEncoding is the error a response body fails with when its Content-Encoding is one the
// standard library cannot decode (br, zstd, compress, stacked codings): keygate cannot look inside,
// so it delivers nothing rather than a value it could not scrub. It names no value.
var ErrScrubEncoding = errors.New("keygate: response content encoding cannot be scrubbed")

const (
	// The body's read buffer starts small, so a short or streamed answer holds little, and moves
	// to scrubMaxChunk once the upstream fills it.
	scrubFirstChunk = 4 << 10
	scrubMaxChunk   = 32 << 10
	// As bufio does, a source that keeps returning (0, nil) is an error, not a spin.
	scrubMaxEmptyReads = 100
	// A pooled buffer has this much room beyond its chunk for a held-back partial needle; a
	// scrubber with longer needles allocates its buffers, sized to fit.
	scrubPoolSlack = 1 << 10
	// An identity answer that declares a Content-Length up to this size is read whole and
	// scrubbed in one pass, so that it keeps a Content-Length (of its scrubbed bytes) instead of
	// going out chunked: Caddy's reverse_proxy flushes a chunked answer on every write, which for
	// a short answer costs a second write to the client. It fits the larger pooled buffer.
	scrubWholeMax = scrubMaxChunk
)

// scrubPools recycle the window and output buffers of finished bodies, one pool per chunk size
// (scrubFirstChunk, scrubMaxChunk), each buffer of capacity chunk+scrubPoolSlack: allocating and
// collecting them was most of the cost of scrubbing a short answer.
var scrubPools [2]sync.Pool

// Scrubber finds the values keygate injected into a request in the response it got back, and
// replaces each occurrence with ScrubReplacement. It is immutable once built and safe for
// concurrent use; a nil *Scrubber scrubs nothing.
//
// For each needle given to NewScrubber it searches these forms (deduplicated, searched as one set):
//   - the raw bytes;
//   - url.QueryEscape (space as "+"), url.PathEscape, and strict RFC 3986 percent-encoding
//     (everything but A-Z a-z 0-9 - . _ ~ as %XX, space as %20), all with upper-case hex;
//   - each of the four above as the inside of a JSON string, when the raw bytes are valid UTF-8:
//     `"` and `\` backslash-escaped, control characters as \b \f \n \r \t or \u00xx, combined with
//     every choice of the optional escapes encoders differ on: <, > and & as \u003c \u003e \u0026
//     (Go's encoding/json), "/" as "\/" (PHP), non-ASCII as \uxxxx with surrogate pairs (Python,
//     PHP), U+2028 and U+2029 as \u2028 \u2029 (Go). Hex in \u escapes is lower case.
//
// Not covered: lower-case percent hex, upper-case \u hex, base64 or any other re-encoding, and a
// value that an upstream cut or transformed. Matching is leftmost, then longest; replacements are
// never rescanned, so a needle inside ScrubReplacement cannot loop.
type Scrubber struct {
	needles   [][]byte // longest first, so the first needle found at a position is the longest
	strs      []string // needles as strings, for header values
	nameForms []string // ASCII lower-cased needles that could be part of a header name
	first     [256]bool
	maxLen    int
	// core[i] is a shorter needle inside needle i, at coreAt[i] (core -1: none). Needle i can only
	// occur where its core does, so a body without the core is searched once, not once per form:
	// the header forms of a value ("Bearer v", "Bearer+v", "Bearer%20v") all hold the raw value.
	core, coreAt []int
	rare         []int // per needle, the offset of its least common byte, which index looks for
}

// NewScrubber returns a Scrubber for the given values (typically the injected secret and the exact
// header value that carried it, such as "Basic dXNlcjpwYXNz"). Empty needles are ignored and
// duplicates counted once; the needles are copied.
func NewScrubber(needles ...[]byte) *Scrubber {
	s := &Scrubber{}
	seen := map[string]bool{}
	for _, n := range needles {
		if len(n) == 0 {
			continue
		}
		for _, form := range scrubForms(n) {
			if seen[form] {
				continue
			}
			seen[form] = true
			s.needles = append(s.needles, []byte(form))
		}
	}
	sort.Slice(s.needles, func(i, j int) bool {
		if len(s.needles[i]) != len(s.needles[j]) {
			return len(s.needles[i]) > len(s.needles[j])
		}
		return bytes.Compare(s.needles[i], s.needles[j]) < 0
	})
	for i, n := range s.needles {
		s.core = append(s.core, -1)
		s.coreAt = append(s.coreAt, 0)
		for j := len(s.needles) - 1; j > i; j-- {
			if at := bytes.Index(n, s.needles[j]); at >= 0 {
				s.core[i], s.coreAt[i] = j, at
				break
			}
		}
		s.rare = append(s.rare, scrubRarest(n))
		s.strs = append(s.strs, string(n))
		s.first[n[0]] = true
		s.maxLen = max(s.maxLen, len(n))
		if scrubIsToken(n) {
			s.nameForms = append(s.nameForms, strings.ToLower(string(n)))
		}
	}
	return s
}

// String keeps the needles out of any log line or error that prints a Scrubber.
func (s *Scrubber) String() string {
	if s == nil {
		return "scrubber(off)"
	}
	return fmt.Sprintf("scrubber(%d forms)", len(s.needles))
}

// GoString does for %#v what String does for %v.
func (s *Scrubber) GoString() string { return s.String() }

func (s *Scrubber) active() bool { return s != nil && len(s.needles) > 0 }

// Headers scrubs every value of h in place (Location, Set-Cookie and the rest alike) and returns
// the number of replacements. A header whose name contains a needle, compared without case since
// net/http canonicalizes names, is removed whole and counted once: a replacement would not be a
// valid header name.
func (s *Scrubber) Headers(h http.Header) (n int) {
	if !s.active() {
		return 0
	}
	for name, vals := range h {
		if s.nameHas(name) {
			delete(h, name)
			n++
			continue
		}
		for i, v := range vals {
			if out, c := s.scrubString(v); c > 0 {
				vals[i] = out
				n += c
			}
		}
	}
	return n
}

func (s *Scrubber) nameHas(name string) bool {
	for _, f := range s.nameForms {
		for i := 0; i+len(f) <= len(name); i++ {
			if scrubLower(name[i]) == f[0] && strings.EqualFold(name[i:i+len(f)], f) {
				return true
			}
		}
	}
	return false
}

// scrubString scrubs one complete string; it allocates only when it finds a needle.
func (s *Scrubber) scrubString(v string) (string, int) {
	for _, n := range s.strs {
		if strings.Contains(v, n) {
			out, _, c := s.scrub(nil, []byte(v), true, make([]int, len(s.needles)))
			return string(out), c
		}
	}
	return v, 0
}

// scrub appends to dst the scrubbed form of win and returns how many bytes of win it consumed and
// how many replacements it made. Unless final, it holds back the longest suffix of win that is a
// proper prefix of some needle, and no more: each decision is taken only once the bytes that could
// change it are in the window, so the output does not depend on how the input was chunked. next is
// scratch space of len(s.needles).
func (s *Scrubber) scrub(dst, win []byte, final bool, next []int) (out []byte, used, n int) {
	tail := len(win)
	if !final {
		tail = s.tailStart(win, 0)
	}
	// next[i] caches where needle i next occurs at or after pos: -1 none in win, -2 not searched.
	for i := range next {
		next[i] = -2
	}
	pos := 0
	for {
		// Shortest needle first, so that a core is searched before the needles that hold it; on a
		// tie in position the later, longer needle wins.
		at, k := -1, -1
		for i := len(s.needles) - 1; i >= 0; i-- {
			if next[i] == -1 {
				continue
			}
			if next[i] < pos {
				from := pos
				if c := s.core[i]; c >= 0 {
					if next[c] == -1 {
						next[i] = -1
						continue
					}
					from = max(pos, next[c]-s.coreAt[i])
				}
				idx := s.index(win[from:], i)
				if idx < 0 {
					next[i] = -1
					continue
				}
				next[i] = from + idx
			}
			if at < 0 || next[i] <= at {
				at, k = next[i], i
			}
		}
		// A match starting in the tail waits: a longer needle may still match there.
		if at < 0 || at >= tail {
			break
		}
		dst = append(dst, win[pos:at]...)
		dst = append(dst, ScrubReplacement...)
		n++
		pos = at + len(s.needles[k])
		if pos > tail {
			tail = s.tailStart(win, pos)
		}
	}
	dst = append(dst, win[pos:tail]...)
	return dst, tail, n
}

// index is bytes.Index(win, s.needles[i]), found by the needle's least common byte rather than its
// first: in text and JSON an API key's first letter is common, and each false start costs a call.
// After as many false starts as bytes.Index tolerates it hands over to bytes.Index, which stays
// linear for any input.
func (s *Scrubber) index(win []byte, i int) int {
	nd, r := s.needles[i], s.rare[i]
	last := len(win) - len(nd) // the last possible start
	fails := 0
	for from := 0; from <= last; {
		j := bytes.IndexByte(win[from+r:last+r+1], nd[r])
		if j < 0 {
			return -1
		}
		at := from + j
		if bytes.Equal(win[at:at+len(nd)], nd) {
			return at
		}
		if fails++; fails > 4+at>>4 {
			if k := bytes.Index(win[at+1:], nd); k >= 0 {
				return at + 1 + k
			}
			return -1
		}
		from = at + 1
	}
	return -1
}

// scrubCommon lists bytes roughly from most to least common in text, JSON and HTML; a byte not
// listed is rarer than all of them.
const scrubCommon = " etaoinsrhl\"dcum:,pfgy.b0w1v2-k/=_><3x5A94678jqSCzETIRNDOPLMBFHGUWVKYJQXZ"

// scrubRarest returns the offset of n's least common byte, the first of equals.
func scrubRarest(n []byte) int {
	best, bestRank := 0, -1
	for i, c := range n {
		rank := strings.IndexByte(scrubCommon, c)
		if rank < 0 {
			rank = len(scrubCommon)
		}
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}
	return best
}

// tailStart returns the start of the longest suffix of win[from:] that is a proper prefix of a
// needle, or len(win) when there is none.
func (s *Scrubber) tailStart(win []byte, from int) int {
	for i := max(from, len(win)-s.maxLen+1); i < len(win); i++ {
		if !s.first[win[i]] {
			continue
		}
		rest := win[i:]
		for _, nd := range s.needles {
			if len(nd) > len(rest) && bytes.HasPrefix(nd, rest) {
				return i
			}
		}
	}
	return len(win)
}

// ScrubBody is a response body scrubbed as it streams. Memory is bounded by the read chunk plus
// the longest needle (and the growth replacements cause); the whole body is never held, but for a
// short answer of declared length (at most scrubWholeMax, see Response), which is. Each Read
// returns as soon as the upstream delivered bytes that cannot begin a needle, so a server-sent
// event ending in "\n\n" passes at once.
//
// At the end of the body a held-back partial needle is delivered as it is: a value cut short by
// the upstream is not the value. On any other read error the held-back bytes are dropped and the
// error returned.
type ScrubBody struct {
	s       *Scrubber
	src     io.ReadCloser
	trailer http.Header // scrubbed at EOF, when net/http has filled it in

	buf     []byte // unprocessed input: the held-back tail, then new bytes
	out     []byte // scrubbed output not yet returned
	off     int
	next    []int
	nextArr [8]int // next's storage for scrubbers with few needles, the usual case
	bufs    *scrubBuffers
	err     error
	empty   int

	count  atomic.Int64
	closed atomic.Bool
}

// Body wraps rc so that every read of it is scrubbed. It does not decode Content-Encoding; see
// Response for a whole http.Response.
func (s *Scrubber) Body(rc io.ReadCloser) *ScrubBody {
	return &ScrubBody{s: s, src: rc}
}

// Count reports the replacements made so far (with those in headers and trailers when the body
// came from Response). It is safe to call from any goroutine, before or after Close.
func (b *ScrubBody) Count() int { return int(b.count.Load()) }

// String keeps buffered bytes, which may hold part of a value, out of anything that prints b.
func (b *ScrubBody) String() string { return "scrubbed body" }

// GoString does for %#v what String does for %v.
func (b *ScrubBody) GoString() string { return b.String() }

// Read implements io.Reader.
func (b *ScrubBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	if len(p) == 0 {
		return 0, nil
	}
	for b.off == len(b.out) {
		if b.err != nil {
			b.release()
			return 0, b.err
		}
		b.fill()
	}
	n := copy(p, b.out[b.off:])
	b.off += n
	return n, nil
}

// fill makes one upstream read and scrubs what it can of the window. It is called only when all
// earlier output has been returned.
func (b *ScrubBody) fill() {
	if !b.s.active() {
		// Nothing to find: the body passes through the output buffer unchanged.
		if b.out == nil {
			b.out = make([]byte, scrubFirstChunk)
		}
		n, err := b.src.Read(b.out[:cap(b.out)])
		b.out, b.off = b.out[:n], 0
		b.settle(n, err)
		return
	}
	if b.bufs == nil {
		b.bufs = b.s.buffers(false)
		b.buf, b.out = b.bufs.win, b.bufs.out
		b.next = b.scratch()
	}
	n, err := b.src.Read(b.buf[len(b.buf):cap(b.buf)])
	filled := len(b.buf)+n == cap(b.buf)
	b.buf = b.buf[:len(b.buf)+n]
	out, used, c := b.s.scrub(b.out[:0], b.buf, err == io.EOF, b.next)
	b.bufs.used(len(b.buf), len(out))
	b.out, b.off = out, 0
	b.count.Add(int64(c))
	rest := b.buf[used:]
	if filled && !b.bufs.big {
		// The upstream keeps up: read the rest in the larger chunks.
		small := b.bufs
		b.bufs = b.s.buffers(true)
		b.buf = b.bufs.win[:copy(b.bufs.win[:cap(b.bufs.win)], rest)]
		b.out = append(b.bufs.out, out...)
		b.bufs.used(len(b.buf), len(b.out))
		small.put()
	} else {
		b.buf = b.buf[:copy(b.buf[:cap(b.buf)], rest)]
	}
	if err != nil {
		// At EOF nothing is held back; after a failure, a held-back prefix is not delivered.
		b.buf = b.buf[:0]
	}
	b.settle(n, err)
}

// scrubBuffers is a body's window and output buffer, pooled together.
type scrubBuffers struct {
	win, out []byte // empty; their capacity is the room
	big      bool   // of scrubMaxChunk, else of scrubFirstChunk
	pooled   bool
	// How far win and out were written, so that put clears no more than that.
	winHigh, outHigh int
}

// buffers returns empty buffers for a body, from the pools when s's needles fit in their slack.
func (s *Scrubber) buffers(big bool) *scrubBuffers {
	chunk, pool := scrubFirstChunk, &scrubPools[0]
	if big {
		chunk, pool = scrubMaxChunk, &scrubPools[1]
	}
	if s.maxLen > scrubPoolSlack {
		return &scrubBuffers{win: make([]byte, 0, chunk+s.maxLen), out: make([]byte, 0, chunk+len(ScrubReplacement)), big: big}
	}
	if p, ok := pool.Get().(*scrubBuffers); ok {
		return p
	}
	return &scrubBuffers{win: make([]byte, 0, chunk+scrubPoolSlack), out: make([]byte, 0, chunk+scrubPoolSlack), big: big, pooled: true}
}

func (p *scrubBuffers) used(win, out int) {
	p.winHigh, p.outHigh = max(p.winHigh, win), max(p.outHigh, out)
}

// put returns pooled buffers to their pool, cleared, so that pooled memory holds no part of a
// value. An output that append outgrew was copied from out, so out's written part is within
// outHigh.
func (p *scrubBuffers) put() {
	if !p.pooled {
		return
	}
	clear(p.win[:min(p.winHigh, cap(p.win))])
	clear(p.out[:min(p.outHigh, cap(p.out))])
	p.winHigh, p.outHigh = 0, 0
	if p.big {
		scrubPools[1].Put(p)
	} else {
		scrubPools[0].Put(p)
	}
}

// release hands the buffers back once the body has delivered all it will; only Read calls it, so
// a Close racing a Read cannot recycle a buffer still in use.
func (b *ScrubBody) release() {
	if b.bufs == nil {
		return
	}
	b.bufs.put()
	b.bufs, b.buf, b.out, b.off = nil, nil, nil, 0
}

func (b *ScrubBody) settle(n int, err error) {
	if n == 0 && err == nil {
		b.empty++
		if b.empty >= scrubMaxEmptyReads {
			err = io.ErrNoProgress
		}
	} else {
		b.empty = 0
	}
	if err == io.EOF && b.trailer != nil {
		b.count.Add(int64(b.s.Headers(b.trailer)))
	}
	b.err = err
}

// Close closes the upstream body. A Read after Close fails with http.ErrBodyReadAfterClose.
func (b *ScrubBody) Close() error {
	b.closed.Store(true)
	return b.src.Close()
}

// Response scrubs resp for delivery to the caller: its status line and headers now, its body and
// trailers as they are read (resp.Body becomes the returned ScrubBody, whose Count includes the
// header replacements). When the body may change, the digests that describe the old bytes are
// dropped (Content-MD5, Digest, Content-Digest, Repr-Digest), and so is Content-Length
// (resp.ContentLength = -1, so it goes out chunked), except that an identity answer declaring at
// most scrubWholeMax bytes, not an event stream, is read and scrubbed whole before Response
// returns and gets the Content-Length of its scrubbed bytes; it fails then if the body does. A
// gzip or deflate (zlib or raw) body is decoded and delivered identity, without
// Content-Encoding. Any other Content-Encoding gets ErrScrubEncoding, and the body fails closed
// with it: the transport should then answer 502, and asks upstreams for Accept-Encoding: identity
// so this is rare. A ranged (206) answer is scrubbed piece by piece: a
// value split across two ranges is not caught.
func (s *Scrubber) Response(resp *http.Response) (*ScrubBody, error) {
	n := s.Headers(resp.Header)
	if s.active() {
		var c int
		resp.Status, c = s.scrubString(resp.Status)
		n += c
	}
	src := resp.Body
	if src == nil {
		src = http.NoBody
	}
	sb := &ScrubBody{s: s, src: src, trailer: resp.Trailer}
	sb.count.Add(int64(n))
	resp.Body = sb
	if !s.active() || src == http.NoBody || resp.ContentLength == 0 {
		return sb, nil
	}
	declared := resp.ContentLength
	scrubBodyChanges(resp)
	coding, ok := scrubCoding(resp.Header["Content-Encoding"])
	if !ok {
		sb.src = scrubFailClosed{src}
		return sb, ErrScrubEncoding
	}
	delete(resp.Header, "Content-Encoding")
	if coding != "" {
		sb.src = &scrubDecoder{src: src, coding: coding}
		resp.Uncompressed = true
		return sb, nil
	}
	if declared > 0 && declared <= scrubWholeMax && !eventStream(resp.Header) {
		if err := sb.readWhole(int(declared)); err != nil {
			return sb, err
		}
		resp.ContentLength = int64(len(sb.out))
		resp.Header["Content-Length"] = []string{strconv.Itoa(len(sb.out))}
	}
	return sb, nil
}

// eventStream reports a text/event-stream answer, which is always streamed event by event.
func eventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(first(h, "Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// scratch returns the scrub's scratch space, one int per needle, in nextArr when it fits.
func (b *ScrubBody) scratch() []int {
	if len(b.s.needles) > len(b.nextArr) {
		return make([]int, len(b.s.needles))
	}
	return b.nextArr[:len(b.s.needles)]
}

// readWhole reads a body of exactly n bytes (n <= scrubWholeMax) and scrubs it in one pass; Read
// then returns the scrubbed bytes and EOF. The unscrubbed bytes are cleared at once. A body that
// ends early or fails is an error, and nothing of it is delivered.
func (b *ScrubBody) readWhole(n int) error {
	b.bufs = b.s.buffers(n > scrubFirstChunk)
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

func scrubBodyChanges(resp *http.Response) {
	resp.ContentLength = -1
	// The names are canonical already: Header.Del would canonicalize each again.
	for _, h := range []string{"Content-Length", "Content-Md5", "Digest", "Content-Digest", "Repr-Digest"} {
		delete(resp.Header, h)
	}
}

// scrubCoding returns the one coding to undo ("" for none), or false when it cannot.
func scrubCoding(values []string) (string, bool) {
	coding := ""
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			switch {
			case c == "" || c == "identity":
			case coding == "" && (c == "gzip" || c == "x-gzip" || c == "deflate"):
				coding = c
			default:
				return "", false
			}
		}
	}
	return coding, true
}

// scrubDecoder undoes a gzip or deflate coding. It starts on the first Read, so that building the
// response never waits on the upstream.
type scrubDecoder struct {
	src    io.ReadCloser
	coding string
	r      io.Reader
	err    error
}

func (d *scrubDecoder) Read(p []byte) (int, error) {
	if d.r == nil && d.err == nil {
		d.r, d.err = d.start()
	}
	if d.err != nil {
		return 0, d.err
	}
	return d.r.Read(p)
}

func (d *scrubDecoder) start() (io.Reader, error) {
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

func (d *scrubDecoder) Close() error { return d.src.Close() }

type scrubFailClosed struct{ src io.ReadCloser }

func (f scrubFailClosed) Read([]byte) (int, error) { return 0, ErrScrubEncoding }
func (f scrubFailClosed) Close() error             { return f.src.Close() }

// scrubForms returns the forms of v that Scrubber documents.
func scrubForms(v []byte) []string {
	raw := string(v)
	bases := []string{raw, url.QueryEscape(raw), url.PathEscape(raw), scrubPercentAll(v)}
	forms := append([]string(nil), bases...)
	if utf8.Valid(v) {
		for _, b := range bases {
			for opts := range scrubJSONAll {
				forms = append(forms, scrubJSON(b, opts))
			}
		}
	}
	return forms
}

func scrubPercentAll(v []byte) string {
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
	scrubJSONHTML = 1 << iota
	scrubJSONSlash
	scrubJSONASCII
	scrubJSONLineSep
	scrubJSONAll
)

// scrubJSON returns s as it appears between the quotes of a JSON string.
func scrubJSON(s string, opts int) string {
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
		case opts&scrubJSONHTML != 0 && (r == '<' || r == '>' || r == '&'),
			opts&scrubJSONLineSep != 0 && (r == '\u2028' || r == '\u2029'):
			fmt.Fprintf(&b, `\u%04x`, r)
		case opts&scrubJSONSlash != 0 && r == '/':
			b.WriteString(`\/`)
		case opts&scrubJSONASCII != 0 && r >= 0x80:
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

// scrubIsToken reports whether n could appear in a header name (RFC 9110 token characters).
func scrubIsToken(n []byte) bool {
	for _, c := range n {
		if c >= 0x80 || !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func scrubLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
