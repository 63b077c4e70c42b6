package store

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dirHash sums every file's name, mode and contents under dir.
func dirHash(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Write([]byte(p + info.Mode().String()))
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func TestCheckMasterKey(t *testing.T) {
	k1, _ := GenerateMasterKey("k1")
	k2, _ := GenerateMasterKey("k2")
	wrong, _ := GenerateMasterKey("k1")
	dir := filepath.Join(t.TempDir(), "store")
	s, err := Open(Options{Dir: dir, Keyring: mustKeyring(t, k1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKeychain("alice", "", ""); err != nil {
		t.Fatal(err)
	}
	// The store stays open: Badger holds its lock, as a running keygate does.
	t.Cleanup(func() { s.Close() })
	before := dirHash(t, dir)

	for _, tc := range []struct {
		name   string
		keys   []MasterKey // the first seals
		wantID string      // "" = passes
	}{
		{"right key", []MasterKey{k1}, ""},
		{"right key among others", []MasterKey{k2, k1}, ""},
		{"wrong key", []MasterKey{wrong}, "k1"},
		{"key missing", []MasterKey{k2}, "k1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checked, err := CheckMasterKey(dir, mustKeyring(t, tc.keys[0], tc.keys[1:]...))
			if !checked {
				t.Fatalf("not checked (%v)", err)
			}
			if tc.wantID == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var mk *MasterKeyError
			if !errors.As(err, &mk) || mk.ID != tc.wantID || !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), `"`+tc.wantID+`"`) {
				t.Fatalf("err %v, want a MasterKeyError naming %s", err, tc.wantID)
			}
			if strings.Contains(err.Error(), tc.keys[0].Encode()) {
				t.Fatal("the error holds the key")
			}
		})
	}
	if dirHash(t, dir) != before {
		t.Fatal("CheckMasterKey changed the store directory")
	}
}

func TestCheckMasterKeyNoStore(t *testing.T) {
	k1, _ := GenerateMasterKey("k1")
	kr := mustKeyring(t, k1)
	dir := filepath.Join(t.TempDir(), "none")
	if checked, err := CheckMasterKey(dir, kr); checked || err != nil {
		t.Fatalf("absent dir: checked %v, err %v", checked, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("CheckMasterKey created the directory")
	}

	// Data without a key check cannot be verified: refused, not passed.
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, badgerManifest), []byte("x"), 0o600)
	if _, err := CheckMasterKey(data, kr); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("data without keycheck.json: %v", err)
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, keycheckName), []byte("{not json"), 0o600)
	if _, err := CheckMasterKey(bad, kr); !errors.Is(err, ErrMasterKey) {
		t.Fatalf("hostile keycheck.json: %v", err)
	}
	if _, err := CheckMasterKey("", kr); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty dir: %v", err)
	}
	if _, err := CheckMasterKey(dir, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil keyring: %v", err)
	}
}
