package store

import (
	"errors"
	"testing"
)

func TestRunExclusive(t *testing.T) {
	s, _ := memStore(t)
	boom := errors.New("boom")
	ran, err := s.RunExclusive("prune", func() error { return boom })
	if !ran || !errors.Is(err, boom) {
		t.Fatalf("ran=%v err=%v", ran, err)
	}
	// Released after fn: it runs again.
	ran, err = s.RunExclusive("prune", func() error { return nil })
	if !ran || err != nil {
		t.Fatalf("second run: ran=%v err=%v", ran, err)
	}
	if _, err := s.RunExclusive("", func() error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v", err)
	}
}
