package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHeldCallsTakenOnce(t *testing.T) {
	s, c := memStore(t)
	kc, other := mustKeychain(t, s), mustKeychain(t, s)
	body := `{"amount":4242,"card":"tok_private_marker"}`
	h := HeldCall{ID: "hc_1", Keychain: kc.ID, Kind: "approve", Body: json.RawMessage(body), Created: c.Now(), Expires: c.Now().Add(time.Minute)}
	if err := s.PutHeld(h); err != nil {
		t.Fatal(err)
	}
	if l, err := s.ListHeld(kc.ID); err != nil || len(l) != 1 || l[0].ID != "hc_1" || string(l[0].Body) != body {
		t.Fatalf("list: %+v %v", l, err)
	}
	// The body is sealed: no record holds it in the clear.
	assertNotStored(t, s, "tok_private_marker")
	if g, err := s.GetHeld(kc.ID, "hc_1"); err != nil || string(g.Body) != body {
		t.Fatalf("get: %+v %v", g, err)
	}
	if l, _ := s.ListHeld(other.ID); len(l) != 0 {
		t.Fatal("another keychain lists the call")
	}
	// Another keychain's id does not find it.
	_, err := s.TakeHeld(other.ID, "hc_1")
	wantErr(t, err, ErrNotFound)
	if got, err := s.TakeHeld(kc.ID, "hc_1"); err != nil || string(got.Body) != body {
		t.Fatalf("take: %+v %v", got, err)
	}
	_, err = s.TakeHeld(kc.ID, "hc_1")
	wantErr(t, err, ErrNotFound)

	// Expired: not listed, not taken, pruned.
	h.ID = "hc_2"
	if err := s.PutHeld(h); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	if l, _ := s.ListHeld(kc.ID); len(l) != 0 {
		t.Fatal("an expired call is listed")
	}
	if n, err := s.PruneHeld(); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	for _, bad := range []string{"", strings.Repeat("x", 65)} {
		h.ID = bad
		if err := s.PutHeld(h); err == nil {
			t.Fatalf("id %q accepted", bad)
		}
		_, err := s.TakeHeld(kc.ID, bad)
		wantErr(t, err, ErrNotFound)
	}
}

func TestShapeApprovals(t *testing.T) {
	s, c := memStore(t)
	kc := mustKeychain(t, s)
	shape := strings.Repeat("ab", 32)
	if ok, err := s.ShapeApproved(kc.ID, shape); ok || err != nil {
		t.Fatalf("unapproved shape: %v %v", ok, err)
	}
	if err := s.PutShapeApproval(kc.ID, shape, ShapeApproval{RequestID: "r1", Expires: c.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.ShapeApproved(kc.ID, shape); !ok {
		t.Fatal("approved shape not approved")
	}
	other := mustKeychain(t, s)
	if ok, _ := s.ShapeApproved(other.ID, shape); ok {
		t.Fatal("a shape approved for one keychain holds for another")
	}
	c.Add(time.Hour)
	if ok, _ := s.ShapeApproved(kc.ID, shape); ok {
		t.Fatal("an expired approval holds")
	}
	if err := s.PutShapeApproval(kc.ID, "short", ShapeApproval{Expires: c.Now().Add(time.Hour)}); err == nil {
		t.Fatal("a malformed shape was stored")
	}
}

func TestManifestApproveRules(t *testing.T) {
	ok := []ApproveRule{{Method: "post", Host: "API.stripe.com", Path: "/v1/charges*"}, {Method: "*", Path: "/x"}}
	m := testManifest("@acme/a", "a")
	m.Keys[0].Approve = ok
	if err := ValidateManifest(&m); err != nil {
		t.Fatal(err)
	}
	if r := m.Keys[0].Approve[0]; r.Method != "POST" || r.Host != "api.stripe.com" {
		t.Fatalf("not normalized: %+v", r)
	}
	for _, bad := range []ApproveRule{
		{Method: "", Path: "/x"},
		{Method: "PO ST", Path: "/x"},
		{Method: "POST", Path: ""},
		{Method: "POST", Path: "x"},
		{Method: "POST", Path: "/a*b"},
		{Method: "POST", Path: "/a?b=1"},
		{Method: "POST", Path: "/a b"},
		{Method: "POST", Path: "/" + strings.Repeat("a", 600)},
		{Method: "POST", Host: "https://x.example", Path: "/x"},
		{Method: "POST", Host: "a b", Path: "/x"},
	} {
		m := testManifest("@acme/a", "a")
		m.Keys[0].Approve = []ApproveRule{bad}
		if err := ValidateManifest(&m); err == nil || !strings.Contains(err.Error(), "approve[0]") {
			t.Errorf("rule %+v: %v", bad, err)
		}
	}
	m = testManifest("@acme/a", "a")
	m.Keys[0].Approve = make([]ApproveRule, maxApproveRules+1)
	if err := ValidateManifest(&m); err == nil {
		t.Error("too many rules accepted")
	}
}

// TestHeldWithinLimit: PutHeldWithin counts a keychain's unexpired calls
// only, and refuses past the limit without recording.
func TestHeldWithinLimit(t *testing.T) {
	s, c := memStore(t)
	kc, other := mustKeychain(t, s), mustKeychain(t, s)
	put := func(kcID, id string, wait time.Duration) bool {
		t.Helper()
		ok, err := s.PutHeldWithin(HeldCall{ID: id, Keychain: kcID, Kind: "approve", Created: c.Now(), Expires: c.Now().Add(wait)}, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !put(kc.ID, "hc_short", time.Second) || !put(kc.ID, "hc_a", time.Minute) {
		t.Fatal("calls within the limit refused")
	}
	if put(kc.ID, "hc_b", time.Minute) {
		t.Fatal("a call past the limit recorded")
	}
	if _, err := s.GetHeld(kc.ID, "hc_b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused call has a record: %v", err)
	}
	if !put(other.ID, "hc_o", time.Minute) {
		t.Fatal("another keychain's calls count against this one")
	}
	c.Add(2 * time.Second) // hc_short's wait ran out (a dead node's record)
	if !put(kc.ID, "hc_b", time.Minute) {
		t.Fatal("an expired record still counts")
	}
}
