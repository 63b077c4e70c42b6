package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestKeyMaxBytesAndRotationDefault(t *testing.T) {
	s, _ := memStore(t)
	kc := mustKeychain(t, s)
	m := testManifest("@acme/limits", "limits")
	m.Keys[0].MaxBytes = 8
	m.Keys[0].RotationHintDays = 30
	m.AppKeys = []KeySpec{{Name: "APP_KEY", MaxBytes: 4, RotationHintDays: 7}}
	if _, err := s.PutPackage(m); err != nil {
		t.Fatal(err)
	}
	name := m.Keys[0].Name
	_, err := s.PutSecret(kc.ID, name, []byte("123456789"), SecretOptions{})
	var verr *ValidationError
	if !errors.As(err, &verr) || verr.Field != "value" || !strings.Contains(err.Error(), "at most 8") || strings.Contains(err.Error(), "123456789") {
		t.Fatalf("9 bytes for max_bytes 8: %v, want a value error naming the limit, never the value", err)
	}
	meta, err := s.PutSecret(kc.ID, name, []byte("12345678"), SecretOptions{})
	if err != nil || meta.RotationHintDays != 30 {
		t.Fatalf("8 bytes: %+v %v, want stored with the manifest's rotation hint 30", meta, err)
	}
	meta, err = s.PutSecret(kc.ID, name, []byte("1234"), SecretOptions{RotationHintDays: 90})
	if err != nil || meta.RotationHintDays != 90 {
		t.Fatalf("owner's own hint: %+v %v", meta, err)
	}
	if _, err := s.PutAppSecret(m.Name, "APP_KEY", []byte("12345")); !errors.As(err, &verr) || verr.Field != "value" {
		t.Fatalf("app key over max_bytes: %v", err)
	}
	if meta, err := s.PutAppSecret(m.Name, "APP_KEY", []byte("1234")); err != nil || meta.RotationHintDays != 7 {
		t.Fatalf("app key: %+v %v", meta, err)
	}

	m.Keys[0].MaxBytes = DefaultMaxValueBytes + 1
	if _, err := s.PutPackage(m); !errors.As(err, &verr) || verr.Field != "keys[0].max_bytes" {
		t.Fatalf("max_bytes above max_value_bytes: %v", err)
	}
	m.Keys[0].MaxBytes, m.Keys[0].RotationHintDays = 0, -1
	if _, err := s.PutPackage(m); !errors.As(err, &verr) || verr.Field != "keys[0].rotation_hint_days" {
		t.Fatalf("negative rotation_hint_days: %v", err)
	}
}

func TestWebhookDeliveriesClaimOnce(t *testing.T) {
	s, clk := memStore(t)
	exp := clk.Now().Add(10 * time.Minute)
	if seen, err := s.ClaimWebhookDelivery("@a/b", "kc_1", "stripe", "evt_1", exp); err != nil || seen {
		t.Fatalf("first claim: %v %v", seen, err)
	}
	if seen, err := s.ClaimWebhookDelivery("@a/b", "kc_1", "stripe", "evt_1", exp); err != nil || !seen {
		t.Fatalf("second claim: %v %v, want seen", seen, err)
	}
	for _, other := range [][4]string{{"@a/c", "kc_1", "stripe", "evt_1"}, {"@a/b", "kc_2", "stripe", "evt_1"}, {"@a/b", "kc_1", "github", "evt_1"}} {
		if seen, _ := s.SeenWebhookDelivery(other[0], other[1], other[2], other[3]); seen {
			t.Errorf("%v seen: deliveries must be scoped to package, keychain and webhook", other)
		}
	}
	// Released (the package failed it): the retry claims it afresh.
	if err := s.ReleaseWebhookDelivery("@a/b", "kc_1", "stripe", "evt_1"); err != nil {
		t.Fatal(err)
	}
	if seen, err := s.ClaimWebhookDelivery("@a/b", "kc_1", "stripe", "evt_1", exp); err != nil || seen {
		t.Fatalf("claim after release: %v %v", seen, err)
	}
	if err := s.ReleaseWebhookDelivery("@a/b", "kc_1", "stripe", "never"); err != nil {
		t.Errorf("releasing an unrecorded delivery: %v", err)
	}
	if err := s.ReleaseWebhookDelivery("@a/b", "kc_1", "stripe", "bad\x00id"); err == nil {
		t.Error("a release with NUL in the id was accepted")
	}
	clk.Add(11 * time.Minute)
	if seen, _ := s.SeenWebhookDelivery("@a/b", "kc_1", "stripe", "evt_1"); seen {
		t.Error("expired delivery still seen")
	}
	if n, err := s.PruneWebhookDeliveries(); err != nil || n != 1 {
		t.Errorf("prune: %d %v", n, err)
	}
	if _, err := s.ClaimWebhookDelivery("@a/b", "kc_1", "stripe", "bad\x00id", exp); err == nil {
		t.Error("an id with NUL was accepted")
	}
}
