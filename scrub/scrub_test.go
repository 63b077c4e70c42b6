package scrub

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	scrubTestSecret = "sk-live-Q7x9"
	rd              = "[redacted by keygate]"
)

// redact is the scrubber egress builds: every value becomes rd.
func redact(values ...[]byte) *Scrubber {
	var ns []Needle
	for _, v := range values {
		ns = append(ns, Needle{Find: v, Replace: rd})
	}
	return New(ns...)
}

// scrubChunks is a source that returns its chunks one Read at a time.
type scrubChunks struct {
	chunks [][]byte
	err    error // returned once the chunks are gone; io.EOF when nil
	closed bool
}

func (c *scrubChunks) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *scrubChunks) Close() error { c.closed = true; return nil }

func scrubChunked(parts ...string) *scrubChunks {
	c := &scrubChunks{}
	for _, p := range parts {
		c.chunks = append(c.chunks, []byte(p))
	}
	return c
}

func scrubReadAll(t *testing.T, s *Scrubber, r io.Reader) (string, int) {
	t.Helper()
	b := s.Body(io.NopCloser(r))
	out, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return string(out), b.Count()
}

func scrubNeedles(ns ...string) *Scrubber {
	var bs [][]byte
	for _, n := range ns {
		bs = append(bs, []byte(n))
	}
	return redact(bs...)
}

func TestScrubSplitAtEveryByte(t *testing.T) {
	for _, tc := range []struct{ name, prefix, suffix string }{
		{"middle", "echo: ", " done"},
		{"at start", "", " done"},
		{"at end", "echo: ", ""},
		{"whole body", "", ""},
		{"after a false start", "sk-live-Q7", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.prefix + scrubTestSecret + tc.suffix
			want := tc.prefix + rd + tc.suffix
			s := scrubNeedles(scrubTestSecret)
			for cut := 0; cut <= len(body); cut++ {
				got, n := scrubReadAll(t, s, scrubChunked(body[:cut], body[cut:]))
				if got != want || n != 1 {
					t.Fatalf("cut %d: got %q (%d), want %q (1)", cut, got, n, want)
				}
			}
		})
	}
}

func TestScrubMatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		needles []string
		body    string
		want    string
		count   int
	}{
		{"none", []string{"abc"}, "no match here, ab, bc", "no match here, ab, bc", 0},
		{"several needles", []string{"abc", "xyz"}, "1abc2xyz3abc", "1" + rd + "2" + rd + "3" + rd, 3},
		{"back to back", []string{"ab"}, "ababab", rd + rd + rd, 3},
		{"overlap leftmost wins", []string{"abcd", "cdef"}, "abcdef", rd + "ef", 1},
		{"same start longest wins", []string{"abc", "abcdef"}, "xabcdefx", "x" + rd + "x", 1},
		{"shorter when longer fails", []string{"abc", "abcdef"}, "xabcdex", "x" + rd + "dex", 1},
		{"inner needle", []string{"sk-1", "Bearer sk-1"}, "Bearer sk-1 sk-1", rd + " " + rd, 2},
		{"self overlapping", []string{"aab"}, "aaab", "a" + rd, 1},
		{"needle in replacement", []string{"keygate"}, "keygate keygate", rd + " " + rd, 2},
		{"one byte needle", []string{"x"}, "axbxc", "a" + rd + "b" + rd + "c", 2},
		{"empty and duplicate needles", []string{"", "abc", "abc"}, "abc", rd, 1},
		{"no needles", []string{""}, "abc", "abc", 0},
		{"prefix at end is not a value", []string{"secret"}, "a secre", "a secre", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := scrubNeedles(tc.needles...)
			got, n := scrubReadAll(t, s, strings.NewReader(tc.body))
			if got != tc.want || n != tc.count {
				t.Fatalf("got %q (%d), want %q (%d)", got, n, tc.want, tc.count)
			}
			one, n1 := scrubReadAll(t, s, iotest.OneByteReader(strings.NewReader(tc.body)))
			if one != tc.want || n1 != tc.count {
				t.Fatalf("one byte at a time: got %q (%d), want %q (%d)", one, n1, tc.want, tc.count)
			}
		})
	}
}

