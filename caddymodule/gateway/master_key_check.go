package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// checkMasterKey verifies the configured master keys against the store's
// key check at provisioning, so that `keygate validate` (which provisions
// but never starts) refuses a key that cannot open the store. It only
// reads keycheck.json and the master key file: a running keygate holds
// the directory's lock, and validate must keep working beside it.
func (a *App) checkMasterKey() error {
	if a.StorageMemory {
		a.logger.Info("master key not checked against a store: storage is in memory")
		return nil
	}
	if a.StoragePostgres != "" {
		// The key check is a database row; validate does not connect.
		a.logger.Info("master key not checked against the database: it is checked when the store opens at start")
		return nil
	}
	spec := a.masterSpec
	if spec == "" {
		b, err := os.ReadFile(filepath.Join(a.dir, masterKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			a.logger.Info("master key not checked: no store yet, keygate creates both on first run", zap.String("dir", a.dir))
			return nil
		}
		if err != nil {
			return fmt.Errorf("keygate: reading the master key file: %w", err)
		}
		spec = strings.TrimSpace(string(b))
	}
	kr, err := store.ParseMasterKeys(spec)
	if err != nil {
		return fmt.Errorf("keygate: master_key: %w", err)
	}
	checked, err := store.CheckMasterKey(a.dir, kr)
	if err != nil {
		return fmt.Errorf("keygate: master_key does not open the store in %s: %w", a.dir, err)
	}
	if checked {
		a.logger.Info("master key checked against the store", zap.String("dir", a.dir), zap.String("master_key_id", kr.CurrentID()))
	} else {
		a.logger.Info("master key not checked: no store yet", zap.String("dir", a.dir))
	}
	return nil
}
