package store

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Backups of a Badger store (keygate store backup / restore): Badger's own
// backup stream of every record, still sealed, preceded by the store's key
// check, which lives in a file beside the records and says which master
// keys the records need. A PostgreSQL store is backed up with pg_dump.
//
//	"keygate-backup 1\n", uint32 length (big-endian), key check JSON, Badger stream

const backupMagic = "keygate-backup 1\n"

// maxBackupKeycheck bounds the key check a backup may carry: a few ids
// and digests, far below this.
const maxBackupKeycheck = 1 << 20

// ErrNotBadger is returned by Backup and Restore on a PostgreSQL or
// in-memory store.
var ErrNotBadger = errors.New("backup and restore work on a Badger store; back up PostgreSQL with pg_dump")

// CountRecords returns how many records the store holds (index records
// included), for progress reports.
func (s *Store) CountRecords() (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	return countRecords(s.be)
}

// badger is the store's Badger backend, for a store kept on disk.
func (s *Store) badger() (*badgerBackend, error) {
	bb, ok := raw(s.be).(*badgerBackend)
	if !ok || s.kc == nil {
		return nil, ErrNotBadger
	}
	return bb, nil
}

// Backup writes the whole store to w, from one snapshot.
func (s *Store) Backup(w io.Writer) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	bb, err := s.badger()
	if err != nil {
		return err
	}
	doc, found, err := readKeycheck(s.kc)
	if err != nil {
		return err
	}
	var kc []byte
	if found {
		if kc, err = json.Marshal(doc); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, backupMagic); err != nil {
		return err
	}
	if err := binary.Write(w, binary.BigEndian, uint32(len(kc))); err != nil {
		return err
	}
	if _, err := w.Write(kc); err != nil {
		return err
	}
	if _, err := bb.db.Backup(w, 0); err != nil {
		return fmt.Errorf("badger backup: %w", err)
	}
	return nil
}

// Restore loads a backup into s, which must hold no records, and gives it
// the backup's key check once s's keyring passes it. A backup made under
// other master keys is refused before any record is loaded.
func (s *Store) Restore(r io.Reader) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	bb, err := s.badger()
	if err != nil {
		return err
	}
	br := bufio.NewReader(r)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return invalid("backup", "is not a keygate backup (made by keygate store backup)")
	}
	var n uint32
	if err := binary.Read(br, binary.BigEndian, &n); err != nil || n > maxBackupKeycheck {
		return invalid("backup", "has a damaged header")
	}
	kc := make([]byte, n)
	if _, err := io.ReadFull(br, kc); err != nil {
		return invalid("backup", "has a damaged header")
	}
	var doc keycheckDoc
	if n > 0 {
		if err := json.Unmarshal(kc, &doc); err != nil {
			return invalid("backup", "has a damaged key check")
		}
		if _, _, _, err := planKeycheck(docKeycheck{doc}, s.kr); err != nil {
			return fmt.Errorf("the backup's records need other master keys: %w", err)
		}
	}
	held, err := countRecords(s.be)
	if err != nil {
		return err
	}
	if held > 0 {
		return fmt.Errorf("the target holds %d records; restore into an empty directory: %w", held, ErrConflict)
	}
	if err := bb.db.Load(br, 256); err != nil {
		return fmt.Errorf("badger load: %w", err)
	}
	if n > 0 {
		err = s.kc.locked(func() error { return writeKeycheck(s.kc, doc) })
		s.sealerMarked.Store(nil)
	}
	return err
}
