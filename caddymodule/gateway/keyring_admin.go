package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
)

// `keygate reload` cannot see the keyring it leads to: a master_key
// placeholder such as {env.KEYGATE_MASTER_KEY} expands in the server's
// environment, not the CLI's. So the admin endpoint (keygate's own unix
// socket by default) says which master keys the running config has, and
// the CLI compares them before and after.

func init() {
	caddy.RegisterModule(keyringAdmin{})
}

// running is the keygate app of the config that started last.
var running atomic.Pointer[App]

// MasterKeysPath is the admin endpoint's path for the running master keys.
const MasterKeysPath = "/keygate/master-keys"

// MasterKeys is what MasterKeysPath answers: key ids only, never a key.
type MasterKeys struct {
	Active string   `json:"active"`
	IDs    []string `json:"ids"`
}

var errMethod = errors.New("method not allowed")

type keyringAdmin struct{}

func (keyringAdmin) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "admin.api.keygate", New: func() caddy.Module { return keyringAdmin{} }}
}

func (keyringAdmin) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: MasterKeysPath, Handler: caddy.AdminHandlerFunc(serveMasterKeys)}}
}

func serveMasterKeys(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: errMethod}
	}
	a := running.Load()
	if a == nil || a.shared == nil {
		return caddy.APIError{HTTPStatus: http.StatusServiceUnavailable, Err: errNotReady}
	}
	kr := a.shared.store.Keyring()
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(MasterKeys{Active: kr.CurrentID(), IDs: kr.IDs()})
}
