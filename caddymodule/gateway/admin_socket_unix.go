//go:build unix

package gateway

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/caddyserver/caddy/v2"
)

// Caddy's own unix network unlinks whatever socket file is at the path
// before it binds, so a second `keygate run` used to take the running
// instance's admin socket (and with it reload and stop) before failing
// on the data directory's lock, or, on PostgreSQL, without failing at
// all. keygate's admin socket is bound through a network of its own,
// which first takes a lock beside the socket and refuses while another
// process holds it. Its name starts with "unix" so that Caddy treats the
// address as a socket path.
const adminSocketNetwork = "unix-keygate"

func init() {
	caddy.RegisterNetwork(adminSocketNetwork, listenAdminSocket)
}

var (
	adminLocksMu sync.Mutex
	adminLocks   = map[string]*os.File{} // held until the process exits
)

// lockAdminSocket takes path's lock file, once per process.
func lockAdminSocket(path string) error {
	adminLocksMu.Lock()
	defer adminLocksMu.Unlock()
	if _, ok := adminLocks[path]; ok {
		return nil
	}
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("admin socket lock %s: %w", lockPath, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("another keygate is running with the admin socket %s; stop it first (keygate stop), or give this one its own socket: the admin option \"admin unix//<path>|0600\", or CADDY_ADMIN=\"unix//<path>|0600\", or another XDG_DATA_HOME", path)
		}
		return fmt.Errorf("admin socket lock %s: %w", lockPath, err)
	}
	adminLocks[path] = f
	return nil
}

func listenAdminSocket(ctx context.Context, _, host, _ string, _ uint, cfg net.ListenConfig) (any, error) {
	path, mode := host, fs.FileMode(0o600)
	if i := strings.LastIndex(host, "|"); i >= 0 {
		m, err := strconv.ParseUint(host[i+1:], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("admin socket %s: permission bits: %w", host, err)
		}
		path, mode = host[:i], fs.FileMode(m)
	}
	if err := lockAdminSocket(path); err != nil {
		return nil, err
	}
	// Each config's admin server starts before the previous one stops:
	// they share the one socket, as keygate's sites do.
	key := adminSocketNetwork + "/" + path
	val, _, err := exclusiveSockets.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The lock is ours: a socket file left here is stale.
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		ln, err := cfg.Listen(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(path, mode); err != nil {
			ln.Close()
			return nil, err
		}
		return serveShared(ln), nil
	})
	if err != nil {
		return nil, err
	}
	return newExclusiveListener(val, key), nil
}
