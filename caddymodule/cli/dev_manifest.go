package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/keygate/keygate/store"
)

// devEnvPrefix starts the environment variables that give dev mode its
// values: KEYGATE_SECRET_<NAME> for each key or app key NAME.
const devEnvPrefix = "KEYGATE_SECRET_"

// devManifest is a manifest read for dev mode: its raw JSON (with the
// upstream replaced when --upstream is given), as sent to the API, and the
// parsed, validated form.
type devManifest struct {
	raw []byte
	m   store.Manifest
}

// readDevManifest reads and validates the manifest at path. A non-empty
// upstream replaces the manifest's; the rest is kept as written, fields
// this build does not know included, so that the API judges them.
func readDevManifest(path, upstream string) (*devManifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, pathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, store.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, pathErr(err))
	}
	if upstream != "" {
		if err := checkUpstream(upstream); err != nil {
			return nil, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, fmt.Errorf("manifest %s: is not a JSON object", path)
		}
		fields["upstream"], _ = json.Marshal(upstream)
		if data, err = json.Marshal(fields); err != nil {
			return nil, err
		}
	}
	m, err := store.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %v", path, err)
	}
	return &devManifest{raw: data, m: m}, nil
}

// checkUpstream accepts an absolute http(s) URL, the package author's
// code, such as http://127.0.0.1:3000.
func checkUpstream(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return usageErrorf("--upstream must be an http(s) URL such as http://127.0.0.1:3000")
	}
	return nil
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// devValues are the values dev mode sets, by key name.
type devValues struct {
	user, app map[string]string
}

// readDevValues takes the KEYGATE_SECRET_* entries of environ (KEY=VALUE
// strings) for m's keys and app keys. A name m does not declare stops
// dev mode, as the manifest contract would refuse it in production; the
// error names every such variable and no value.
func readDevValues(m *store.Manifest, environ []string) (devValues, error) {
	v := devValues{user: map[string]string{}, app: map[string]string{}}
	var undeclared, empty []string
	for _, kv := range environ {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, devEnvPrefix) {
			continue
		}
		name := strings.TrimPrefix(k, devEnvPrefix)
		_, isUser := m.Key(name)
		_, isApp := m.AppKey(name)
		switch {
		case !isUser && !isApp:
			undeclared = append(undeclared, k)
		case val == "":
			empty = append(empty, k)
		case isUser:
			v.user[name] = val
		default:
			v.app[name] = val
		}
	}
	if len(undeclared) > 0 {
		sort.Strings(undeclared)
		return devValues{}, fmt.Errorf("%s: not declared among the manifest's keys or app_keys (declared: %s)",
			strings.Join(undeclared, ", "), declaredNames(m))
	}
	if len(empty) > 0 {
		sort.Strings(empty)
		return devValues{}, fmt.Errorf("%s: empty; unset it to leave the key without a value", strings.Join(empty, ", "))
	}
	return v, nil
}

func declaredNames(m *store.Manifest) string {
	var names []string
	for _, k := range m.Keys {
		names = append(names, k.Name)
	}
	for _, k := range m.AppKeys {
		names = append(names, k.Name+" (app)")
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// unsetDevValues removes the KEYGATE_SECRET_* variables from this
// process's environment once read, so that nothing in it (an {env.*}
// placeholder in Caddy's config, a child process) can reach them.
func unsetDevValues(environ []string) {
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, devEnvPrefix) {
			os.Unsetenv(k)
		}
	}
}
