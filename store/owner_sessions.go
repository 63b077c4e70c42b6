package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"
)

// Owner sign-in links and owner sessions live in the store, so any node
// can serve any owner and a restart signs no one out. Each is keyed by
// the SHA-256 of its token: the store never holds a usable link or
// cookie, and a lookup by a guessed token finds nothing. They are never
// cached, so a sign-out on one node holds on every node at once.

// OwnerLink is a pending one-time sign-in for the owner of a keychain.
type OwnerLink struct {
	Owner    string    `json:"owner"`
	Keychain string    `json:"keychain,omitempty"`
	Expires  time.Time `json:"expires"`
}

// OwnerSession is a signed-in browser. CSRF is kept as it is: it is
// worthless without the session's cookie token, which is kept hashed.
type OwnerSession struct {
	Owner   string    `json:"owner"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// maxOwnerToken bounds a presented token; ours are 43 characters.
const maxOwnerToken = 256

// newOwnerToken returns 32 random bytes, base64url without padding.
func newOwnerToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func ownerKey(prefix, token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return key(prefix, hex.EncodeToString(sum[:]))
}

// CreateOwnerLink records a sign-in link for owner (and keychain, when
// not "") valid for ttl and returns its token, which is shown once.
func (s *Store) CreateOwnerLink(owner, keychain string, ttl time.Duration) (token string, expires time.Time, err error) {
	if err := checkText("owner", owner, maxOwnerRunes, true); err != nil {
		return "", time.Time{}, err
	}
	if keychain != "" {
		if err := checkKeychainID(keychain); err != nil {
			return "", time.Time{}, err
		}
	}
	if ttl <= 0 {
		return "", time.Time{}, invalid("ttl", "must be positive")
	}
	if err := s.enter(); err != nil {
		return "", time.Time{}, err
	}
	defer s.leave()
	token = newOwnerToken()
	l := OwnerLink{Owner: owner, Keychain: keychain, Expires: s.now().Add(ttl)}
	err = s.update(func(w writer) error { return setJSON(w, ownerKey(pfxOwnerLink, token), l) })
	if err != nil {
		return "", time.Time{}, err
	}
	return token, l.Expires, nil
}

// TakeOwnerLink takes a link out for good, valid or not, so a token works
// at most once, on whichever node it is presented. An unknown, used or
// expired token is ErrNotFound.
func (s *Store) TakeOwnerLink(token string) (OwnerLink, error) {
	if token == "" || len(token) > maxOwnerToken {
		return OwnerLink{}, notFound("sign-in link", "")
	}
	if err := s.enter(); err != nil {
		return OwnerLink{}, err
	}
	defer s.leave()
	k := ownerKey(pfxOwnerLink, token)
	var (
		l     OwnerLink
		found bool
	)
	err := s.update(func(w writer) error {
		found = false
		err := getJSON(w, k, &l)
		if errors.Is(err, errNoKey) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return w.Delete(k)
	})
	if err != nil {
		return OwnerLink{}, err
	}
	if !found || !s.now().Before(l.Expires) {
		return OwnerLink{}, notFound("sign-in link", "")
	}
	return l, nil
}

// PeekOwnerLink returns a link without taking it, so that the page it
// opens can say whom it signs in before anyone confirms. An unknown, used
// or expired token is ErrNotFound.
func (s *Store) PeekOwnerLink(token string) (OwnerLink, error) {
	if token == "" || len(token) > maxOwnerToken {
		return OwnerLink{}, notFound("sign-in link", "")
	}
	if err := s.enter(); err != nil {
		return OwnerLink{}, err
	}
	defer s.leave()
	var l OwnerLink
	err := s.be.View(context.Background(), func(r reader) error { return getJSON(r, ownerKey(pfxOwnerLink, token), &l) })
	switch {
	case errors.Is(err, errNoKey):
		return OwnerLink{}, notFound("sign-in link", "")
	case err != nil:
		return OwnerLink{}, err
	case !s.now().Before(l.Expires):
		return OwnerLink{}, notFound("sign-in link", "")
	}
	return l, nil
}

// CreateOwnerSession opens a session for owner valid for ttl and returns
// its cookie token.
func (s *Store) CreateOwnerSession(owner string, ttl time.Duration) (token string, sess OwnerSession, err error) {
	if err := checkText("owner", owner, maxOwnerRunes, true); err != nil {
		return "", OwnerSession{}, err
	}
	if ttl <= 0 {
		return "", OwnerSession{}, invalid("ttl", "must be positive")
	}
	if err := s.enter(); err != nil {
		return "", OwnerSession{}, err
	}
	defer s.leave()
	token = newOwnerToken()
	sess = OwnerSession{Owner: owner, CSRF: newOwnerToken(), Expires: s.now().Add(ttl)}
	err = s.update(func(w writer) error { return setJSON(w, ownerKey(pfxOwnerSession, token), sess) })
	if err != nil {
		return "", OwnerSession{}, err
	}
	return token, sess, nil
}

// GetOwnerSession returns the live session with that cookie token;
// ErrNotFound when it is unknown, ended or expired.
func (s *Store) GetOwnerSession(token string) (OwnerSession, error) {
	if token == "" || len(token) > maxOwnerToken {
		return OwnerSession{}, notFound("owner session", "")
	}
	if err := s.enter(); err != nil {
		return OwnerSession{}, err
	}
	defer s.leave()
	raw, err := s.be.Get(context.Background(), ownerKey(pfxOwnerSession, token))
	if errors.Is(err, errNoKey) {
		return OwnerSession{}, notFound("owner session", "")
	}
	if err != nil {
		return OwnerSession{}, err
	}
	var sess OwnerSession
	if err := decodeJSON(raw, &sess); err != nil {
		return OwnerSession{}, err
	}
	if !s.now().Before(sess.Expires) {
		return OwnerSession{}, notFound("owner session", "")
	}
	return sess, nil
}

// DeleteOwnerSession ends a session (sign-out); ending an unknown one is
// not an error.
func (s *Store) DeleteOwnerSession(token string) error {
	if token == "" || len(token) > maxOwnerToken {
		return nil
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.update(func(w writer) error { return w.Delete(ownerKey(pfxOwnerSession, token)) })
}

// PruneOwnerState deletes expired links and sessions and returns how many
// it deleted. Run it periodically (under RunExclusive).
func (s *Store) PruneOwnerState() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	now := s.now()
	total := 0
	for _, prefix := range []string{pfxOwnerLink, pfxOwnerSession} {
		for {
			var dels [][]byte
			more := false
			err := s.update(func(w writer) error {
				dels, more = dels[:0], false
				err := w.Iterate(iterOptions{Prefix: []byte(prefix)}, func(k, v []byte) error {
					var rec struct {
						Expires time.Time `json:"expires"`
					}
					// An undecodable record is no one's sign-in: drop it too.
					if decodeJSON(v, &rec) != nil || !now.Before(rec.Expires) {
						dels = append(dels, append([]byte(nil), k...))
					}
					if len(dels) >= purgeBatch {
						more = true
						return errStop
					}
					return nil
				})
				if err != nil {
					return err
				}
				for _, k := range dels {
					if err := w.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return total, err
			}
			total += len(dels)
			if !more {
				break
			}
		}
	}
	return total, nil
}
