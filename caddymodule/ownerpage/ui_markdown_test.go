package ownerpage

import "testing"

func TestRenderDescription(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"**bold** and `code`", "<strong>bold</strong> and <code>code</code>"},
		{"see [docs](https://example.com/a?b=1&c=2)", `see <a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">docs</a>`},
		{"[http](http://example.com)", `<a href="http://example.com" rel="noopener noreferrer">http</a>`},
		{"**[in bold](https://x.example) `c`**", `<strong><a href="https://x.example" rel="noopener noreferrer">in bold</a> <code>c</code></strong>`},
		{"line one\nline two", "line one<br>line two"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"`<b>` **<i>x</i>**", "<code>&lt;b&gt;</code> <strong>&lt;i&gt;x&lt;/i&gt;</strong>"},
		{"[x](javascript:alert(1))", "[x](javascript:alert(1))"},
		{"[x](JAVASCRIPT:alert(1))", "[x](JAVASCRIPT:alert(1))"},
		{"[x](data:text/html,hi)", "[x](data:text/html,hi)"},
		{"[x](//evil.example/)", "[x](//evil.example/)"},
		{"[x](/relative)", "[x](/relative)"},
		{"[x](https://user:pw@evil.example/)", "[x](https://user:pw@evil.example/)"},
		{`[x](https://a.example/"onmouseover=alert(1))`, "[x](https://a.example/&#34;onmouseover=alert(1))"},
		{"[x](https://a.example/ y)", "[x](https://a.example/ y)"},
		{"[<b>](https://a.example)", `<a href="https://a.example" rel="noopener noreferrer">&lt;b&gt;</a>`},
		{"unclosed **bold and `code and [link", "unclosed **bold and `code and [link"},
		{"****", "****"},
		{"a * b ** c", "a * b ** c"},
		{"'quotes' & \"double\"", "&#39;quotes&#39; &amp; &#34;double&#34;"},
	}
	for _, tc := range tests {
		if got := string(renderDescription(tc.in)); got != tc.want {
			t.Errorf("renderDescription(%q)\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzRenderDescription checks that no input makes a tag the renderer did
// not mean to write.
func FuzzRenderDescription(f *testing.F) {
	for _, s := range []string{"**a** `b` [c](https://d.example)", "<script>", "[x](javascript:y)", "**`[`**"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := string(renderDescription(s))
		for i := 0; i < len(out); i++ {
			if out[i] != '<' {
				continue
			}
			ok := false
			for _, tag := range []string{"<br>", "<strong>", "</strong>", "<code>", "</code>", `<a href="http`, "</a>"} {
				if len(out)-i >= len(tag) && out[i:i+len(tag)] == tag {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("renderDescription(%q) wrote an unexpected tag at %d: %s", s, i, out)
			}
		}
	})
}
