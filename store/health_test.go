package store

import (
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	s := diskStore(t, "", testKeyring(t, "k1"))
	if err := s.Ping(); err != nil {
		t.Fatal(err)
	}
	h, err := s.Health()
	if err != nil {
		t.Fatal(err)
	}
	if h.AuditHead != "none yet" || h.SigningKeys != 0 || h.MasterKeyID != "k1" {
		t.Errorf("empty store: %+v", h)
	}
	fillForCopy(t, s)
	if h, err = s.Health(); err != nil {
		t.Fatal(err)
	}
	if h.AuditHead != "whole" || h.SigningKeys != 1 {
		t.Errorf("filled store: %+v", h)
	}
	if onPostgres(t) {
		if h.Backend != "postgres" || h.SchemaVersion < 1 || strings.Contains(h.Where, "://") {
			t.Errorf("postgres health: %+v", h)
		}
		// The node's change-notification connection comes up in the
		// background.
		for i := 0; i < 50 && h.Nodes == 0; i++ {
			time.Sleep(100 * time.Millisecond)
			if h, err = s.Health(); err != nil {
				t.Fatal(err)
			}
		}
		if h.Nodes != 1 {
			t.Errorf("postgres health: %d nodes listening, want 1", h.Nodes)
		}
	} else if h.Backend != "badger" || h.Where == "" {
		t.Errorf("badger health: %+v", h)
	}
	s.Close()
	if err := s.Ping(); err == nil {
		t.Error("a closed store answers Ping")
	}
}
