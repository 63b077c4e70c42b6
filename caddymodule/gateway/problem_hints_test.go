package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/keygate/keygate/policy"
)

// TestDenialProblemStatuses: each denial's status comes from the registry,
// not_requested is 400 wherever it is answered, and a revoked token is 401
// with its challenge.
func TestDenialProblemStatuses(t *testing.T) {
	for _, k := range problemKinds {
		p := DenialProblem(&policy.Denial{Reason: policy.DenyReason(k.Reason), Package: "@a/b", Key: "K"})
		if p.Status != k.Status || p.Reason != k.Reason || p.Type != problemTypeBase+k.Reason {
			t.Errorf("%s: %d %s %s", k.Reason, p.Status, p.Reason, p.Type)
		}
	}
	if p := DenialProblem(&policy.Denial{Reason: policy.TokenRevoked}); p.headersExtra.Get("Www-Authenticate") == "" {
		t.Error("401 without Www-Authenticate")
	}
	p := DenialProblem(&policy.Denial{Reason: policy.NotRequested, Package: "@a/b", Key: "api_key", Requested: []string{"API_KEY", "OTHER"}})
	if p.Status != http.StatusBadRequest || p.Key != "api_key" || !strings.Contains(p.Detail, `"api_key"`) || !strings.Contains(p.Detail, "API_KEY, OTHER") {
		t.Errorf("not_requested: %+v", p)
	}
	if h := ProblemResponse(nil, p).Header; h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("ProblemResponse headers %v", h)
	}
}