func TestScrubReaders(t *testing.T) {
	body := strings.Repeat("padding "+scrubTestSecret+" more\n", 500)
	want := strings.Repeat("padding "+rd+" more\n", 500)
	s := scrubNeedles(scrubTestSecret)
	for _, tc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"plain", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
		{"one byte, data with EOF", func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := scrubReadAll(t, s, tc.wrap(strings.NewReader(body)))
			if got != want || n != 500 {
				t.Fatalf("got %d bytes, %d replacements; want %d bytes, 500", len(got), n, len(want))
			}
			// The consumer's buffer size does not matter either.
			b := s.Body(io.NopCloser(tc.wrap(strings.NewReader(body))))
			out, err := io.ReadAll(iotest.OneByteReader(b))
			if err != nil || string(out) != want {
				t.Fatalf("one-byte consumer: %v, equal %v", err, string(out) == want)
			}
		})
	}
}

func TestScrubCleanBodyUnchanged(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 300<<10)
	for i := range body {
		body[i] = byte(rng.IntN(256))
	}
	needle := []byte(scrubTestSecret)
	if bytes.Contains(body, needle) {
		t.Fatal("random body contains the needle")
	}
	s := redact(needle)
	for _, wrap := range []func(io.Reader) io.Reader{
		func(r io.Reader) io.Reader { return r }, iotest.HalfReader, iotest.OneByteReader,
	} {
		got, n := scrubReadAll(t, s, wrap(bytes.NewReader(body)))
		if got != string(body) || n != 0 {
			t.Fatalf("clean body changed (%d replacements)", n)
		}
	}
}

func TestScrubForms(t *testing.T) {
	value := `pa"ss\wo/rd é <&> 𝄞` + "\n\t\b\f\r\x01\u2028"
	goJSON, _ := json.Marshal(value)
	for _, tc := range []struct{ name, echo string }{
		{"raw", value},
		{"query escaped", url.QueryEscape(value)},
		{"path escaped", url.PathEscape(value)},
		{"strict percent", `pa%22ss%5Cwo%2Frd%20%C3%A9%20%3C%26%3E%20%F0%9D%84%9E%0A%09%08%0C%0D%01%E2%80%A8`},
		{"go json", string(goJSON[1 : len(goJSON)-1])},
		{"minimal json (JSON.stringify)", `pa\"ss\\wo/rd é <&> 𝄞\n\t\b\f\r\u0001` + "\u2028"},
		{"python json", `pa\"ss\\wo/rd \u00e9 <&> \ud834\udd1e\n\t\b\f\r\u0001\u2028`},
		{"php json", `pa\"ss\\wo\/rd \u00e9 <&> \ud834\udd1e\n\t\b\f\r\u0001\u2028`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := redact([]byte(value))
			body := `{"echo":"` + tc.echo + `"}`
			got, n := scrubReadAll(t, s, iotest.OneByteReader(strings.NewReader(body)))
			if want := `{"echo":"` + rd + `"}`; got != want || n != 1 {
				t.Fatalf("got %q (%d), want %q", got, n, want)
			}
		})
	}
	// A value made of URL- and JSON-safe bytes has one form only.
	if s := redact([]byte("sk-abc_123.x~")); len(s.needles) != 1 {
		t.Fatalf("safe value has %d forms, want 1", len(s.needles))
	}
	// A JSON escape of the value's "/" is found inside a JSON-quoted Location.
	s := redact([]byte("k/1"))
	got, _ := scrubReadAll(t, s, strings.NewReader(`{"location":"/dir/?api_key=k%2F1","raw":"k\/1"}`))
	if want := `{"location":"/dir/?api_key=` + rd + `","raw":"` + rd + `"}`; got != want {
		t.Fatalf("got %q", got)
	}
}

func TestScrubHeaders(t *testing.T) {
	basic := "Basic dXNlcjpwYXNz"
	s := redact([]byte(scrubTestSecret), []byte(basic))
	h := http.Header{
		"Location":       {"/dir/?api_key=" + scrubTestSecret},
		"X-Echo-Auth":    {basic, "other"},
		"Set-Cookie":     {"a=1", "k=" + url.QueryEscape(scrubTestSecret) + "; Path=/"},
		"Content-Type":   {"text/plain"},
		"X-Sk-Live-Q7x9": {"1"}, // canonicalized from a name that carried the value
	}
	if n := s.Headers(h); n != 4 {
		t.Fatalf("Headers = %d, want 4", n)
	}
	want := http.Header{
		"Location":     {"/dir/?api_key=" + rd},
		"X-Echo-Auth":  {rd, "other"},
		"Set-Cookie":   {"a=1", "k=" + rd + "; Path=/"},
		"Content-Type": {"text/plain"},
	}
	if fmt.Sprint(h) != fmt.Sprint(want) {
		t.Fatalf("headers\n got %v\nwant %v", h, want)
	}
	if n := (*Scrubber)(nil).Headers(h); n != 0 {
		t.Fatalf("nil scrubber changed %d headers", n)
	}
}

