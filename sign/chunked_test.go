package sign

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// AWS's chunked upload example (sigv4-streaming.html): 66560 bytes of
// 'a' in 64 KiB chunks, seed 4f232c43….
func exampleChunkedBody() string {
	return "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n"
}

const exampleSeed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

// AWS's example with trailing headers (sigv4-streaming-trailers.html),
// seed 106e2a8a….
func exampleTrailerBody(crlf string) string {
	return "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" + crlf +
		"x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
}

const exampleTrailerSeed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"

func exampleChain(seed string) *Chain {
	return NewChain(exampleCreds.SecretAccessKey, exampleTime, "us-east-1", "s3", seed)
}

// Verified with the example's key and re-signed with the same key and
// seed, the body comes out byte for byte as AWS published it: both
// directions of the chain match AWS's signatures.
func TestChunkChainExample(t *testing.T) {
	body := exampleChunkedBody()
	r := NewChunkResigner(io.NopCloser(strings.NewReader(body)), exampleChain(exampleSeed), exampleChain(exampleSeed), false, 66560)
	got, err := io.ReadAll(iotestHalf{r})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != body {
		t.Fatal("re-signed body differs from AWS's example")
	}
}

func TestChunkChainTrailerExample(t *testing.T) {
	for _, crlf := range []string{"", "\r\n"} {
		body := exampleTrailerBody(crlf)
		r := NewChunkResigner(io.NopCloser(strings.NewReader(body)), exampleChain(exampleTrailerSeed), exampleChain(exampleTrailerSeed), true, 66560)
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("crlf %q: %v", crlf, err)
		}
		if string(got) != body {
			t.Fatalf("crlf %q: re-signed body differs from AWS's example:\n%q", crlf, got[len(got)-200:])
		}
	}
}

// Re-signed with another key, the body verifies under that key and
// holds the same data at the same length.
func TestChunkResignOtherKey(t *testing.T) {
	for _, trailer := range []bool{false, true} {
		body, seed := exampleChunkedBody(), exampleSeed
		if trailer {
			body, seed = exampleTrailerBody(""), exampleTrailerSeed
		}
		newSeed := strings.Repeat("5", 64)
		when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		out := func() *Chain { return NewChain("other-secret", when, "eu-west-1", "s3", newSeed) }
		r := NewChunkResigner(io.NopCloser(strings.NewReader(body)), exampleChain(seed), out(), trailer, -1)
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(body) || string(got) == body {
			t.Fatalf("trailer %v: length %d (want %d), or not re-signed", trailer, len(got), len(body))
		}
		check := NewChunkResigner(io.NopCloser(bytes.NewReader(got)), out(), out(), trailer, 66560)
		if _, err := io.ReadAll(check); err != nil {
			t.Fatalf("trailer %v: re-signed body does not verify: %v", trailer, err)
		}
		if _, err := io.ReadAll(NewChunkResigner(io.NopCloser(bytes.NewReader(got)), exampleChain(seed), out(), trailer, -1)); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("trailer %v: re-signed body verifies with the old key: %v", trailer, err)
		}
	}
}

// A chunk that breaks the chain fails the reader at that chunk, after
// the chunks before it went out: the request is cut there.
func TestChunkChainBrokenMidStream(t *testing.T) {
	body := []byte(exampleChunkedBody())
	at := len(body) - 200 // inside the second chunk's data
	body[at] = 'b'
	r := NewChunkResigner(io.NopCloser(bytes.NewReader(body)), exampleChain(exampleSeed), exampleChain(exampleSeed), false, 66560)
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err %v", err)
	}
	if len(got) < 65536 || len(got) > 65536+200 {
		t.Fatalf("%d bytes went out before the failure", len(got))
	}
	// Read keeps failing.
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrBadSignature) {
		t.Fatal(err)
	}

	trailer := []byte(exampleTrailerBody(""))
	i := bytes.Index(trailer, []byte("sOO8"))
	trailer[i] = 'X'
	_, err = io.ReadAll(NewChunkResigner(io.NopCloser(bytes.NewReader(trailer)), exampleChain(exampleTrailerSeed), exampleChain(exampleTrailerSeed), true, 66560))
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered trailer: %v", err)
	}
}

