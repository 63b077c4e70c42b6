package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAuditChainSurvivesRotation(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	open := func(kr *Keyring) *Store {
		s, err := Open(Options{Dir: dir, Keyring: kr, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(testKeyring(t, "k1"))
	appendSegments(t, s, clk, 3)
	// Prune segment 1 and trim segment 2: the anchor, under k1, vouches for the rest.
	if n, err := s.PruneAudit(clk.Now().Add(-2*time.Second + time.Millisecond)); err != nil || n != 4 {
		t.Fatalf("prune: %d %v", n, err)
	}
	s.Close()

	s = open(testKeyring(t, "k2", "k1"))
	appendSegments(t, s, clk, 2) // under k2, chained after k1's
	verifyOK(t, s)
	n, err := s.Rewrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+1 { // k1's two segments left and the anchor; k2 moved the head
		t.Fatalf("rewrap changed %d records", n)
	}
	if n2, err := s.Rewrap(context.Background()); err != nil || n2 != 0 {
		t.Fatalf("idempotent re-run: %d %v", n2, err)
	}
	s.Close()

	s = open(testKeyring(t, "k2"))
	defer s.Close()
	if rep := verifyOK(t, s); rep.Segments != 4 || rep.Events != 2+3+6 {
		t.Fatalf("after retiring k1: %+v", rep)
	}
	appendSegments(t, s, clk, 1)
	verifyOK(t, s)
}

func TestAuditRewrapDoesNotLaunder(t *testing.T) {
	s, clk := memStore(t)
	appendSegments(t, s, clk, 3)
	keys := chainKeys(t, s)
	v := rawGet(t, s, keys[1])
	rawSet(t, s, keys[1], bytes.Replace(v, []byte(`"allow"`), []byte(`"deny!"`), 1))
	log := &recordingLogger{}
	s.log = log
	s.kr = testKeyring(t, "k2", "k1") // rotate in place (in memory)
	n, err := s.Rewrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2+2 { // the two good segments, head and anchor
		t.Fatalf("rewrap changed %d records", n)
	}
	if h, _, _, _ := decodeSegment(rawGet(t, s, keys[1])); h.keyID != "k1" {
		t.Fatal("rewrap re-MACed an edited segment")
	}
	if !strings.Contains(strings.Join(log.all(), "\n"), "seq 2 fails its check") {
		t.Fatalf("no warning: %q", log.all())
	}
	rep, _ := s.VerifyAudit()
	if rep.FirstBad == nil || rep.FirstBad.Seq != 2 || rep.FirstBad.Problem != auditEdited {
		t.Fatalf("after rewrap: %+v", rep.FirstBad)
	}
	s.kr = testKeyring(t, "k2")
	rep, _ = s.VerifyAudit()
	if rep.FirstBad == nil || rep.FirstBad.Seq != 2 || rep.FirstBad.Problem != fmt.Sprintf(auditNoKey, "k1") {
		t.Fatalf("after retiring k1: %+v", rep.FirstBad)
	}
}
