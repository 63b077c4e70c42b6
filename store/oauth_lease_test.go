package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	s, c := memStore(t)
	acquire := func(holder string, want bool) {
		t.Helper()
		got, err := s.AcquireLease("oauth/x", holder, 30*time.Second)
		if err != nil || got != want {
			t.Fatalf("%s acquire = %v %v, want %v", holder, got, err, want)
		}
	}
	acquire("a", true)
	acquire("b", false)
	acquire("a", true) // its holder extends it
	if err := s.ReleaseLease("oauth/x", "b"); err != nil {
		t.Fatal(err)
	}
	acquire("b", false) // only the holder releases
	if err := s.ReleaseLease("oauth/x", "a"); err != nil {
		t.Fatal(err)
	}
	acquire("b", true)
	c.Add(30 * time.Second)
	acquire("a", true) // b's lease ran out
}

func TestLeaseExclusiveUnderContention(t *testing.T) {
	s, _ := memStore(t)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		won []string
	)
	for _, h := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.AcquireLease("contended", h, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				won = append(won, h)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("winners: %v", won)
	}
}

func TestLeaseBadInput(t *testing.T) {
	s, _ := memStore(t)
	for _, tc := range []struct {
		name, holder string
		ttl          time.Duration
	}{
		{"", "a", time.Second},
		{"a\x00b", "a", time.Second},
		{"x", "", time.Second},
		{"x", "a", 0},
		{"x", "a", MaxLeaseTTL + 1},
	} {
		if _, err := s.AcquireLease(tc.name, tc.holder, tc.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q %q %v: err = %v", tc.name, tc.holder, tc.ttl, err)
		}
	}
}
