package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// devState is what a running `keygate dev` leaves for `keygate dev
// sign-webhook`: where it listens and which keychain it made. It holds no
// secret (not the keychain token, not the admin token), since it sits in
// a shared temporary directory.
type devState struct {
	PID      int    `json:"pid"`
	Manifest string `json:"manifest"` // absolute path
	Package  string `json:"package"`
	Keychain string `json:"keychain"`
	SiteURL  string `json:"site_url"` // http://<host>.dev.localhost:<port>
}

// envDevState overrides where the state file is kept, for tests and for
// running two dev gateways side by side.
const envDevState = "KEYGATE_DEV_STATE"

// devStatePath is $KEYGATE_DEV_STATE, else keygate-dev.json in
// $XDG_RUNTIME_DIR (private to the user), else keygate-dev-<uid>.json in
// the temporary directory.
func devStatePath() string {
	if p := os.Getenv(envDevState); p != "" {
		return p
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "keygate-dev.json")
	}
	return filepath.Join(os.TempDir(), "keygate-dev-"+strconv.Itoa(os.Getuid())+".json")
}

// writeDevState replaces the state file (mode 0600) in one rename, so a
// reader never sees half of it.
func writeDevState(path string, s devState) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keygate-dev-*.json")
	if err != nil {
		return fmt.Errorf("writing dev state: %v", pathErr(err))
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("writing dev state: %v", pathErr(err))
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing dev state: %v", pathErr(err))
	}
	return nil
}

// readDevState reads the state of the running dev gateway.
func readDevState(path string) (devState, error) {
	var s devState
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("no running keygate dev found (%s does not exist); start `keygate dev` first", path)
	}
	if err != nil {
		return s, fmt.Errorf("reading dev state: %v", pathErr(err))
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Keychain == "" || s.SiteURL == "" {
		return s, fmt.Errorf("dev state %s is not keygate dev's; remove it and start `keygate dev` again", path)
	}
	return s, nil
}

// removeDevState removes the state file if it is still this process's:
// another dev gateway started since may have replaced it.
func removeDevState(path string) {
	if s, err := readDevState(path); err == nil && s.PID == os.Getpid() {
		os.Remove(path)
	}
}
