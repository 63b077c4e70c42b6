package integration

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestScrubbedEventJoinsItsRequest: the egress.scrubbed event of an answer
// carries the request id of the egress event it followed, so that the two
// can be joined.
func TestScrubbedEventJoinsItsRequest(t *testing.T) {
	t.Parallel()
	echo := NewUpstream(t, echoHeaders)
	in := Start(t, Config{Upstream: echo.Addr})
	inv, value := egressWorld(t, in, "127.0.0.1")
	noteSensitive(inv, value)
	if r := sendT(t, "GET", in.EgressURL+"/api/echo", "", bearer(inv), nil); r.Status != http.StatusOK {
		t.Fatalf("egress: %s", r)
	}
	type event struct {
		Action, Decision, Reason string
		RequestID                string `json:"request_id"`
	}
	var egress, scrubbed []event
	eventually(5*time.Second, 20*time.Millisecond, func() bool {
		var evs []event
		json.Unmarshal(in.mustAPI(t, http.StatusOK, "GET", "/v1/audit?limit=1000", nil).Body, &evs)
		egress, scrubbed = nil, nil
		for _, ev := range evs {
			switch ev.Action {
			case "egress":
				egress = append(egress, ev)
			case "egress.scrubbed":
				scrubbed = append(scrubbed, ev)
			}
		}
		return len(egress) == 1 && len(scrubbed) == 1
	})
	if len(egress) != 1 || len(scrubbed) != 1 {
		t.Fatalf("audited %d egress and %d egress.scrubbed events, want one of each", len(egress), len(scrubbed))
	}
	if egress[0].RequestID == "" || scrubbed[0].RequestID != egress[0].RequestID {
		t.Errorf("egress.scrubbed has request id %q, its egress event %q", scrubbed[0].RequestID, egress[0].RequestID)
	}
}