func TestScrubResponse(t *testing.T) {
	secret := []byte(scrubTestSecret)
	body := "hello " + scrubTestSecret + " bye"
	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	zl := func(s string) []byte {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	raw := func(s string) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.DefaultCompression)
		w.Write([]byte(s))
		w.Close()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name     string
		encoding string
		wire     []byte
	}{
		{"identity", "", []byte(body)},
		{"explicit identity", "identity", []byte(body)},
		{"aws-chunked, as S3 servers name a stored upload", "aws-chunked", []byte(body)},
		{"gzip", "gzip", gz(body)},
		{"x-gzip", "X-Gzip", gz(body)},
		{"deflate zlib", "deflate", zl(body)},
		{"deflate raw", "deflate", raw(body)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{
				Status:        "200 OK",
				StatusCode:    200,
				Header:        http.Header{"Content-Length": {fmt.Sprint(len(tc.wire))}, "Content-Md5": {"x"}},
				ContentLength: int64(len(tc.wire)),
				Body:          io.NopCloser(iotest.HalfReader(bytes.NewReader(tc.wire))),
			}
			if tc.encoding != "" {
				resp.Header.Set("Content-Encoding", tc.encoding)
			}
			sb, got := scrubResponseRead(t, redact(secret), resp)
			if want := "hello " + rd + " bye"; string(got) != want {
				t.Fatalf("body %q, want %q", got, want)
			}
			// A short identity answer is scrubbed whole and keeps a
			// Content-Length, of the bytes delivered; a decoded one
			// streams, chunked.
			wantCL, wantHeader := int64(-1), ""
			if tc.encoding == "" || tc.encoding == "identity" || tc.encoding == "aws-chunked" {
				wantCL, wantHeader = int64(len(got)), fmt.Sprint(len(got))
			}
			if sb.Count() != 1 || resp.ContentLength != wantCL || resp.Header.Get("Content-Length") != wantHeader {
				t.Fatalf("count %d, ContentLength %d, header %q", sb.Count(), resp.ContentLength, resp.Header.Get("Content-Length"))
			}
			for _, h := range []string{"Content-Encoding", "Content-Md5"} {
				if v := resp.Header.Get(h); v != "" {
					t.Fatalf("%s still %q", h, v)
				}
			}
		})
	}
}

func TestScrubResponseUnchangedBodies(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *Scrubber
		body io.ReadCloser
		cl   int64
	}{
		{"no body", redact([]byte(scrubTestSecret)), http.NoBody, 0},
		{"empty body", redact([]byte(scrubTestSecret)), io.NopCloser(strings.NewReader("")), 0},
		{"scrubbing off", nil, io.NopCloser(strings.NewReader("hello")), 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{
				Header:        http.Header{"Content-Length": {fmt.Sprint(tc.cl)}, "Content-Encoding": {"br"}},
				ContentLength: tc.cl,
				Body:          tc.body,
			}
			if _, err := tc.s.Response(resp); err != nil {
				t.Fatal(err)
			}
			if resp.ContentLength != tc.cl || resp.Header.Get("Content-Length") == "" || resp.Header.Get("Content-Encoding") != "br" {
				t.Fatalf("headers changed: %v, %d", resp.Header, resp.ContentLength)
			}
		})
	}
}

func TestScrubResponseUnsupportedEncodingFailsClosed(t *testing.T) {
	for _, enc := range []string{"br", "zstd", "compress", "gzip, gzip", "gzip, br", scrubTestSecret} {
		t.Run(enc, func(t *testing.T) {
			src := scrubChunked(scrubTestSecret)
			resp := &http.Response{
				Header:        http.Header{"Content-Encoding": {enc}},
				ContentLength: -1,
				Body:          src,
			}
			_, err := redact([]byte(scrubTestSecret)).Response(resp)
			if !errors.Is(err, ErrEncoding) {
				t.Fatalf("err = %v, want ErrEncoding", err)
			}
			got, rerr := io.ReadAll(resp.Body)
			if len(got) != 0 || !errors.Is(rerr, ErrEncoding) {
				t.Fatalf("read %q, %v: want nothing and ErrEncoding", got, rerr)
			}
			resp.Body.Close()
			if !src.closed {
				t.Fatal("upstream body not closed")
			}
			if strings.Contains(err.Error(), scrubTestSecret) || strings.Contains(rerr.Error(), scrubTestSecret) {
				t.Fatal("error names the value")
			}
		})
	}
}

