package sign

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"
)

// The aws-chunked body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload:
//
//	<hex size>;chunk-signature=<sig>\r\n<data>\r\n ... 0;chunk-signature=<sig>\r\n\r\n
//
// each chunk's signature chaining the previous one's, the first the
// request's (the seed). The -TRAILER variant ends the final chunk's line
// with trailing headers and a signature over them instead of the blank
// line:
//
//	0;chunk-signature=<sig>\r\nx-amz-checksum-crc32:<b64>\r\nx-amz-trailer-signature:<sig>\r\n\r\n

const (
	// MaxChunk bounds one chunk, which is held whole (its new signature
	// goes before its data), so that a caller cannot make keygate hold
	// much per upload. SDKs send 64 KiB chunks, AWS's Java SDK 128 KiB.
	MaxChunk = 4 << 20

	maxChunkLine    = 256
	maxTrailerLines = 16
	sigLen          = 64
	chunkSigExt     = ";chunk-signature="
	trailerSigName  = "x-amz-trailer-signature"
)

// Chain is one side of a chunk signature chain: the key, time and scope
// of the request it continues, and the last signature.
type Chain struct {
	key       []byte
	prefix    []byte // "AWS4-HMAC-SHA256-PAYLOAD\n<time>\n<scope>\n"
	tprefix   []byte // the same for the trailer
	prev      [sigLen]byte
	mac       hash.Hash
	sum       [sha256.Size]byte
	stsHashed [sha256.Size * 2]byte
}

// NewChain starts a chain at the seed signature of a request signed with
// secret at t for region and service.
func NewChain(secret string, t time.Time, region, service, seed string) *Chain {
	key := signingKey(secret, t, region, service)
	sc := t.UTC().Format(amzDateFormat) + "\n" + scope(t, region, service) + "\n"
	c := &Chain{key: key, prefix: []byte("AWS4-HMAC-SHA256-PAYLOAD\n" + sc), tprefix: []byte("AWS4-HMAC-SHA256-TRAILER\n" + sc), mac: hmac.New(sha256.New, key)}
	copy(c.prev[:], seed)
	return c
}

// signingKey derives the SigV4 signing key of a date, region and service.
func signingKey(secret string, t time.Time, region, service string) []byte {
	return deriveKey(secret, t.UTC().Format("20060102"), region, service)
}

// deriveKey derives the signing key of a date (YYYYMMDD).
func deriveKey(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), []byte(date))
	k = hmacSum(k, []byte(region))
	k = hmacSum(k, []byte(service))
	return hmacSum(k, []byte("aws4_request"))
}

