package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The key check (keycheck.json, or a row in PostgreSQL) lets Open tell a wrong or missing master key apart from a
// good one before it touches a record. For each master key id it holds
// the known constant sealed under that key; in_use marks ids whose key
// may have sealed data, which Open therefore demands.
const (
	keycheckName     = "keycheck.json"
	keycheckFormat   = 1
	keycheckConstant = "keygate keycheck v1"
	keycheckLabel    = "keygate/keycheck/v1"
	// badgerManifest is a file every Badger directory with data has.
	badgerManifest = "MANIFEST"
)

type keycheckDoc struct {
	Format int             `json:"format"`
	Keys   []keycheckEntry `json:"keys"`
}

type keycheckEntry struct {
	ID    string `json:"id"`
	Check string `json:"check"` // base64(nonce || GCM(constant))
	InUse bool   `json:"in_use"`
}

// keycheckStore holds the key check document: keycheck.json beside a
// Badger directory, a row of keygate_meta in PostgreSQL. The logic below
// is the same for both.
type keycheckStore interface {
	// load returns the stored document, or ok=false when there is none.
	load() (b []byte, ok bool, err error)
	// save replaces the document whole.
	save(b []byte) error
	// holdsData reports whether records exist, which a store without a
	// key check must not have.
	holdsData() (bool, error)
	// locked runs fn while no other process changes the document.
	locked(fn func() error) error
	// name is what messages call the document.
	name() string
}

// readKeycheck returns the document, or ok=false when there is none.
func readKeycheck(ks keycheckStore) (doc keycheckDoc, ok bool, err error) {
	b, ok, err := ks.load()
	if err != nil || !ok {
		return keycheckDoc{}, false, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return keycheckDoc{}, false, fmt.Errorf("%s is not valid JSON: %w", ks.name(), ErrMasterKey)
	}
	if doc.Format != keycheckFormat {
		return keycheckDoc{}, false, fmt.Errorf("%s has unknown format %d: %w", ks.name(), doc.Format, ErrMasterKey)
	}
	return doc, true, nil
}

// planKeycheck verifies the keyring against the stored key check without
// writing anything. It returns the document Open should hold, whether it
// differs from the stored one, and whether there was none.
func planKeycheck(ks keycheckStore, kr *Keyring) (next keycheckDoc, changed, fresh bool, err error) {
	doc, ok, err := readKeycheck(ks)
	if err != nil {
		return keycheckDoc{}, false, false, err
	}
	if !ok {
		data, err := ks.holdsData()
		if err != nil {
			return keycheckDoc{}, false, false, err
		}
		if data {
			return keycheckDoc{}, false, false, &MasterKeyError{
				ID:      kr.CurrentID(),
				Problem: fmt.Sprintf("cannot verify master keys: %s is missing from a store that holds data", ks.name()),
			}
		}
		next = keycheckDoc{Format: keycheckFormat}
		for _, id := range kr.order {
			next.Keys = append(next.Keys, newKeycheckEntry(kr, id, id == kr.current))
		}
		return next, true, true, nil
	}

	next = keycheckDoc{Format: keycheckFormat}
	seen := make(map[string]bool, len(doc.Keys))
	// Wrong keys first: a typo in a configured key is the likelier mistake.
	for _, e := range doc.Keys {
		if aead, ok := kr.aead(e.ID); ok && !verifyKeycheck(aead, e) {
			return keycheckDoc{}, false, false, wrongMasterKey(e.ID)
		}
	}
	for _, e := range doc.Keys {
		if _, ok := kr.aead(e.ID); !ok {
			if e.InUse {
				return keycheckDoc{}, false, false, missingMasterKey(e.ID)
			}
			changed = true // unused and no longer configured: forget it
			continue
		}
		seen[e.ID] = true
		next.Keys = append(next.Keys, e)
	}
	// A key joining the keyring is not in use until it seals something
	// (markSealerInUse): a reload that is rolled back, or a key added and
	// removed again, must not leave the store demanding it.
	for _, id := range kr.order {
		if !seen[id] {
			next.Keys = append(next.Keys, newKeycheckEntry(kr, id, false))
			changed = true
		}
	}
	return next, changed, false, nil
}

func newKeycheckEntry(kr *Keyring, id string, inUse bool) keycheckEntry {
	aead, _ := kr.aead(id)
	nonce := make([]byte, nonceSize, nonceSize+len(keycheckConstant)+tagSize)
	rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, []byte(keycheckConstant), keycheckAAD(id))
	return keycheckEntry{ID: id, Check: base64.StdEncoding.EncodeToString(sealed), InUse: inUse}
}

