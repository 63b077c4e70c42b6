package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate/store"
)

// store copy is the one command that talks to stores, not to the API:
// it moves a deployment between Badger and PostgreSQL while keygate is
// stopped (a running keygate holds its Badger directory's lock).
func storageCommands() []leaf {
	return []leaf{{
		name:  "copy",
		usage: "--from <badger:dir|postgres:dsn> --to <badger:dir|postgres:dsn> [--force] [--verify] [--master-key-file <path>]",
		short: "Copies every record from one store to another, sealed",
		long: `
Copies every record, sealed values still sealed and never decrypted, from one
store to another: badger:<dir> or postgres:<dsn>. Stop keygate first. The
master key opens the source's key check and nothing else: --master-key-file,
else $KEYGATE_MASTER_KEY, else <caddy data dir>/keygate/master.key. A target
that holds records is refused unless --force, which replaces them. --verify
then compares both stores record by record. A DSN's password is never printed.`,
		flags: func(f *pflag.FlagSet) {
			f.String("from", "", "source store: badger:<dir> or postgres:<dsn>")
			f.String("to", "", "target store: badger:<dir> or postgres:<dsn>")
			f.Bool("force", false, "replace what the target holds")
			f.Bool("verify", false, "compare both stores after copying")
			f.String("master-key-file", "", "file holding the master key spec (default $KEYGATE_MASTER_KEY, else the first-run key file)")
		},
		run: storageCopyRun,
	}}
}

func storageCopyRun(e *env, _ []string) error {
	from, _ := e.flags.GetString("from")
	to, _ := e.flags.GetString("to")
	force, _ := e.flags.GetBool("force")
	verify, _ := e.flags.GetBool("verify")
	keyFile, _ := e.flags.GetString("master-key-file")
	if from == "" || to == "" {
		return usageErrorf("--from and --to are required: badger:<dir> or postgres:<dsn>")
	}
	fromName, err := specName(from)
	if err != nil {
		return usageErrorf("--from: %s", err)
	}
	toName, err := specName(to)
	if err != nil {
		return usageErrorf("--to: %s", err)
	}
	kr, err := copyKeyring(keyFile)
	if err != nil {
		return err
	}
	src, err := store.OpenSpec(from, kr)
	if err != nil {
		return fmt.Errorf("opening %s: %w", fromName, err)
	}
	defer src.Close()
	dst, err := store.OpenSpec(to, kr)
	if err != nil {
		return fmt.Errorf("opening %s: %w", toName, err)
	}
	defer dst.Close()
	counts, err := store.Copy(src, dst, force)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s is not empty; --force replaces what it holds: %w", toName, err)
	}
	if err != nil {
		return err
	}
	e.printf("Copied %d records (%d bytes) from %s to %s.\n", counts.Records, counts.Bytes, fromName, toName)
	kinds := make([]string, 0, len(counts.ByKind))
	for k := range counts.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		e.printf("  %-12s %d\n", oneLine(k), counts.ByKind[k])
	}
	if verify {
		if err := store.VerifyCopy(src, dst); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		e.printf("Verified: both stores hold the same %d records.\n", counts.Records)
	}
	return nil
}

// specName names a store spec for output: a directory, or a database by
// host, port, name and user, never by its DSN.
func specName(spec string) (string, error) {
	switch kind, rest, _ := strings.Cut(spec, ":"); {
	case kind == "badger" && rest != "":
		return "badger:" + rest, nil
	case kind == "postgres" && rest != "":
		target, err := store.PostgresTarget(rest)
		if err != nil {
			return "", errors.New("the DSN does not parse (want a postgres:// URL or key=value pairs)")
		}
		return "postgres:" + target, nil
	}
	return "", errors.New("want badger:<dir> or postgres:<dsn>")
}

// copyKeyring reads the master key: the file named, else the environment,
// else keygate's first-run key file.
func copyKeyring(keyFile string) (*store.Keyring, error) {
	spec, from := "", ""
	switch {
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading --master-key-file: %w", err)
		}
		spec, from = string(b), "--master-key-file"
	case os.Getenv("KEYGATE_MASTER_KEY") != "":
		spec, from = os.Getenv("KEYGATE_MASTER_KEY"), "$KEYGATE_MASTER_KEY"
	default:
		p := filepath.Join(caddy.AppDataDir(), "keygate", "master.key")
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("no master key: pass --master-key-file or set KEYGATE_MASTER_KEY")
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		spec, from = string(b), p
	}
	kr, err := store.ParseMasterKeys(strings.TrimSpace(spec))
	if err != nil {
		return nil, fmt.Errorf("master key from %s: %w", from, err)
	}
	return kr, nil
}