func hmacSum(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

var (
	emptyHashLine = []byte(EmptyPayload + "\n")
	newline       = []byte{'\n'}
)

// next signs a chunk's data and makes its signature the previous one.
func (c *Chain) next(dataHash []byte) []byte {
	c.mac.Reset()
	c.mac.Write(c.prefix)
	c.mac.Write(c.prev[:])
	c.mac.Write(newline)
	c.mac.Write(emptyHashLine)
	hex.Encode(c.stsHashed[:], dataHash)
	c.mac.Write(c.stsHashed[:])
	hex.Encode(c.prev[:], c.mac.Sum(c.sum[:0]))
	return c.prev[:]
}

// trailer signs the canonical trailing headers ("name:value\n" each).
func (c *Chain) trailer(canonical []byte) []byte {
	h := sha256.Sum256(canonical)
	c.mac.Reset()
	c.mac.Write(c.tprefix)
	c.mac.Write(c.prev[:])
	c.mac.Write(newline)
	hex.Encode(c.stsHashed[:], h[:])
	c.mac.Write(c.stsHashed[:])
	hex.Encode(c.prev[:], c.mac.Sum(c.sum[:0]))
	return c.prev[:]
}

// ChunkResigner reads a signed aws-chunked body and yields the same body
// with every chunk (and the trailer) signed by another chain. It holds a
// few chunks at a time (aheadFrames), so its memory is bounded by the
// chunk size, whatever the upload's. Its output has the input's exact
// length.
//
// A goroutine of its own reads, hashes and signs the chunks ahead of the
// reader: the reader (an HTTP transport writing the upstream request)
// sends chunk n while chunk n+1 is hashed, so that the one pass of
// SHA-256 over the data that signing needs runs beside the TLS work on
// both connections instead of between them.
type ChunkResigner struct {
	src     *bufio.Reader
	body    io.Closer
	in      *Chain // nil: the incoming chain is not checked
	out     *Chain
	trailer bool
	decoded int64 // -1: unknown
	total   int64
	n       int // chunks read
	pend    []byte
	hash    hash.Hash
	sum     [sha256.Size]byte
	done    bool
	canon   bytes.Buffer
	size    [8]byte

	// The reader's side.
	started   bool
	frames    chan *chunkFrame // filled, in order; closed after the last
	free      chan *chunkFrame
	stop      chan struct{}
	closeOnce sync.Once
	cur       *chunkFrame
	off       int
	err       error
}

// chunkFrame is one re-signed chunk (header, data, CRLF), or the error
// that ended the body.
type chunkFrame struct {
	b   []byte
	err error
}

// aheadFrames is how many chunks are held: one being read, one being
// signed, one waiting.
const aheadFrames = 3

// NewChunkResigner re-signs body with out; with in set it verifies each
// chunk against in first. trailer selects the -TRAILER variant; decoded
// is x-amz-decoded-content-length, or -1.
func NewChunkResigner(body io.ReadCloser, in, out *Chain, trailer bool, decoded int64) *ChunkResigner {
	return &ChunkResigner{src: bufio.NewReaderSize(body, 16<<10), body: body, in: in, out: out, trailer: trailer, decoded: decoded, hash: sha256.New()}
}

// Read implements io.Reader. A chunk that breaks the chain, bad framing
// or a length other than the declared one makes it fail, so that the
// request carrying the body is cut off before its end; nothing of that
// chunk is yielded.
func (r *ChunkResigner) Read(p []byte) (int, error) {
	if !r.started {
		r.start()
	}
	for r.cur == nil || r.off >= len(r.cur.b) {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur != nil {
			r.free <- r.cur
			r.cur = nil
		}
		f, ok := <-r.frames
		if !ok {
			r.err = io.EOF
			return 0, io.EOF
		}
		if f.err != nil {
			r.err = f.err
			return 0, f.err
		}
		r.cur, r.off = f, 0
	}
	n := copy(p, r.cur.b[r.off:])
	r.off += n
	return n, nil
}

func (r *ChunkResigner) start() {
	r.started = true
	r.frames = make(chan *chunkFrame, aheadFrames)
	r.free = make(chan *chunkFrame, aheadFrames)
	r.stop = make(chan struct{})
	for range aheadFrames {
		r.free <- &chunkFrame{}
	}
	go r.produce()
}

// produce fills frames until the body ends, fails or the reader closes.
func (r *ChunkResigner) produce() {
	defer close(r.frames)
	for {
		var f *chunkFrame
		select {
		case f = <-r.free:
		case <-r.stop:
			return
		}
		r.pend = f.b[:0]
		err := r.fill()
		if err != nil {
			r.pend = r.pend[:0]
		}
		f.b, f.err = r.pend, err
		select {
		case r.frames <- f:
		case <-r.stop:
			return
		}
		if err != nil || r.done {
			return
		}
	}
}

// Close stops the signing goroutine (without waiting for it: a read of
// the body in flight ends when the body is closed or gives) and closes
// the underlying body.
func (r *ChunkResigner) Close() error {
	r.closeOnce.Do(func() {
		if r.stop != nil {
			close(r.stop)
		}
	})
	return r.body.Close()
}

func (r *ChunkResigner) fail(what string, err error) error {
	return fmt.Errorf("aws-chunked chunk %d: %s: %w", r.n, what, err)
}

// fill reads the next chunk whole into pend, behind room for its header,
// and writes the re-signed header in front.
func (r *ChunkResigner) fill() error {
	line, err := r.line()
	if err != nil {
		return err
	}
	sizeText, sigText, ok := bytes.Cut(line, []byte(chunkSigExt))
	if !ok || len(sigText) != sigLen || !isLowerHex(sigText, sigLen) || len(sizeText) == 0 || len(sizeText) > 8 {
		return r.fail("header", ErrMalformed)
	}
	// line is the reader's buffer, which reading the data overwrites.
	var sig [sigLen]byte
	copy(sig[:], sigText)
	sizeText = append(r.size[:0], sizeText...)
	size, ok := parseHexSize(sizeText)
	if !ok {
		return r.fail("size", ErrMalformed)
	}
	if size > MaxChunk {
		return r.fail("size", ErrTooLarge)
	}
	head := len(sizeText) + len(chunkSigExt) + sigLen + 2
	need := head + int(size) + 2
	if cap(r.pend) < need {
		r.pend = make([]byte, 0, need)
	}
	r.pend = r.pend[:need]
	data := r.pend[head : head+int(size)]
	if _, err := io.ReadFull(r.src, data); err != nil {
		return r.fail("data", ErrMalformed)
	}
	// Before trailing headers, the final chunk's empty data may or may
	// not be followed by its CRLF: both are sent, and kept as they came.
	crlf := true
	if size == 0 && r.trailer {
		b, _ := r.src.Peek(2)
		crlf = string(b) == "\r\n"
	}
	if crlf {
		if _, err := io.ReadFull(r.src, r.pend[need-2:]); err != nil || r.pend[need-2] != '\r' || r.pend[need-1] != '\n' {
			return r.fail("data", ErrMalformed)
		}
	}
	r.total += int64(size)
	r.hash.Reset()
	r.hash.Write(data)
	dh := r.hash.Sum(r.sum[:0])
	if r.in != nil && !hmac.Equal(r.in.next(dh), sig[:]) {
		return r.fail("signature", ErrBadSignature)
	}
	newSig := r.out.next(dh)
	w := r.pend[:0]
	w = append(w, sizeText...)
	w = append(w, chunkSigExt...)
	w = append(w, newSig...)
	w = append(w, '\r', '\n')
	r.n++
	if size > 0 {
		return nil
	}
	if r.decoded >= 0 && r.total != r.decoded {
		return r.fail("length", fmt.Errorf("the chunks hold %d bytes, not the declared x-amz-decoded-content-length: %w", r.total, ErrMalformed))
	}
	r.done = true
	if !crlf {
		r.pend = r.pend[:head]
	} else {
		r.pend = r.pend[:head+2]
	}
	if r.trailer {
		return r.readTrailer()
	}
	return r.end()
}

// end checks that nothing follows the final chunk.
func (r *ChunkResigner) end() error {
	if _, err := r.src.Peek(1); err != io.EOF {
		return r.fail("end", fmt.Errorf("data after the final chunk: %w", ErrMalformed))
	}
	return nil
}

// readTrailer reads "name:value\r\n" lines up to the trailer signature and
// the blank line, and appends them with the new signature to pend.
func (r *ChunkResigner) readTrailer() error {
	line, err := r.line()
	if err != nil {
		return err
	}
	r.canon.Reset()
	var out []byte
	for i := 0; ; i++ {
		if i >= maxTrailerLines {
			return r.fail("trailer", ErrTooLarge)
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(name) == 0 {
			return r.fail("trailer", ErrMalformed)
		}
		name = bytes.ToLower(bytes.TrimSpace(name))
		value = bytes.TrimSpace(value)
		if string(name) == trailerSigName {
			if !isLowerHex(value, sigLen) {
				return r.fail("trailer signature", ErrMalformed)
			}
			if r.in != nil && !hmac.Equal(r.in.trailer(r.canon.Bytes()), value) {
				return r.fail("trailer signature", ErrBadSignature)
			}
			blank, err := r.line()
			if err != nil || len(blank) != 0 {
				return r.fail("trailer end", ErrMalformed)
			}
			out = append(out, trailerSigName+":"...)
			out = append(out, r.out.trailer(r.canon.Bytes())...)
			out = append(out, "\r\n\r\n"...)
			break
		}
		if !isHeaderToken(string(name)) {
			return r.fail("trailer", ErrMalformed)
		}
		r.canon.Write(name)
		r.canon.WriteByte(':')
		r.canon.Write(value)
		r.canon.WriteByte('\n')
		out = append(out, line...)
		out = append(out, '\r', '\n')
		if line, err = r.line(); err != nil {
			return err
		}
	}
	r.pend = append(r.pend, out...)
	return r.end()
}

// line reads one CRLF-terminated line, without its CRLF.
func (r *ChunkResigner) line() ([]byte, error) {
	b, err := r.src.ReadSlice('\n')
	if err != nil || len(b) < 2 || b[len(b)-2] != '\r' || len(b) > maxChunkLine {
		return nil, r.fail("line", ErrMalformed)
	}
	return b[:len(b)-2], nil
}

// parseHexSize reads a chunk size (at most 8 hex digits), without the
// allocation strconv's error path costs.
func parseHexSize(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}