func TestScrubTrailersAndStatus(t *testing.T) {
	resp := &http.Response{
		Status:        "500 " + scrubTestSecret,
		Header:        http.Header{},
		Trailer:       http.Header{"X-Debug": nil},
		ContentLength: -1,
	}
	// net/http fills the trailer in when the body reaches EOF.
	resp.Body = io.NopCloser(io.MultiReader(strings.NewReader("body"), scrubFunc(func() {
		resp.Trailer.Set("X-Debug", "key="+scrubTestSecret)
	})))
	sb, err := redact([]byte(scrubTestSecret)).Response(resp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != "500 "+rd || resp.Trailer.Get("X-Debug") != "key="+rd || sb.Count() != 2 {
		t.Fatalf("status %q, trailer %q, count %d", resp.Status, resp.Trailer.Get("X-Debug"), sb.Count())
	}
}

// scrubFunc is a reader that runs f, then reports EOF.
type scrubFunc func()

func (f scrubFunc) Read([]byte) (int, error) { f(); return 0, io.EOF }

// scrubScript is a source that plays one step each time the scrubber asks for more input, after
// checking that the consumer already has everything the previous steps promised: a scrubber that
// waited for input while holding back more than a possible needle prefix fails here at once.
type scrubScript struct {
	t     *testing.T
	steps []scrubStep
	got   *bytes.Buffer
	want  string
}

type scrubStep struct{ write, delivered string }

func (s *scrubScript) Read(p []byte) (int, error) {
	if s.got.String() != s.want {
		s.t.Fatalf("upstream would block; caller has %q, want %q", s.got.String(), s.want)
	}
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	s.want += st.delivered
	return copy(p, st.write), nil
}

func TestScrubStreamsWithoutWaiting(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []scrubStep
	}{
		{"events", []scrubStep{{"data: a\n\n", "data: a\n\n"}, {"data: b\n\n", "data: b\n\n"}}},
		{"value across events", []scrubStep{
			{"data: sk-li", "data: "},
			{"ve-Q7x9\n\n", rd + "\n\n"},
		}},
		{"false prefix released", []scrubStep{{"data: s", "data: "}, {"x\n\n", "sx\n\n"}}},
		{"value then prefix", []scrubStep{{scrubTestSecret + "sk-", rd}, {"\n", "sk-\n"}}},
		{"value ends event", []scrubStep{{"data: " + scrubTestSecret, "data: " + rd}, {"\n\n", "\n\n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bytes.Buffer
			src := &scrubScript{t: t, steps: tc.steps, got: &got}
			b := redact([]byte(scrubTestSecret)).Body(io.NopCloser(src))
			p := make([]byte, 7)
			for {
				n, err := b.Read(p)
				got.Write(p[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != src.want {
				t.Fatalf("got %q, want %q", got.String(), src.want)
			}
		})
	}
}

// TestScrubSSEPipe writes one event at a time into a pipe and reads it back through the scrubber
// before writing the next. A scrubber that held an event back would hang here.
func TestScrubSSEPipe(t *testing.T) {
	pr, pw := io.Pipe()
	b := redact([]byte(scrubTestSecret)).Body(pr)
	events := []string{
		"event: delta\ndata: {\"text\":\"hi\"}\n\n",
		"data: echo " + scrubTestSecret + "\n\n",
		"data: sk-\n\n",
		": keep-alive\n\n",
	}
	ready := make(chan struct{})
	go func() {
		for _, e := range events {
			<-ready
			pw.Write([]byte(e))
		}
		pw.Close()
	}()
	for _, e := range events {
		ready <- struct{}{}
		want := strings.ReplaceAll(e, scrubTestSecret, rd)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(b, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after the last event: %d, %v", n, err)
	}
	b.Close()
	if b.Count() != 1 {
		t.Fatalf("count %d", b.Count())
	}
}

func TestScrubBodyErrors(t *testing.T) {
	boom := errors.New("connection reset")
	// A failure mid-value: the safe bytes arrive, the held-back prefix does not.
	src := &scrubChunks{chunks: [][]byte{[]byte("ok sk-live")}, err: boom}
	b := redact([]byte(scrubTestSecret)).Body(src)
	got, err := io.ReadAll(b)
	if string(got) != "ok " || !errors.Is(err, boom) {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Fatalf("error not sticky: %v", err)
	}
	b.Close()
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Fatalf("read after close: %v", err)
	}
	if !src.closed {
		t.Fatal("upstream not closed")
	}

	// A source that never makes progress is an error, not a spin.
	for _, s := range []*Scrubber{nil, redact([]byte("x"))} {
		if _, err := s.Body(io.NopCloser(scrubStuck{})).Read(make([]byte, 1)); !errors.Is(err, io.ErrNoProgress) {
			t.Fatalf("%v: stuck source: %v", s, err)
		}
	}

	// A zero-length read asks the upstream nothing.
	if n, err := redact([]byte("x")).Body(io.NopCloser(scrubStuck{})).Read(nil); n != 0 || err != nil {
		t.Fatalf("empty read: %d, %v", n, err)
	}

	// A corrupt gzip body reports the decoder's error, not a value.
	resp := &http.Response{Header: http.Header{"Content-Encoding": {"gzip"}}, ContentLength: -1,
		Body: io.NopCloser(strings.NewReader(scrubTestSecret))}
	redact([]byte(scrubTestSecret)).Response(resp)
	if _, err := io.ReadAll(resp.Body); err == nil || strings.Contains(err.Error(), scrubTestSecret) {
		t.Fatalf("corrupt gzip: %v", err)
	}
}

type scrubStuck struct{}

func (scrubStuck) Read([]byte) (int, error) { return 0, nil }

func TestScrubNothingPrintsValues(t *testing.T) {
	s := redact([]byte(scrubTestSecret))
	b := s.Body(io.NopCloser(strings.NewReader(scrubTestSecret[:5])))
	b.Read(make([]byte, 1)) // leaves part of the value in b's buffers
	for _, v := range []any{s, b} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, scrubTestSecret) || strings.Contains(out, "sk-li") {
				t.Fatalf("%s of %T shows the value: %s", verb, v, out)
			}
		}
	}
}

// scrubResponseRead scrubs resp and reads its body to the end.
func scrubResponseRead(t *testing.T, sc *Scrubber, resp *http.Response) (*Body, []byte) {
	t.Helper()
	sb, err := sc.Response(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return sb, got
}

// A short answer is read whole only when it is not an event stream and not
// longer than wholeMax; one that ends before its Content-Length, or runs
// past it, fails before anything of it is delivered.
func TestScrubResponseWhole(t *testing.T) {
	sc := redact([]byte(scrubTestSecret))
	respond := func(ct string, body []byte, cl int64) *http.Response {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ct}, "Content-Length": {fmt.Sprint(cl)}},
			ContentLength: cl, Body: io.NopCloser(iotest.OneByteReader(bytes.NewReader(body)))}
	}
	for _, tc := range []struct {
		name  string
		ct    string
		size  int
		whole bool
	}{
		{"small", "application/json", 100, true},
		{"first chunk", "text/plain", firstChunk, true},
		{"largest whole", "text/plain", wholeMax, true},
		{"larger streams", "text/plain", wholeMax + 1, false},
		{"event stream streams", "Text/Event-Stream; charset=utf-8", 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The value straddles the middle, so a whole read and a stream
			// both have to find it across reads.
			body := bytes.Repeat([]byte("x"), tc.size)
			copy(body[tc.size/2-len(scrubTestSecret)/2:], scrubTestSecret)
			resp := respond(tc.ct, body, int64(len(body)))
			sb, got := scrubResponseRead(t, sc, resp)
			if bytes.Contains(got, []byte(scrubTestSecret)) || sb.Count() != 1 || len(got) != tc.size-len(scrubTestSecret)+len(rd) {
				t.Fatalf("value through, or %d replacements, or %d bytes", sb.Count(), len(got))
			}
			if tc.whole != (resp.ContentLength == int64(len(got))) || tc.whole != (resp.Header.Get("Content-Length") == fmt.Sprint(len(got))) {
				t.Fatalf("whole %v, but ContentLength %d, header %q, %d bytes", tc.whole, resp.ContentLength, resp.Header.Get("Content-Length"), len(got))
			}
		})
	}
	for _, tc := range []struct {
		name string
		body string
		cl   int64
	}{
		{"ends early", "hello " + scrubTestSecret, 100},
		{"runs past", "hello " + scrubTestSecret + " and more", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := respond("text/plain", []byte(tc.body), tc.cl)
			_, err := sc.Response(resp)
			if err == nil || strings.Contains(err.Error(), scrubTestSecret) {
				t.Fatalf("err %v", err)
			}
			if got, rerr := io.ReadAll(resp.Body); len(got) != 0 || rerr == nil {
				t.Fatalf("the failed body still delivered %d bytes (err %v)", len(got), rerr)
			}
		})
	}
}

