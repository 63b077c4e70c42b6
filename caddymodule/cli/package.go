package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// manifest is a package as the API answers it.
type manifest struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	Host      string    `json:"host"`
	Upstream  string    `json:"upstream"`
	Keys      []keySpec `json:"keys"`
	AppKeys   []keySpec `json:"app_keys"`
	UpdatedAt time.Time `json:"updated_at"`
}

type keySpec struct {
	Name        string   `json:"name"`
	Required    bool     `json:"required"`
	Description string   `json:"description"`
	Hosts       []string `json:"hosts"`
	// OAuth is set for a key whose value keygate connect gets.
	OAuth json.RawMessage `json:"oauth,omitempty"`
}

// maxManifest matches the API's body limit.
const maxManifest = 1 << 20

func packageCommands() []leaf {
	return []leaf{
		{
			name:  "put",
			usage: "<keygate.package.json|->",
			short: "Registers or updates a package from its manifest",
			long: `
Registers a package from its manifest file (- reads stdin), or updates it.
The file is sent as it is, so keygate checks every field. When the
package's sha256 changes, its grants stop working until each owner
approves it again (keygate grant).`,
			minArgs: 1, maxArgs: 1,
			run: packagePut,
		},
		{
			name:    "list",
			short:   "Lists packages",
			maxArgs: 0,
			run:     packageList,
		},
		{
			name:    "show",
			usage:   "<@scope/name>",
			short:   "Shows a package and the keys it requests",
			minArgs: 1, maxArgs: 1,
			run: packageShow,
		},
		{
			name:    "delete",
			usage:   "<@scope/name>",
			short:   "Deletes a package",
			minArgs: 1, maxArgs: 1,
			run: packageDelete,
		},
	}
}

func packagePut(e *env, args []string) error {
	data, err := readManifest(e, args[0])
	if err != nil {
		return err
	}
	var head struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("%s is not a JSON manifest: %v", oneLine(args[0]), err)
	}
	if head.Name == "" {
		return fmt.Errorf(`%s has no "name"`, oneLine(args[0]))
	}
	c, err := e.api()
	if err != nil {
		return err
	}
	resp, err := c.do(e.ctx, http.MethodPut, "/v1/packages/"+segment(head.Name), nil, data)
	if err != nil {
		return err
	}
	if e.json {
		e.printJSON(resp.body)
		return nil
	}
	var m manifest
	if err := json.Unmarshal(resp.body, &m); err != nil {
		m.Name = head.Name
	}
	verb := "Updated"
	if resp.status == http.StatusCreated {
		verb = "Created"
	}
	e.printf("%s package %s %s (host %s, sha256 %s).\n", verb, oneLine(m.Name), oneLine(m.Version), oneLine(m.Host), short(m.SHA256))
	return nil
}

func readManifest(e *env, path string) ([]byte, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the manifest: %v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %v", err)
	}
	if len(data) > maxManifest {
		return nil, errors.New("the manifest is larger than 1 MiB")
	}
	return bytes.TrimSpace(data), nil
}

func packageList(e *env, _ []string) error {
	var ms []manifest
	if done, err := e.show("/v1/packages", nil, &ms); done || err != nil {
		return err
	}
	t := newTable(e.stdout, "NAME", "VERSION", "HOST", "UPSTREAM", "KEYS", "SHA256")
	for _, m := range ms {
		t.row(m.Name, m.Version, m.Host, m.Upstream, keyNames(m.Keys), short(m.SHA256))
	}
	t.flush()
	return nil
}

func keyNames(keys []keySpec) string {
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		names = append(names, k.Name)
	}
	return list(names)
}

func packageShow(e *env, args []string) error {
	var m manifest
	if done, err := e.show("/v1/packages/"+segment(args[0]), nil, &m); done || err != nil {
		return err
	}
	fields(e.stdout,
		"Name", m.Name,
		"Version", m.Version,
		"Host", m.Host,
		"Upstream", m.Upstream,
		"SHA256", m.SHA256,
		"Updated", fmtTime(m.UpdatedAt),
	)
	e.printf("\nKeys:\n")
	printKeys(e, m.Keys)
	if len(m.AppKeys) > 0 {
		e.printf("\nApp keys:\n")
		printKeys(e, m.AppKeys)
	}
	return nil
}

func printKeys(e *env, keys []keySpec) {
	t := newTable(e.stdout, "NAME", "REQUIRED", "HOSTS", "DESCRIPTION")
	for _, k := range keys {
		desc, _, _ := strings.Cut(k.Description, "\n")
		t.row(k.Name, yesNo(k.Required), list(k.Hosts), desc)
	}
	t.flush()
}

func packageDelete(e *env, args []string) error {
	c, err := e.api()
	if err != nil {
		return err
	}
	if _, err := c.do(e.ctx, http.MethodDelete, "/v1/packages/"+segment(args[0]), nil, nil); err != nil {
		return err
	}
	if !e.json {
		e.printf("Deleted package %s.\n", oneLine(args[0]))
	}
	return nil
}

func appSecretSet() leaf {
	return leaf{
		name:  "set",
		usage: "<@scope/name> <KEY>",
		short: "Sets a package's app secret; the value comes from stdin or a no-echo prompt",
		long: `
Sets the app secret KEY of a package (one of its manifest's app_keys). The
value is read like a secret's: from stdin (one trailing newline is
stripped) or a prompt that does not echo; never from the command line.`,
		minArgs: 2, maxArgs: 2, tooMany: noValueArg,
		run: func(e *env, args []string) error {
			pkg, key := args[0], args[1]
			if err := checkName("app key", key); err != nil {
				return err
			}
			c, err := e.api()
			if err != nil {
				return err
			}
			value, err := readValue(e, "app secret "+key+" of "+pkg)
			if err != nil {
				return err
			}
			body := valueBody(value, nil)
			wipe(value)
			_, err = c.do(e.ctx, http.MethodPut, "/v1/packages/"+segment(pkg)+"/app-secrets/"+segment(key), nil, body)
			wipe(body)
			if err != nil {
				return err
			}
			if !e.json {
				e.printf("Set app secret %s of package %s.\n", key, oneLine(pkg))
			}
			return nil
		},
	}
}
