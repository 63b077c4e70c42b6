package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/store"
)

// TestAuditLogLineHasTheStoredID: the audit log line names the id the
// store holds, never "".
func TestAuditLogLineHasTheStoredID(t *testing.T) {
	sink := new(flakySink)
	core, logs := observer.New(zap.InfoLevel)
	q := newAuditQueue(sink, zap.New(core))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	if err := q.record(context.Background(), store.AuditEvent{Action: "grant.put"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the event to be written", func() bool { return sink.count() == 1 })
	cancel()
	<-done
	entries := logs.FilterMessage("audit").All()
	if len(entries) != 1 {
		t.Fatalf("got %d audit log lines, want 1", len(entries))
	}
	id, _ := entries[0].ContextMap()["id"].(string)
	if id == "" || id != sink.stored[0].ID {
		t.Fatalf("log id %q, stored id %q: want the same, not empty", id, sink.stored[0].ID)
	}
}

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
