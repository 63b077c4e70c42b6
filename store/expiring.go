package store

import (
	"errors"
	"fmt"
	"time"
)

// expiring is a kind of short-lived record (an OAuth connect state, a
// connect awaiting confirmation): the record under rec+id, and an empty
// entry under exp+time+id that pruning walks oldest first. Records under
// also+id go with it.
type expiring struct {
	rec, exp, what string
	also           []string
}

var (
	oauthStates  = expiring{rec: pfxOAuthState, exp: pfxOAuthExpiry, what: "oauth state", also: []string{pfxOAuthBinding}}
	oauthPending = expiring{rec: pfxOAuthPending, exp: pfxOAuthPendingExpiry, what: "pending connection"}
)

func (e expiring) expiryKey(t time.Time, id string) []byte {
	return append(append([]byte(e.exp), auditTime(t)...), id...)
}

// put prunes a few expired records, then writes a new one, refusing an id
// already there.
func (e expiring) put(w writer, now, expires time.Time, id string, value []byte) error {
	if _, err := e.prune(w, now, oauthPrunePerPut); err != nil {
		return err
	}
	k := key(e.rec, id)
	switch ok, err := exists(w, k); {
	case err != nil:
		return err
	case ok:
		return fmt.Errorf("%s already exists: %w", e.what, ErrConflict)
	}
	if err := w.Set(e.expiryKey(expires, id), nil); err != nil {
		return err
	}
	return w.Set(k, value)
}

// remove deletes the record id, what goes with it, and its index entry.
func (e expiring) remove(w writer, id string, expires time.Time) error {
	for _, p := range append([]string{e.rec}, e.also...) {
		if err := w.Delete(key(p, id)); err != nil {
			return err
		}
	}
	return w.Delete(e.expiryKey(expires, id))
}

// prune deletes up to limit records expired at now, oldest first.
func (e expiring) prune(w writer, now time.Time, limit int) (int, error) {
	var idx [][]byte
	err := w.Iterate(iterOptions{Prefix: []byte(e.exp), KeysOnly: true}, func(k, _ []byte) error {
		rest := k[len(e.exp):]
		if len(rest) < auditTimeLength || auditKeyTime(rest) > now.UnixNano() || len(idx) >= limit {
			return errStop
		}
		idx = append(idx, append([]byte(nil), k...))
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return 0, err
	}
	for _, k := range idx {
		id := string(k[len(e.exp)+auditTimeLength:])
		for _, p := range append([]string{e.rec}, e.also...) {
			if err := w.Delete(key(p, id)); err != nil {
				return 0, err
			}
		}
		if err := w.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(idx), nil
}
