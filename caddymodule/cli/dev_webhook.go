package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/keygate/keygate/policy"
	"github.com/keygate/keygate/store"
)

// maxWebhookBody bounds the body sign-webhook reads: keygate's default
// max_body for deliveries.
const maxWebhookBody = 1 << 20

func signWebhookLeaf() leaf {
	return leaf{
		name:    "sign-webhook",
		usage:   "<name> <body-file> [--manifest F]",
		short:   "Prints a signed curl delivery of a webhook to the running dev gateway",
		minArgs: 2, maxArgs: 2,
		flags: func(fs *pflag.FlagSet) {
			fs.String("manifest", "", "the package's manifest (default: the one keygate dev runs)")
		},
		run: signWebhook,
	}
}

// manifestWebhook is one entry of a manifest's webhooks, decoded here
// from the manifest's JSON: the fields signing needs.
type manifestWebhook struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Scheme string `json:"scheme"`
	Secret string `json:"secret"`
}

func signWebhook(e *env, args []string) error {
	name, bodyPath := args[0], args[1]
	st, err := readDevState(devStatePath())
	if err != nil {
		return err
	}
	manifestPath, _ := e.flags.GetString("manifest")
	if manifestPath == "" {
		manifestPath = st.Manifest
	}
	hook, err := findWebhook(manifestPath, name)
	if err != nil {
		return err
	}
	secret := os.Getenv(devEnvPrefix + hook.Secret)
	if secret == "" {
		return fmt.Errorf("webhook %s is signed with %s: set %s%s as for keygate dev", name, hook.Secret, devEnvPrefix, hook.Secret)
	}
	body, err := readBounded(bodyPath, maxWebhookBody)
	if err != nil {
		return err
	}
	h, err := policy.SignWebhook(hook.Scheme, []byte(secret), body, time.Now(), "msg_"+randomToken())
	if err != nil {
		return fmt.Errorf("webhook %s: %w", name, err)
	}
	url := st.SiteURL + "/_keygate/webhooks/" + st.Keychain + "/" + name
	var b strings.Builder
	b.WriteString("curl -s -X POST " + shellQuote(url))
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(" \\\n  -H " + shellQuote(k+": "+h.Get(k)))
	}
	b.WriteString(" \\\n  -H 'Content-Type: application/json' --data-binary @" + shellQuote(bodyPath) + "\n")
	io.WriteString(e.stdout, b.String())
	return nil
}

// findWebhook returns the manifest's webhook called name.
func findWebhook(path, name string) (manifestWebhook, error) {
	data, err := readBounded(path, store.MaxManifestBytes)
	if err != nil {
		return manifestWebhook{}, err
	}
	var m struct {
		Webhooks []manifestWebhook `json:"webhooks"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return manifestWebhook{}, fmt.Errorf("manifest %s: webhooks: not the JSON expected", path)
	}
	var names []string
	for _, w := range m.Webhooks {
		if w.Name == name {
			if w.Secret == "" || !policy.ValidWebhookScheme(w.Scheme) {
				return manifestWebhook{}, fmt.Errorf("manifest %s: webhook %s needs a secret and a known scheme", path, sanitize(name))
			}
			return w, nil
		}
		names = append(names, sanitize(w.Name))
	}
	if len(names) == 0 {
		return manifestWebhook{}, fmt.Errorf("manifest %s declares no webhooks", path)
	}
	return manifestWebhook{}, fmt.Errorf("manifest %s declares no webhook %s (it declares: %s)", path, sanitize(name), strings.Join(names, ", "))
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, pathErr(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, pathErr(err))
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomToken returns 20 random bytes as lowercase base32.
func randomToken() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic("keygate: crypto/rand failed")
	}
	return strings.ToLower(tokenEncoding.EncodeToString(b))
}
