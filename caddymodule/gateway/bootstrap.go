package gateway

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// Files of the embedded first-run default, kept in the data directory.
const (
	masterKeyFile  = "master.key"
	adminTokenFile = "admin.token"
)

// loadOrCreateMasterKeyFile returns the master key spec kept in dir,
// creating it on first run. Keeping the key beside the data is for a first
// run only; production sets master_key from the environment or a file
// elsewhere, which the log line says.
func loadOrCreateMasterKeyFile(dir string, logger *zap.Logger) (string, error) {
	return loadOrCreateFile(filepath.Join(dir, masterKeyFile), "master key", logger, func() (string, error) {
		k, err := store.GenerateMasterKey("k1")
		if err != nil {
			return "", err
		}
		return k.Encode(), nil
	})
}

// loadOrCreateAdminTokenFile returns the admin token kept in dir, creating
// it on first run.
func loadOrCreateAdminTokenFile(dir string, logger *zap.Logger) (string, error) {
	return loadOrCreateFile(filepath.Join(dir, adminTokenFile), "admin token", logger, func() (string, error) {
		return "kgadm_" + RandomID(32), nil
	})
}

func loadOrCreateFile(path, what string, logger *zap.Logger, make func() (string, error)) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("keygate: %s file %s is empty", what, path)
		}
		return v, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("keygate: reading %s file: %w", what, err)
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	// O_EXCL: two processes racing on a first run must not overwrite each
	// other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("keygate: creating %s file: %w", what, err)
	}
	if _, err := f.WriteString(v + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("keygate: writing %s file: %w", what, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	logger.Warn("created "+what+" file; for production, configure it in the keygate global options instead",
		zap.String("path", path))
	return v, nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// RandomID returns n random bytes as lowercase base32.
func RandomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("keygate: crypto/rand failed")
	}
	return strings.ToLower(idEncoding.EncodeToString(b))
}
