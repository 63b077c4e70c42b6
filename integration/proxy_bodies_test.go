package integration

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// TestProxyBodyKinds: a placeholder of a key with body placement is
// substituted in text, XML and the parts of multipart bodies, each
// escaped for its type; in a body keygate cannot write the value into
// (opaque types, compressed bodies, base64 parts, streams) it is refused
// 415 and neither it nor the value leaves keygate.
func TestProxyBodyKinds(t *testing.T) {
	pw := newProxyWorld(t, nil, Config{})
	ph, value := pw.bodyKey(t)
	c := pw.goClient(t, pw.proxyURL)
	// Requests without a placeholder go to the pass host.
	pass := "https://localhost:" + pw.up.Port + "/v1/echo"
	sendTo := func(u, ctype, enc string, body io.Reader) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", u, body)
		req.Header.Set("Content-Type", ctype)
		if enc != "" {
			req.Header.Set("Content-Encoding", enc)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", ctype, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), value) {
			t.Fatalf("%s: the value came back", ctype)
		}
		return resp.StatusCode, b
	}
	send := func(ctype, enc string, body io.Reader) (int, []byte) {
		t.Helper()
		return sendTo(pw.upstreamURL("/v1/echo"), ctype, enc, body)
	}
	var xmlValue bytes.Buffer
	xml.EscapeText(&xmlValue, []byte(value))
	for _, tc := range []struct{ ctype, body, want string }{
		{"text/plain; charset=utf-8", "token=" + ph + "\n", "token=" + value + "\n"},
		{"application/xml", "<k>" + ph + "</k>", "<k>" + xmlValue.String() + "</k>"},
	} {
		if st, b := send(tc.ctype, "", strings.NewReader(tc.body)); st != 200 {
			t.Fatalf("%s: %d %s", tc.ctype, st, redact(string(b)))
		}
		if got := string(pw.up.Last(t).Body); got != tc.want {
			t.Fatalf("%s: the upstream got another body", tc.ctype)
		}
	}

	// multipart/form-data: a field, a JSON part and a file without one.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("api_key", ph)
	jp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}, "Content-Disposition": {`form-data; name="meta"`}})
	io.WriteString(jp, `{"k":"`+ph+`"}`)
	fp, _ := mw.CreateFormFile("file", "data.bin")
	fp.Write([]byte{0, 1, 2, 0xff})
	mw.Close()
	if st, b := send(mw.FormDataContentType(), "", &mp); st != 200 {
		t.Fatalf("multipart: %d %s", st, redact(string(b)))
	}
	last := pw.up.Last(t)
	_, params, _ := mime.ParseMediaType(last.Header.Get("Content-Type"))
	mr := multipart.NewReader(bytes.NewReader(last.Body), params["boundary"])
	got := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		got[p.FormName()] = string(b)
	}
	if got["api_key"] != value || got["meta"] != `{"k":`+mustJSON(value)+`}` || got["file"] != "\x00\x01\x02\xff" {
		t.Fatalf("multipart: the upstream got other parts (%d)", len(got))
	}

	gz := func(s string) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		io.WriteString(w, s)
		w.Close()
		return b.Bytes()
	}
	// A gzip body without a placeholder goes as it came.
	clean := gz(`{"n":1}`)
	if st, b := sendTo(pass, "application/json", "gzip", bytes.NewReader(clean)); st != 200 || !bytes.Equal(pw.up.Last(t).Body, clean) {
		t.Fatalf("a clean gzip body: %d %s", st, redact(string(b)))
	}

	var b64 bytes.Buffer
	mw = multipart.NewWriter(&b64)
	bp, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Transfer-Encoding": {"base64"}, "Content-Disposition": {`form-data; name="k"`}})
	io.WriteString(bp, "a2dwaF9BQUFB") // "kgph_AAAA"
	mw.Close()
	sent := pw.up.Count()
	for _, tc := range []struct {
		what, ctype, enc string
		body             io.Reader
	}{
		{"an opaque type", "application/octet-stream", "", strings.NewReader("k=" + ph)},
		{"no Content-Type", "", "", strings.NewReader(ph)},
		{"a gzip body", "application/json", "gzip", bytes.NewReader(gz(`{"k":"` + ph + `"}`))},
		{"a brotli body", "application/json", "br", strings.NewReader("anything")},
		{"a base64 part", mw.FormDataContentType(), "", &b64},
	} {
		// To the pass host: a placeholder in a body it cannot be
		// substituted in goes nowhere, with or without a value for it.
		st, b := sendTo(pass, tc.ctype, tc.enc, tc.body)
		var p problem
		json.Unmarshal(b, &p)
		if st != http.StatusUnsupportedMediaType || p.Reason != "unsearchable_body" {
			t.Errorf("%s: %d %s", tc.what, st, redact(string(b)))
		}
		if pw.up.Count() != sent {
			t.Fatalf("%s: the upstream got a request", tc.what)
		}
	}

	// A placeholder the upstream would decode out of an escape, to the pass
	// host: keygate substitutes only plain ones, so it is refused.
	for _, tc := range []struct{ what, ctype, body, query string }{
		{"a percent-encoded form field", "application/x-www-form-urlencoded", "k=%6B" + ph[1:], ""},
		{"a JSON \\u escape", "application/json", `{"k":"\u006b` + ph[1:] + `"}`, ""},
		{"an XML character reference", "application/xml", "<k>&#107;" + ph[1:] + "</k>", ""},
		{"a percent-encoded query", "text/plain", "", "?k=%6B" + ph[1:]},
	} {
		st, b := sendTo(pass+tc.query, tc.ctype, "", strings.NewReader(tc.body))
		var p problem
		json.Unmarshal(b, &p)
		if st != http.StatusForbidden || p.Reason != "placement_not_allowed" || pw.up.Count() != sent {
			t.Errorf("%s: %d %s", tc.what, st, redact(string(b)))
		}
	}

	// The same in a header (a cookie, say): refused, nothing sent.
	hreq, _ := http.NewRequest("GET", pass, nil)
	hreq.Header.Set("Cookie", "k=%6B"+ph[1:])
	if resp, err := c.Do(hreq); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p problem
		json.Unmarshal(b, &p)
		if resp.StatusCode != http.StatusForbidden || p.Reason != "placement_not_allowed" || pw.up.Count() != sent {
			t.Errorf("a percent-encoded placeholder in a header: %d %s", resp.StatusCode, redact(string(b)))
		}
	}

	// A stream of unknown length is guarded: cut before the placeholder.
	big := strings.Repeat("0123456789abcdef", 16<<10)
	// The client may see its upload cut before the answer; what matters is
	// that the answer, if any, is the refusal, and the upstream saw nothing.
	req, _ := http.NewRequest("POST", pass, io.MultiReader(strings.NewReader(big), strings.NewReader(ph), strings.NewReader(big)))
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err := c.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p problem
		json.Unmarshal(b, &p)
		if resp.StatusCode != http.StatusUnsupportedMediaType || p.Reason != "unsearchable_body" {
			t.Errorf("a stream with a placeholder: %d %s", resp.StatusCode, redact(string(b)))
		}
	} else {
		t.Logf("a stream with a placeholder: the client saw %v", err)
	}
	for _, r := range pw.up.Requests() {
		if bytes.Contains(r.Body, []byte("kgph_")) {
			t.Fatal("a placeholder reached the upstream")
		}
	}
	// A clean stream streams.
	if st, b := sendTo(pass, "application/octet-stream", "", io.MultiReader(strings.NewReader(big), strings.NewReader(big))); st != 200 || len(pw.up.Last(t).Body) != 2*len(big) {
		t.Fatalf("a clean stream: %d %s", st, redact(string(b)))
	}
}
