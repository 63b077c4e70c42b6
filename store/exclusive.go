package store

import (
	"context"
	"time"
)

// RunExclusive runs fn unless another process sharing the database runs
// the work of that name right now, so periodic work (audit pruning, GC)
// happens on one node at a time. ran is false when fn was skipped. With
// Badger the store is one process and fn always runs.
func (s *Store) RunExclusive(name string, fn func() error) (ran bool, err error) {
	if name == "" {
		return false, invalid("name", "is required")
	}
	if err := s.enter(); err != nil {
		return false, err
	}
	unlock, ok, err := s.be.TryLock(name)
	s.leave()
	if err != nil || !ok {
		return false, err
	}
	defer unlock()
	return true, fn()
}

// RunGC reclaims value-log space every interval until ctx is done.
func (s *Store) RunGC(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 10 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.RunExclusive("gc", func() error { s.gcOnce(); return nil })
		}
	}
}

// gcOnce runs value-log GC until it finds nothing more to rewrite (at
// most a few rounds, so Close is never held up for long).
func (s *Store) gcOnce() {
	if err := s.enter(); err != nil {
		return
	}
	defer s.leave()
	for range 8 {
		if err := s.be.GC(); err != nil {
			if err != errNothingToCollect {
				s.warnf("keygate store: value-log GC: %v", err)
			}
			return
		}
	}
}
