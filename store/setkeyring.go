package store

// SetKeyring replaces the keyring of an open store, for a config reload
// that brings a new master key: the new current key seals from now on, and
// every configured key still opens. The keyring is checked against the key
// check first, with the same errors as Open; on error nothing changes.
func (s *Store) SetKeyring(kr *Keyring) error {
	if kr == nil {
		return invalid("keyring", "is required")
	}
	// Exclusive, like Close: no call is using the old keyring meanwhile.
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.kc != nil {
		err := s.kc.locked(func() error {
			doc, changed, _, err := planKeycheck(s.kc, kr)
			if err != nil || !changed {
				return err
			}
			return writeKeycheck(s.kc, doc)
		})
		if err != nil {
			return err
		}
	}
	s.kr = kr
	return nil
}

// SetMaxValueBytes changes the largest value accepted from now on, for a
// config reload; values already stored are untouched.
func (s *Store) SetMaxValueBytes(n int) {
	if n <= 0 {
		n = DefaultMaxValueBytes
	}
	s.life.Lock()
	defer s.life.Unlock()
	s.maxValue = n
}
