package store

import "errors"

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
