package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
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

// TestFlowStatus: a reason answered with another status in a flow is in
// the registry, answered in that flow, and ProblemAt builds it so; a
// webhook's bad signature stays 401.
func TestFlowStatus(t *testing.T) {
	for reason, flows := range flowStatus {
		k := problemKind(reason)
		for flow, status := range flows {
			if !slices.Contains(k.Flows, flow) {
				t.Errorf("%s has a status at %s, where the registry does not answer it", reason, flow)
			}
			if p := ProblemAt(flow, reason, "x"); p.Status != status || p.Reason != reason {
				t.Errorf("%s at %s: %d %s", reason, flow, p.Status, p.Reason)
			}
		}
	}
	if p := ProblemAt(FlowProxy, "bad_signature", "x"); p.Status != http.StatusForbidden {
		t.Errorf("proxy bad_signature: %d", p.Status)
	}
	if p := ProblemAt(FlowWebhooks, "bad_signature", "x"); p.Status != http.StatusUnauthorized {
		t.Errorf("webhook bad_signature: %d", p.Status)
	}
}
