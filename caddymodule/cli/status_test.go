package cli

import (
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	const healthy = `{"store":{"backend":"postgres","where":"db:5432/keygate as keygate","schema_version":2,"nodes":3,"audit_head":"whole","signing_keys":2,"master_key_id":"k2"},` +
		`"listeners":[{"server":"api","listen":[":8080"]}]}`
	f := newFakeAPI(t)
	f.on("GET", "/v1/status", 200, healthy)
	r := runCLI(t, "", "status")
	if r.code != 0 {
		t.Fatalf("healthy: %+v", r)
	}
	for _, want := range []string{"postgres db:5432/keygate as keygate (schema version 2), answering", "audit head    whole", "k2 seals", "nodes         3 connected", "listener      api :8080"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}

	broken := strings.Replace(healthy, `"whole"`, `"mac mismatch (edited)\u001b[2J"`, 1)
	f = newFakeAPI(t)
	f.on("GET", "/v1/status", 200, broken)
	r = runCLI(t, "", "status")
	if r.code != 1 {
		t.Errorf("broken head: exit %d", r.code)
	}
	oneErrorLine(t, r, "keygate: status: keygate is not healthy: the audit chain's head is broken: mac mismatch (edited)")
	if strings.Contains(r.stdout+r.stderr, "\x1b") {
		t.Error("a terminal escape from the server reached the terminal")
	}
	r = runCLI(t, "", "status", "--json")
	if r.code != 1 || !strings.Contains(r.stdout, `"audit_head"`) {
		t.Errorf("broken head with --json: %+v", r)
	}

	f = newFakeAPI(t)
	f.onProblem("GET", "/v1/status", 503, "storage_unavailable", "the store did not answer")
	r = runCLI(t, "", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "503") {
		t.Errorf("store down: %+v", r)
	}
	if r := runCLI(t, "", "status", "extra"); r.code != 2 {
		t.Errorf("status extra: exit %d", r.code)
	}
}
