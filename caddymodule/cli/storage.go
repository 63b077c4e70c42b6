package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	"github.com/dustin/go-humanize"
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
	if dir, ok := strings.CutPrefix(from, "badger:"); ok {
		// Opening a missing directory would create an empty store.
		if _, err := os.Stat(dir); err != nil {
			return fmt.Errorf("no store at %s: %w", dir, err)
		}
	}
	toName, err := specName(to)
	if err != nil {
		return usageErrorf("--to: %s", err)
	}
	kr, keyFrom, err := copyKeyring(keyFile, from)
	if err != nil {
		return err
	}
	src, err := openForCopy(from, fromName, kr, keyFrom)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openForCopy(to, toName, kr, keyFrom)
	if err != nil {
		return err
	}
	defer dst.Close()
	total, err := src.CountRecords()
	if err != nil {
		return fmt.Errorf("reading %s: %w", fromName, err)
	}
	bar := newProgress(e, "copying records", int64(total), false)
	counts, err := store.CopyWithProgress(src, dst, force, bar.set)
	bar.done()
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s is not empty; --force replaces what it holds (%w)", toName, store.ErrConflict)
	}
	if err != nil {
		return err
	}
	e.printf("Copied %d records (%s) from %s to %s:\n", counts.Records, humanize.IBytes(uint64(counts.Bytes)), fromName, toName)
	if err := printKinds(e, dst, counts.ByKind); err != nil {
		return err
	}
	if verify {
		if err := store.VerifyCopy(src, dst); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		e.printf("Verified: both stores hold the same %d records.\n", counts.Records)
	}
	return nil
}

// printKinds prints counts by kind, then the audit trail of s, verified.
func printKinds(e *env, s *store.Store, byPrefix map[string]int) error {
	for _, k := range store.CountsByKind(byPrefix) {
		e.printf("  %-26s %d\n", k.Kind, k.Count)
	}
	return printAuditTrail(e, s)
}

// printAuditTrail verifies the audit chain of s: its events when whole,
// else errTrailBroken naming the first bad segment.
func printAuditTrail(e *env, s *store.Store) error {
	rep, err := s.VerifyAudit()
	if err != nil {
		return fmt.Errorf("verifying the audit trail: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("%w: first bad segment %s (seq %d): %s", errTrailBroken, rep.FirstBad.Segment, rep.FirstBad.Seq, rep.FirstBad.Problem)
	}
	e.printf("  %-26s %d, chain whole\n", "audit events", rep.Events)
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

// openForCopy opens one side of a copy, leading its errors with what to
// do: a store keygate holds open, or a master key that does not open it
// (named by where it came from).
func openForCopy(spec, name string, kr *store.Keyring, keyFrom string) (*store.Store, error) {
	s, err := store.OpenSpec(spec, kr)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock"):
		// Badger's lock error does not wrap the errno.
		return nil, fmt.Errorf("stop keygate first: %s is in use by a running keygate (Badger allows one process)", name)
	case errors.Is(err, store.ErrMasterKey):
		return nil, fmt.Errorf("the master key from %s does not open %s: %w; pass the key keygate runs with (--master-key-file or KEYGATE_MASTER_KEY)", keyFrom, name, err)
	}
	return nil, fmt.Errorf("opening %s: %w", name, err)
}

// copyKeyring reads the master key: the file named, else the environment,
// else the first-run key file of a Badger source (in its directory), else
// keygate's default first-run key file. It says where the key came from.
func copyKeyring(keyFile, from string) (*store.Keyring, string, error) {
	spec, source := "", ""
	switch {
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading --master-key-file: %w", err)
		}
		spec, source = string(b), "--master-key-file "+keyFile
	case os.Getenv("KEYGATE_MASTER_KEY") != "":
		spec, source = os.Getenv("KEYGATE_MASTER_KEY"), "$KEYGATE_MASTER_KEY"
	default:
		candidates := []string{filepath.Join(caddy.AppDataDir(), "keygate", "master.key")}
		if dir, ok := strings.CutPrefix(from, "badger:"); ok {
			candidates = append([]string{filepath.Join(dir, "master.key")}, candidates...)
		}
		for _, p := range candidates {
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, "", fmt.Errorf("reading %s: %w", p, err)
			}
			spec, source = string(b), "the first-run key file "+p
			break
		}
		if source == "" {
			return nil, "", fmt.Errorf("no master key: pass --master-key-file or set KEYGATE_MASTER_KEY (no first-run key file at %s)", strings.Join(candidates, " or "))
		}
	}
	kr, err := store.ParseMasterKeys(strings.TrimSpace(spec))
	if err != nil {
		return nil, "", fmt.Errorf("master key from %s: %w", source, err)
	}
	return kr, source, nil
}