// TestScrubReplacementPerNeedle checks that each needle's forms become its own replacement, and
// that a form two needles share takes the first needle's.
func TestScrubReplacementPerNeedle(t *testing.T) {
	const ph = "kg_placeholder_API_KEY"
	s := New(Needle{Find: []byte("sk/1"), Replace: ph}, Needle{Find: []byte("other"), Replace: rd}, Needle{Find: []byte("sk/1"), Replace: "late"})
	body := `raw sk/1, query sk%2F1, json "sk\/1", other`
	want := `raw ` + ph + `, query ` + ph + `, json "` + ph + `", ` + rd
	for cut := 0; cut <= len(body); cut++ {
		if got, n := scrubReadAll(t, s, scrubChunked(body[:cut], body[cut:])); got != want || n != 4 {
			t.Fatalf("cut %d: got %q (%d), want %q", cut, got, n, want)
		}
	}
	h := http.Header{"Location": {"/x?k=sk%2F1"}}
	if s.Headers(h); h.Get("Location") != "/x?k="+ph {
		t.Fatalf("Location %q", h.Get("Location"))
	}
	// A replacement longer than the pool's slack gets buffers that fit it.
	long := strings.Repeat("R", poolSlack+10)
	big := New(Needle{Find: []byte("v"), Replace: long})
	in := strings.Repeat("v", 2*maxChunk)
	if got, n := scrubReadAll(t, big, strings.NewReader(in)); got != strings.Repeat(long, len(in)) || n != len(in) {
		t.Fatalf("long replacement: %d replacements, %d bytes", n, len(got))
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"X-Api-Key": true, "api-key": true, "!#$%&'*+-.^_`|~09azAZ": true,
		"": false, "a b": false, "a:b": false, "a\x7f": false, "é": false, "a/b": false, "{x}": false,
	} {
		if IsToken(s) != want || IsToken([]byte(s)) != want {
			t.Errorf("IsToken(%q) = %v, want %v", s, !want, want)
		}
	}
}

