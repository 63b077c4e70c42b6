package sign

import (
	"io"
	"strconv"
	"strings"
)

// FrameChunked is what a client sends as a STREAMING-AWS4-HMAC-SHA256-PAYLOAD
// body: data framed in chunks of chunk bytes, with placeholder
// signatures. A ChunkResigner without an incoming chain writes the real
// ones; ChunkedLength is its length, for Content-Length. Only tests (of
// this package and of the egress and proxy paths) frame bodies: kept
// exported on purpose.
func FrameChunked(data io.Reader, chunk int) io.Reader {
	return &framer{src: data, buf: make([]byte, chunk)}
}

// ChunkedLength is the length of n bytes framed in chunks of chunk bytes.
func ChunkedLength(n int64, chunk int) int64 {
	frame := func(size int64) int64 {
		return int64(len(strconv.FormatInt(size, 16))+len(chunkSigExt)+sigLen+2) + size + 2
	}
	full := n / int64(chunk)
	total := full * frame(int64(chunk))
	if rest := n % int64(chunk); rest > 0 {
		total += frame(rest)
	}
	return total + frame(0)
}

var zeroSig = strings.Repeat("0", sigLen)

type framer struct {
	src  io.Reader
	buf  []byte
	pend []byte
	done bool
}

func (f *framer) Read(p []byte) (int, error) {
	for len(f.pend) == 0 {
		if f.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(f.src, f.buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return 0, err
		}
		head := strconv.FormatInt(int64(n), 16) + chunkSigExt + zeroSig + "\r\n"
		f.pend = append(append(append(f.pend[:0], head...), f.buf[:n]...), '\r', '\n')
		if n == 0 {
			f.done = true
		} else if n < len(f.buf) {
			f.pend = append(f.pend, "0"+chunkSigExt+zeroSig+"\r\n\r\n"...)
			f.done = true
		}
	}
	n := copy(p, f.pend)
	f.pend = f.pend[n:]
	return n, nil
}