func TestChunkFramingRefusals(t *testing.T) {
	sig := strings.Repeat("a", 64)
	cases := map[string]string{
		"empty":           "",
		"no signature":    "5\r\nhello\r\n0\r\n\r\n",
		"short signature": "5;chunk-signature=abc\r\nhello\r\n",
		"bad size":        "zz;chunk-signature=" + sig + "\r\nhello\r\n",
		"huge size":       "7fffffff;chunk-signature=" + sig + "\r\n",
		"truncated":       "10;chunk-signature=" + sig + "\r\nhello",
		"no crlf":         "5;chunk-signature=" + sig + "\r\nhelloXX",
		"bare lf":         "5;chunk-signature=" + sig + "\nhello\r\n",
		"long line":       strings.Repeat("1", 300) + "\r\n",
	}
	for name, body := range cases {
		_, err := io.ReadAll(NewChunkResigner(io.NopCloser(strings.NewReader(body)), nil, exampleChain(exampleSeed), false, -1))
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The declared decoded length must be what the chunks hold.
	_, err := io.ReadAll(NewChunkResigner(io.NopCloser(strings.NewReader(exampleChunkedBody())), exampleChain(exampleSeed), exampleChain(exampleSeed), false, 66559))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoded length: %v", err)
	}
	// Nothing may follow the final chunk.
	_, err = io.ReadAll(NewChunkResigner(io.NopCloser(strings.NewReader(exampleChunkedBody()+"extra")), exampleChain(exampleSeed), exampleChain(exampleSeed), false, -1))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing data: %v", err)
	}
}

// Memory stays one chunk however long the upload: the reader's buffer
// is the chunk size, not the body's.
func TestChunkResignerMemoryIsOneChunk(t *testing.T) {
	const chunk = 64 << 10
	body := signedBody(t, 256, chunk) // 16 MiB
	r := NewChunkResigner(io.NopCloser(bytes.NewReader(body)), nil, exampleChain(exampleSeed), false, -1)
	buf := make([]byte, 32<<10)
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if r.cur != nil && cap(r.cur.b) > chunk+256 {
			t.Fatalf("buffer grew to %d", cap(r.cur.b))
		}
	}
}

// signedBody builds an aws-chunked body of n chunks of size bytes,
// signed with the example key and seed.
func signedBody(t testing.TB, n, size int) []byte {
	t.Helper()
	c := exampleChain(exampleSeed)
	data := bytes.Repeat([]byte{'z'}, size)
	var b bytes.Buffer
	fake := NewChunkResigner(io.NopCloser(strings.NewReader("")), nil, c, false, -1)
	for i := 0; i <= n; i++ {
		d := data
		if i == n {
			d = nil
		}
		fake.hash.Reset()
		fake.hash.Write(d)
		sig := c.next(fake.hash.Sum(nil))
		b.WriteString(strconv.FormatInt(int64(len(d)), 16))
		b.WriteString(chunkSigExt)
		b.Write(sig)
		b.WriteString("\r\n")
		b.Write(d)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// iotestHalf reads in small, odd pieces.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) {
	if len(p) > 7777 {
		p = p[:7777]
	}
	return h.r.Read(p)
}

// A client's framing, signed by a ChunkResigner, is AWS's example.
func TestFrameChunked(t *testing.T) {
	for _, n := range []int{0, 1, 65536, 66560} {
		framed := FrameChunked(strings.NewReader(strings.Repeat("a", n)), 65536)
		got, err := io.ReadAll(NewChunkResigner(io.NopCloser(framed), nil, exampleChain(exampleSeed), false, int64(n)))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != ChunkedLength(int64(n), 65536) {
			t.Fatalf("%d: length %d, ChunkedLength %d", n, len(got), ChunkedLength(int64(n), 65536))
		}
		if n == 66560 && string(got) != exampleChunkedBody() {
			t.Fatal("signed framing is not AWS's example")
		}
	}
}
