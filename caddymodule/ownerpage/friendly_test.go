package ownerpage

import (
	"fmt"
	"net/http"
	"testing"

	"go.uber.org/zap"

	"github.com/keygate/keygate/caddymodule/gateway"
	"github.com/keygate/keygate/store"
)

// TestFriendlyStoreDown: a database that is down is a 503 the owner can
// wait out, as the API answers it, even when the audit failure wraps it.
func TestFriendlyStoreDown(t *testing.T) {
	h := &Page{logger: zap.NewNop()}
	for _, err := range []error{
		fmt.Errorf("put secret: %w", store.ErrUnavailable),
		fmt.Errorf("%w: %w", gateway.ErrAuditUnavailable, store.ErrUnavailable),
	} {
		if status, msg := h.friendly(err); status != http.StatusServiceUnavailable || msg != storeDownMessage {
			t.Errorf("%v: %d %q", err, status, msg)
		}
	}
	if status, msg := h.friendly(gateway.ErrAuditUnavailable); status != http.StatusServiceUnavailable || msg != auditDownMessage {
		t.Errorf("audit down: %d %q", status, msg)
	}
}