// TestScrubUnannouncedTrailers: a trailer the upstream did not announce
// arrives in a map net/http makes at EOF, after Response or HeadersOnly
// returned; it is scrubbed all the same, over a real HTTP/1.1 exchange.
func TestScrubUnannouncedTrailers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "body with "+scrubTestSecret)
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Unannounced", "key="+scrubTestSecret)
	}))
	defer srv.Close()
	for _, whole := range []bool{true, false} {
		res, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if res.Trailer != nil {
			t.Fatalf("announced trailers %v: the test needs none", res.Trailer)
		}
		var count func() int
		wantBody := "body with " + rd
		if whole {
			sb, err := redact([]byte(scrubTestSecret)).Response(res)
			if err != nil {
				t.Fatal(err)
			}
			count = sb.Count
		} else {
			count = redact([]byte(scrubTestSecret)).HeadersOnly(res).Count
			wantBody = "body with " + scrubTestSecret
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || string(body) != wantBody {
			t.Fatalf("body %q, %v", body, err)
		}
		if got := res.Trailer.Get("X-Unannounced"); got != "key="+rd {
			t.Errorf("whole=%v: trailer %q", whole, got)
		}
		if want := map[bool]int{true: 2, false: 1}[whole]; count() != want {
			t.Errorf("whole=%v: count %d, want %d", whole, count(), want)
		}
	}
}

// TestScrubHeadersOnly: the status line and headers are scrubbed at once;
// the body goes through as sent.
func TestScrubHeadersOnly(t *testing.T) {
	res := &http.Response{Status: "200 " + scrubTestSecret, Header: http.Header{"X-Echo": {scrubTestSecret}},
		Body: io.NopCloser(strings.NewReader(scrubTestSecret))}
	pb := redact([]byte(scrubTestSecret)).HeadersOnly(res)
	if res.Status != "200 "+rd || res.Header.Get("X-Echo") != rd || pb.Count() != 2 {
		t.Fatalf("status %q, header %q, count %d", res.Status, res.Header.Get("X-Echo"), pb.Count())
	}
	if b, _ := io.ReadAll(res.Body); string(b) != scrubTestSecret {
		t.Fatalf("body %q", b)
	}
}
