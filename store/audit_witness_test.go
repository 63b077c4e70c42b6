package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestAuditWitness: the newest head checks against the database it was
// taken from, also after a rewrap; a witness from ahead of the database
// (a rollback) or of another segment fails with ErrAuditBehind.
func TestAuditWitness(t *testing.T) {
	opts := testOptions(t, "")
	opts.Keyring = testKeyring(t, "k1")
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.LastAuditWitness(); ok {
		t.Fatal("a witness before any segment")
	}
	var first AuditWitness
	for i := range 3 {
		if err := s.AppendAudit([]AuditEvent{{Actor: "t", Action: "test", Decision: "allow"}}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, _ = s.LastAuditWitness()
		}
	}
	w, ok := s.LastAuditWitness()
	if !ok || w.Seq != first.Seq+2 {
		t.Fatalf("witness %+v after three segments (first %+v)", w, first)
	}
	for _, good := range []AuditWitness{w, first} {
		if note, err := s.CheckAuditWitness(good); err != nil || note != "" {
			t.Fatalf("witness %d of this database: %q %v", good.Seq, note, err)
		}
	}
	ahead := w
	ahead.Seq++
	if _, err := s.CheckAuditWitness(ahead); !errors.Is(err, ErrAuditBehind) {
		t.Fatalf("a witness ahead of the database: %v, want ErrAuditBehind", err)
	}
	other := w
	other.Link = strings.Repeat("ab", 32)
	if _, err := s.CheckAuditWitness(other); !errors.Is(err, ErrAuditBehind) {
		t.Fatalf("a witness of another segment: %v, want ErrAuditBehind", err)
	}
	if _, err := s.CheckAuditWitness(AuditWitness{Seq: 1, Link: "zz"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a malformed witness: %v, want ErrInvalid", err)
	}
	// A rewrap re-MACs the segments but keeps their links.
	s.kr = testKeyring(t, "k2", "k1")
	if _, err := s.Rewrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	if note, err := s.CheckAuditWitness(w); err != nil || note != "" {
		t.Fatalf("the witness after a rewrap: %q %v", note, err)
	}
	s.kr = testKeyring(t, "k2")
	if note, err := s.CheckAuditWitness(w); err != nil || !strings.Contains(note, `"k1" is no longer configured`) {
		t.Fatalf("the witness with its key gone: %q %v", note, err)
	}
}
