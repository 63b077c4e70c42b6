package ingress

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// TestRefuseDelivery: a plaintext delivery that cannot go ahead once the
// call was allowed answers a problem, never a bare error that Caddy would
// turn into an unlogged 502: a store that is down is 503
// storage_unavailable, logged; a secret no longer allowed to the package's
// code is 403 host_not_allowed, audited as a denial of the call.
func TestRefuseDelivery(t *testing.T) {
	mk, _ := store.GenerateMasterKey("k1")
	kr, _ := store.NewKeyring(mk)
	st, err := store.Open(store.Options{InMemory: true, Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, stop := gateway.NewStandalone(st, nil, true)
	t.Cleanup(stop)
	core, logs := observer.New(zap.ErrorLevel)
	tr := &ingressTransport{app: app, logger: zap.New(core)}
	call := &ingressCall{keychain: "kc_x", pkg: "@acme/tools", keys: []string{"API_KEY"}, requestID: "req-1"}
	req := httptest.NewRequest("GET", "http://tools.pkg.test/", nil)

	p := tr.refuseDelivery(req, call, "API_KEY", "127.0.0.1", fmt.Errorf("open: %w", store.ErrUnavailable))
	if p.Status != http.StatusServiceUnavailable || p.Reason != "storage_unavailable" || logs.Len() != 1 {
		t.Errorf("store down: %d %s, %d log lines", p.Status, p.Reason, logs.Len())
	}
	p = tr.refuseDelivery(req, call, "API_KEY", "127.0.0.1", errPlaintextHost)
	if p.Status != http.StatusForbidden || p.Reason != "host_not_allowed" || p.Key != "API_KEY" {
		t.Errorf("host refused: %+v", p)
	}
	var denied []store.AuditEvent
	for range 100 {
		evs, err := st.QueryAudit(store.AuditQuery{Keychain: "kc_x"})
		if err != nil {
			t.Fatal(err)
		}
		denied = denied[:0]
		for _, ev := range evs {
			if ev.Decision == "deny" && ev.Reason == "host_not_allowed" && ev.RequestID == "req-1" {
				denied = append(denied, ev)
			}
		}
		if len(denied) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(denied) != 1 || denied[0].Action != gateway.ActionIngress || denied[0].Package != call.pkg {
		t.Errorf("the refused delivery was audited as %+v", denied)
	}
}
