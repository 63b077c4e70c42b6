package scrub

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

const (
	// The body's read buffer starts small, so a short or streamed answer holds little, and moves
	// to maxChunk once the upstream fills it.
	firstChunk = 4 << 10
	maxChunk   = 32 << 10
	// As bufio does, a source that keeps returning (0, nil) is an error, not a spin.
	maxEmptyReads = 100
	// A pooled buffer has this much room beyond its chunk for a held-back partial needle; a
	// scrubber with longer needles allocates its buffers, sized to fit.
	poolSlack = 1 << 10
	// An identity answer that declares a Content-Length up to this size is read whole and
	// scrubbed in one pass, so that it keeps a Content-Length (of its scrubbed bytes) instead of
	// going out chunked: Caddy's reverse_proxy flushes a chunked answer on every write, which for
	// a short answer costs a second write to the client. It fits the larger pooled buffer.
	wholeMax = maxChunk
)

// pools recycle the window and output buffers of finished bodies, one pool per chunk size
// (firstChunk, maxChunk), each buffer of capacity chunk+poolSlack: allocating and
// collecting them was most of the cost of scrubbing a short answer.
var pools [2]sync.Pool

// Body is a response body scrubbed as it streams. Memory is bounded by the read chunk plus
// the longest needle (and the growth replacements cause); the whole body is never held, but for a
// short answer of declared length (at most wholeMax, see Response), which is. Each Read
// returns as soon as the upstream delivered bytes that cannot begin a needle, so a server-sent
// event ending in "\n\n" passes at once.
//
// At the end of the body a held-back partial needle is delivered as it is: a value cut short by
// the upstream is not the value. On any other read error the held-back bytes are dropped and the
// error returned.
type Body struct {
	s   *Scrubber
	src io.ReadCloser
	// The response's Trailer field, scrubbed at EOF: net/http fills it in
	// then, in a map of its own when the upstream announced none.
	trailer *http.Header

	buf     []byte // unprocessed input: the held-back tail, then new bytes
	out     []byte // scrubbed output not yet returned
	off     int
	next    []int
	nextArr [8]int // next's storage for scrubbers with few needles, the usual case
	bufs    *bodyBuffers
	err     error
	empty   int

	// mu is held by Read and by Close's release, so that Close can clear
	// and recycle the buffers without a Read still using them.
	mu     sync.Mutex
	count  atomic.Int64
	closed atomic.Bool
}

// Body wraps rc so that every read of it is scrubbed. It does not decode Content-Encoding; see
// Response for a whole http.Response.
func (s *Scrubber) Body(rc io.ReadCloser) *Body {
	return &Body{s: s, src: rc}
}

// Count reports the replacements made so far (with those in headers and trailers when the body
// came from Response). It is safe to call from any goroutine, before or after Close.
func (b *Body) Count() int { return int(b.count.Load()) }

// String keeps buffered bytes, which may hold part of a value, out of anything that prints b.
func (b *Body) String() string { return "scrubbed body" }

// GoString does for %#v what String does for %v.
func (b *Body) GoString() string { return b.String() }

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
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
func (b *Body) fill() {
	if !b.s.active() {
		// Nothing to find: the body passes through the output buffer unchanged.
		if b.out == nil {
			b.out = make([]byte, firstChunk)
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

// bodyBuffers is a body's window and output buffer, pooled together.
type bodyBuffers struct {
	win, out []byte // empty; their capacity is the room
	big      bool   // of maxChunk, else of firstChunk
	pooled   bool
	// How far win and out were written, so that put clears no more than that.
	winHigh, outHigh int
}

// buffers returns empty buffers for a body, from the pools when s's needles fit in their slack.
func (s *Scrubber) buffers(big bool) *bodyBuffers {
	chunk, pool := firstChunk, &pools[0]
	if big {
		chunk, pool = maxChunk, &pools[1]
	}
	if s.maxLen > poolSlack || s.maxRepl > poolSlack {
		return &bodyBuffers{win: make([]byte, 0, chunk+s.maxLen), out: make([]byte, 0, chunk+s.maxRepl), big: big}
	}
	if p, ok := pool.Get().(*bodyBuffers); ok {
		return p
	}
	return &bodyBuffers{win: make([]byte, 0, chunk+poolSlack), out: make([]byte, 0, chunk+poolSlack), big: big, pooled: true}
}

func (p *bodyBuffers) used(win, out int) {
	p.winHigh, p.outHigh = max(p.winHigh, win), max(p.outHigh, out)
}

// put returns pooled buffers to their pool, cleared, so that pooled memory holds no part of a
// value. An output that append outgrew was copied from out, so out's written part is within
// outHigh.
func (p *bodyBuffers) put() {
	clear(p.win[:min(p.winHigh, cap(p.win))])
	clear(p.out[:min(p.outHigh, cap(p.out))])
	p.winHigh, p.outHigh = 0, 0
	if !p.pooled {
		return
	}
	if p.big {
		pools[1].Put(p)
	} else {
		pools[0].Put(p)
	}
}

// release clears the buffers and hands them back, once the body has delivered all it will or is
// closed; its callers hold mu, so a Close racing a Read cannot recycle a buffer still in use.
func (b *Body) release() {
	if b.bufs == nil {
		return
	}
	b.bufs.put()
	b.bufs, b.buf, b.out, b.off = nil, nil, nil, 0
}

func (b *Body) settle(n int, err error) {
	if n == 0 && err == nil {
		b.empty++
		if b.empty >= maxEmptyReads {
			err = io.ErrNoProgress
		}
	} else {
		b.empty = 0
	}
	if err == io.EOF && b.trailer != nil {
		b.count.Add(int64(b.s.Headers(*b.trailer)))
	}
	b.err = err
}

// Close closes the upstream body and clears what the body still buffers (a body closed before
// its end holds part of it, a value perhaps). A Read after Close fails with
// http.ErrBodyReadAfterClose.
func (b *Body) Close() error {
	b.closed.Store(true)
	// Closing the source first ends a Read waiting on it, which holds mu.
	err := b.src.Close()
	b.mu.Lock()
	b.release()
	b.mu.Unlock()
	return err
}

// scratch returns the scrub's scratch space, one int per needle, in nextArr when it fits.
func (b *Body) scratch() []int {
	if len(b.s.needles) > len(b.nextArr) {
		return make([]int, len(b.s.needles))
	}
	return b.nextArr[:len(b.s.needles)]
}
