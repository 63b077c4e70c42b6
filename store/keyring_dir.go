package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

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
