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
			if err := a.refuseLostMasterKeyFile(); err != nil {
				return err
			}
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
		return a.masterKeyAdvice(fmt.Errorf("keygate: master_key does not open the store in %s: %w", a.dir, err))
	}
	if checked {
		a.logger.Info("master key checked against the store", zap.String("dir", a.dir), zap.String("master_key_id", kr.CurrentID()))
	} else {
		a.logger.Info("master key not checked: no store yet", zap.String("dir", a.dir))
	}
	return nil
}

// refuseLostMasterKeyFile refuses a store that has data but no master.key
// beside it (and no master_key setting): that is a lost key, not a first
// run, and a new key would only be written to fail.
func (a *App) refuseLostMasterKeyFile() error {
	if a.StorageMemory || a.pgDSN != "" || a.masterSpec != "" {
		return nil
	}
	path := filepath.Join(a.dir, masterKeyFile)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	has, err := store.HoldsData(a.dir)
	if err != nil || !has {
		return err
	}
	msg := fmt.Sprintf("keygate: the store in %s has data but its master key file %s is missing: put the key that sealed the store back there, or set master_key to it; nothing was written", a.dir, path)
	a.logger.Error(msg)
	return errors.New(msg)
}

// masterKeyError is a master key refusal that leads with what to do; it
// unwraps to the store's error.
type masterKeyError struct {
	msg string
	err error
}

func (e *masterKeyError) Error() string { return e.msg }
func (e *masterKeyError) Unwrap() error { return e.err }

// masterKeyAdvice puts, in front of a master key refusal, one line saying
// what to do, and logs it, so that it leads Caddy's provisioning chain.
// Other errors pass unchanged.
func (a *App) masterKeyAdvice(err error) error {
	var mk *store.MasterKeyError
	if !errors.As(err, &mk) {
		return err
	}
	var do string
	if mk.Missing {
		do = fmt.Sprintf("add master key %q back to master_key (\"new:BASE64,%s:BASE64\"), run keygate rewrap, and remove it only once rewrap says it seals nothing", mk.ID, mk.ID)
	} else {
		do = fmt.Sprintf("set master_key so that key %q is the one that sealed this store (a placeholder such as {env.*} expands in keygate's own environment)", mk.ID)
	}
	msg := fmt.Sprintf("keygate: %s; nothing was changed (%s)", do, mk.Problem)
	a.logger.Error(msg)
	return &masterKeyError{msg: msg, err: err}
}