func verifyKeycheck(aead cipher.AEAD, e keycheckEntry) bool {
	b, err := base64.StdEncoding.DecodeString(e.Check)
	if err != nil || len(b) < nonceSize+tagSize {
		return false
	}
	pt, err := aead.Open(nil, b[:nonceSize], b[nonceSize:], keycheckAAD(e.ID))
	return err == nil && string(pt) == keycheckConstant
}

func keycheckAAD(id string) []byte {
	return appendLP(appendLP(nil, keycheckLabel), id)
}

// keycheckAfterRewrap keeps only the current key: nothing else is
// referenced any more, so older keys may leave the configuration.
func keycheckAfterRewrap(ks keycheckStore, kr *Keyring) error {
	doc := keycheckDoc{Format: keycheckFormat, Keys: []keycheckEntry{newKeycheckEntry(kr, kr.current, true)}}
	return ks.locked(func() error { return writeKeycheck(ks, doc) })
}

func writeKeycheck(ks keycheckStore, doc keycheckDoc) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return ks.save(append(b, '\n'))
}

// fileKeycheck is keycheck.json in a Badger directory, whose lock keeps
// other processes out.
type fileKeycheck struct{ dir string }

func (f fileKeycheck) load() ([]byte, bool, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, keycheckName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", keycheckName, err)
	}
	return b, true, nil
}

func (f fileKeycheck) save(b []byte) error { return writeFileAtomic(f.dir, keycheckName, b) }

func (f fileKeycheck) holdsData() (bool, error) {
	_, err := os.Stat(filepath.Join(f.dir, badgerManifest))
	return err == nil, nil
}

func (f fileKeycheck) locked(fn func() error) error { return fn() }

func (f fileKeycheck) name() string { return keycheckName }

// writeFileAtomic replaces dir/name with data: temp file, fsync, rename,
// fsync of the directory, so a crash leaves the old or the new file whole.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	return d.Sync()
}

// markSealerInUse records in the key check that kr's current key seals
// data, before the first record it seals is written: a crash in between
// errs on the side of demanding the key. Callers hold s.enter, so kr is
// the store's keyring; after the first call it costs one atomic load.
func (s *Store) markSealerInUse(kr *Keyring) error {
	if s.kc == nil || s.sealerMarked.Load() == kr {
		return nil
	}
	s.keycheckMu.Lock()
	defer s.keycheckMu.Unlock()
	if s.sealerMarked.Load() == kr {
		return nil
	}
	err := s.kc.locked(func() error {
		doc, ok, err := readKeycheck(s.kc)
		if err != nil {
			return err
		}
		if !ok {
			return &MasterKeyError{ID: kr.current, Problem: s.kc.name() + " is missing"}
		}
		for i := range doc.Keys {
			if doc.Keys[i].ID == kr.current {
				if doc.Keys[i].InUse {
					return nil
				}
				doc.Keys[i].InUse = true
				return writeKeycheck(s.kc, doc)
			}
		}
		doc.Keys = append(doc.Keys, newKeycheckEntry(kr, kr.current, true))
		return writeKeycheck(s.kc, doc)
	})
	if err != nil {
		return err
	}
	s.sealerMarked.Store(kr)
	return nil
}

// CheckKeyring verifies kr against the store's key check as SetKeyring
// would, without changing anything.
func (s *Store) CheckKeyring(kr *Keyring) error {
	if kr == nil {
		return invalid("keyring", "is required")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.kc == nil {
		return nil
	}
	_, _, _, err := planKeycheck(s.kc, kr)
	return err
}

// Keyring returns the keyring the store seals and opens with.
func (s *Store) Keyring() *Keyring {
	s.life.RLock()
	defer s.life.RUnlock()
	return s.kr
}

// HoldsData reports whether the Badger directory dir holds a store (its
// data or its key check), so that a missing master key file beside it is
// a lost key and not a first run. It only reads.
func HoldsData(dir string) (bool, error) {
	if has, err := (fileKeycheck{dir: dir}).holdsData(); has || err != nil {
		return has, err
	}
	_, err := os.Stat(filepath.Join(dir, keycheckName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// CheckMasterKey verifies kr against the key check of the Badger store in
// dir, as Open would, for `keygate validate`. It only reads
// keycheck.json: it never writes and never takes Badger's directory lock,
// so it works beside a running keygate. checked is false when dir holds
// no store yet, so there is nothing to check against.
func CheckMasterKey(dir string, kr *Keyring) (checked bool, err error) {
	if kr == nil {
		return false, invalid("keyring", "is required")
	}
	if dir == "" {
		return false, invalid("dir", "is required")
	}
	_, _, fresh, err := planKeycheck(fileKeycheck{dir: dir}, kr)
	var mk *MasterKeyError
	if err != nil && !errors.As(err, &mk) && !errors.Is(err, ErrMasterKey) {
		return false, err
	}
	return !fresh, err
}
