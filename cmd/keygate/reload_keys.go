package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/keygate/keygate/caddymodule/gateway"
)

// `keygate reload` is Caddy's, which says nothing on success. An operator
// rotating the master key needs to know whether the keyring changed: a
// master_key {env.*} placeholder expands in the server's environment, so
// setting the variable for the reload changes nothing. reloadKeys asks
// the admin endpoint for the master key ids before the reload, and
// reloadKeysNote compares them with those after.

// reloadAdminAddress is the admin address `keygate reload args` talks to,
// or "" when it cannot be told.
func reloadAdminAddress(args []string) string {
	flag := func(names ...string) string {
		for i, a := range args {
			for _, n := range names {
				if a == n && i+1 < len(args) {
					return args[i+1]
				}
				if v, ok := strings.CutPrefix(a, n+"="); ok {
					return v
				}
			}
		}
		return ""
	}
	addr, err := caddycmd.DetermineAdminAPIAddress(flag("--address"), nil, flag("--config", "-c"), flag("--adapter", "-a"))
	if err != nil {
		return ""
	}
	return addr
}

// masterKeyIDs asks the running keygate which master keys it has.
func masterKeyIDs(addr string) (gateway.MasterKeys, bool) {
	var mk gateway.MasterKeys
	if addr == "" {
		return mk, false
	}
	resp, err := caddycmd.AdminAPIRequest(addr, http.MethodGet, gateway.MasterKeysPath, nil, nil)
	if err != nil {
		return mk, false
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&mk)
	return mk, err == nil && mk.Active != ""
}

// reloadKeysNote says whether the master keys changed with a reload.
func reloadKeysNote(before, after gateway.MasterKeys) string {
	ids := strings.Join(after.IDs, ",")
	if before.Active == after.Active && slices.Equal(before.IDs, after.IDs) {
		return fmt.Sprintf("keygate: the master keys did not change (active %s; configured %s). "+
			"A master_key placeholder {env.*} expands in keygate's own environment, not this command's: "+
			"to rotate, restart keygate with the new value, or use {file.*}, which a reload reads again.", after.Active, ids)
	}
	return fmt.Sprintf("keygate: master keys changed: active %s (was %s); configured %s. Run keygate rewrap next.", after.Active, before.Active, ids)
}
