package store

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
