package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	"github.com/keygate/keygate/store"
)

func TestStoragePostgresOption(t *testing.T) {
	const dsn = "postgres://kg:pw@db:5432/keys"
	v, err := parseGlobalOption(caddyfile.NewTestDispenser("keygate {\n storage postgres "+dsn+"\n}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var app App
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
		t.Fatal(err)
	}
	if app.StoragePostgres != dsn || app.Storage != "" || app.StorageMemory {
		t.Fatalf("storage_postgres = %q, storage = %q, memory = %v", app.StoragePostgres, app.Storage, app.StorageMemory)
	}
	for _, src := range []string{"keygate {\n storage postgres\n}", "keygate {\n storage postgres a b\n}"} {
		if _, err := parseGlobalOption(caddyfile.NewTestDispenser(src), nil); err == nil || !strings.Contains(err.Error(), "storage postgres <dsn>") {
			t.Fatalf("%q: err = %v", src, err)
		}
	}
	both := &App{StoragePostgres: dsn, Storage: "/tmp/x", MaxValueBytes: 1, InvocationTTL: 60e9}
	if err := both.Validate(); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("Validate = %v, want the exclusive error", err)
	}
}

// TestStorageUnavailableProblem: a database that is down is a 503 the
// client may retry, also when it reaches a request through the audit queue.
func TestStorageUnavailableProblem(t *testing.T) {
	for _, err := range []error{
		errors.Join(errors.New("postgres db:5432/keys as kg: get: no answer within 3s"), store.ErrUnavailable),
		errAuditStorage,
	} {
		p := ToProblem(err)
		if p.Status != http.StatusServiceUnavailable || p.Reason != "storage_unavailable" || p.headersExtra.Get("Retry-After") == "" {
			t.Fatalf("ToProblem(%v) = %+v", err, p)
		}
		if strings.Contains(p.Detail, "db:5432") {
			t.Fatalf("detail names the database: %q", p.Detail)
		}
	}
	if !errors.Is(errAuditStorage, ErrAuditUnavailable) {
		t.Fatal("errAuditStorage is not ErrAuditUnavailable")
	}
}
