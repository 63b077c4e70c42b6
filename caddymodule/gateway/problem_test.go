package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProblemBodiesEndWithANewline: both ways of answering a problem end
// the body with a newline, and it is still one JSON object.
func TestProblemBodiesEndWithANewline(t *testing.T) {
	p := NewProblem(http.StatusForbidden, "no_grant", "no grant")
	rec := httptest.NewRecorder()
	WriteProblem(rec, p)
	res := ProblemResponse(httptest.NewRequest("GET", "/", nil), p)
	b, _ := io.ReadAll(res.Body)
	if res.ContentLength != int64(len(b)) {
		t.Fatalf("Content-Length %d, body %d bytes", res.ContentLength, len(b))
	}
	for name, body := range map[string]string{"WriteProblem": rec.Body.String(), "ProblemResponse": string(b)} {
		if !strings.HasSuffix(body, "}\n") {
			t.Errorf("%s body %q does not end with a newline", name, body)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Errorf("%s body is not JSON: %v", name, err)
		}
	}
}
