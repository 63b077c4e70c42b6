package gateway

import (
	"sync"

	"go.uber.org/zap"

	"github.com/keygate/keygate/store"
)

// memoryDir names the in-memory store in the shared pool; it is no path,
// so it cannot collide with a Badger directory.
const memoryDir = ":memory:"

// memoryKeys are the master key and admin token generated for an
// in-memory store. They are made once per process, so that a reload
// finds the store sealed with the key it already has.
var memoryKeys struct {
	sync.Mutex
	master, admin string
}

// memoryDefaults returns masterSpec and adminToken, each replaced, when
// empty, by one generated in memory. Nothing is written: the store they
// guard lives no longer than the process.
func memoryDefaults(masterSpec, adminToken string, logger *zap.Logger) (string, string, error) {
	memoryKeys.Lock()
	defer memoryKeys.Unlock()
	if masterSpec == "" {
		if memoryKeys.master == "" {
			k, err := store.GenerateMasterKey("k1")
			if err != nil {
				return "", "", err
			}
			memoryKeys.master = k.Encode()
			logger.Info("in-memory store: generated a master key for this process only")
		}
		masterSpec = memoryKeys.master
	}
	if adminToken == "" {
		if memoryKeys.admin == "" {
			memoryKeys.admin = "kgadm_" + RandomID(32)
			logger.Warn("in-memory store: generated an admin token that is shown nowhere; set admin_token to use the management API")
		}
		adminToken = memoryKeys.admin
	}
	return masterSpec, adminToken, nil
}
