package scrub

import (
	"bytes"
	"io"
	"testing"
)

// scrubFuzzSource cuts its data into chunks whose sizes come from the fuzzer.
type scrubFuzzSource struct {
	data, sizes []byte
	i           int
	wasEmpty    bool
}

func (r *scrubFuzzSource) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)]) % 40
		r.i++
	}
	// An empty read now and then is allowed; a run of them is a stuck source.
	if n == 0 && r.wasEmpty {
		n = 1
	}
	r.wasEmpty = n == 0
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

const fuzzPlaceholder = "{{KEY}}"

func FuzzScrubStream(f *testing.F) {
	f.Add([]byte("echo sk-live-Q7x9 and sk-live"), []byte("sk-live-Q7x9"), []byte("Bearer sk-live-Q7x9"), []byte{3, 1, 7})
	f.Add([]byte("aaaaabaaab"), []byte("aab"), []byte("ab"), []byte{1})
	f.Add([]byte(`{"k":"a\/b","q":"a%2Fb"}`), []byte("a/b"), []byte(""), []byte{5, 0, 2})
	f.Add([]byte("data: x\n\ndata: y\n\n"), []byte("keygate"), []byte("]"), []byte{9})
	f.Fuzz(func(t *testing.T, body, n1, n2, sizes []byte) {
		// Two needles with their own replacements, as the proxy site puts a placeholder back
		// where egress redacts.
		s := New(Needle{Find: n1, Replace: rd}, Needle{Find: n2, Replace: fuzzPlaceholder})
		want, _, wantCount := s.scrub(nil, body, true, make([]int, len(s.needles)))
		if ref, refCount := scrubReference(s.needles, s.repl, body); !bytes.Equal(want, ref) || wantCount != refCount {
			t.Fatalf("scrub differs from leftmost-longest:\n got %q (%d)\nwant %q (%d)", want, wantCount, ref, refCount)
		}

		b := s.Body(io.NopCloser(&scrubFuzzSource{data: body, sizes: sizes}))
		var got []byte
		p := make([]byte, 1+len(sizes)%17)
		for {
			n, err := b.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) || b.Count() != wantCount {
			t.Fatalf("chunking changed the output:\n got %q (%d)\nwant %q (%d)", got, b.Count(), want, wantCount)
		}

		clean := true
		for _, nd := range s.needles {
			if bytes.Contains(body, nd) {
				clean = false
			}
			// Between replacements, no form of a needle is left.
			for _, part := range bytes.Split(got, []byte(rd)) {
				for _, piece := range bytes.Split(part, []byte(fuzzPlaceholder)) {
					if bytes.Contains(piece, nd) {
						t.Fatalf("output %q still holds %q", got, nd)
					}
				}
			}
		}
		if clean && !bytes.Equal(got, body) {
			t.Fatalf("body without a needle changed:\n got %q\nwant %q", got, body)
		}
	})
}

// scrubReference is leftmost-longest replacement the slow, obvious way: at each position, the
// longest needle that starts there.
func scrubReference(needles [][]byte, repl []string, body []byte) ([]byte, int) {
	var out []byte
	n := 0
	for i := 0; i < len(body); {
		k := -1
		for j, nd := range needles {
			if bytes.HasPrefix(body[i:], nd) && (k < 0 || len(nd) > len(needles[k])) {
				k = j
			}
		}
		if k < 0 {
			out = append(out, body[i])
			i++
			continue
		}
		out = append(out, repl[k]...)
		n++
		i += len(needles[k])
	}
	return out, n
}
