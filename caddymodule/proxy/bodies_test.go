package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

// TestPlaceholderGuard: a streamed body passes unchanged, and one holding
// a placeholder fails before any byte of it is handed on, however the
// reads split it.
func TestPlaceholderGuard(t *testing.T) {
	clean := strings.Repeat("abcdefghij kgph", 10000) + "kgp"
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	} {
		got, err := io.ReadAll(newPlaceholderGuard(io.NopCloser(wrap(strings.NewReader(clean)))))
		if err != nil || string(got) != clean {
			t.Fatalf("%s: a clean body: %v, %d of %d bytes", name, err, len(got), len(clean))
		}
		for _, at := range []int{0, 1, 4, 5, 32 << 10, 32<<10 - 2, len(clean)} {
			dirty := clean[:at] + "kgph_AAAA" + clean[at:]
			var out bytes.Buffer
			_, err := io.Copy(&out, newPlaceholderGuard(io.NopCloser(wrap(strings.NewReader(dirty)))))
			if !errors.Is(err, errBodyPlaceholder) || bytes.Contains(out.Bytes(), []byte("kgph_")) || out.Len() > at {
				t.Fatalf("%s, placeholder at %d: %v, %d bytes out", name, at, err, out.Len())
			}
		}
	}
}

func TestBodyKinds(t *testing.T) {
	for mt, want := range map[string]bodyKind{
		"application/json": bodyJSON, "application/vnd.api+json": bodyJSON, "application/x-www-form-urlencoded": bodyForm,
		"text/plain": bodyText, "text/csv": bodyText, "text/xml": bodyXML, "application/atom+xml": bodyXML,
		"multipart/form-data": bodyMultipart, "application/octet-stream": bodyOpaque, "": bodyOpaque, "image/png": bodyOpaque,
	} {
		if got := bodyKindOf(mt); got != want {
			t.Errorf("%q: kind %d, want %d", mt, got, want)
		}
	}
	for in, want := range map[string]string{"": "", "identity": "", "GZIP": "gzip", "aws-chunked": "aws-chunked", "identity, br": "br", "aws-chunked, gzip": "aws-chunked, gzip"} {
		if got := contentEncoding(http.Header{"Content-Encoding": {in}}); got != want {
			t.Errorf("Content-Encoding %q: %q, want %q", in, got, want)
		}
	}
	if got := bodyXML.escape(`a<b&"c`); got != "a&lt;b&amp;&#34;c" {
		t.Errorf("XML escape: %s", got)
	}
	if got := bodyText.escape(`a<b&"c`); got != `a<b&"c` {
		t.Errorf("text: %s", got)
	}
}
