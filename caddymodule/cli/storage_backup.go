package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"

	"github.com/keygate/keygate/store"
)

// store backup and restore: a Badger store to one file and back, records
// still sealed (Badger's own backup stream, with the key check). A
// PostgreSQL store is backed up with pg_dump.
func backupCommands() []leaf {
	return []leaf{{
		name:  "backup",
		usage: "--from badger:<dir> --out <file> [--master-key-file <path>]",
		short: "Writes a Badger store to a backup file, sealed",
		long: `
Writes every record of a Badger store, sealed values still sealed, and its
key check to one file (mode 0600): Badger's own backup stream, from one
snapshot. Stop keygate first (Badger allows one process). The master key is
read as for store copy and only opens the key check. For PostgreSQL, use
pg_dump (and pg_restore) on the database instead; keygate needs nothing
else from it.`,
		flags: func(f *pflag.FlagSet) {
			f.String("from", "", "the store: badger:<dir>")
			f.String("out", "", "the backup file to create (refused if it exists)")
			f.String("master-key-file", "", "file holding the master key spec (default $KEYGATE_MASTER_KEY, else the first-run key file)")
		},
		run: storageBackupRun,
	}, {
		name:  "restore",
		usage: "--in <file> --to badger:<dir> [--master-key-file <path>]",
		short: "Restores a backup file into an empty Badger store and verifies its audit trail",
		long: `
Loads a backup made by keygate store backup into a Badger directory that
holds no records (a new one is created), then verifies the audit trail's
chain: exit 1 if it is broken. The master key must open the backup's key
check: a backup made under other keys is refused before anything is
loaded.`,
		flags: func(f *pflag.FlagSet) {
			f.String("in", "", "the backup file")
			f.String("to", "", "the store to restore into: badger:<dir>, empty")
			f.String("master-key-file", "", "file holding the master key spec (default $KEYGATE_MASTER_KEY, else the first-run key file)")
		},
		run: storageRestoreRun,
	}}
}

// badgerSpec checks that flag names a Badger store.
func badgerSpec(flag, spec string) error {
	if spec == "" {
		return usageErrorf("--%s is required: badger:<dir>", flag)
	}
	if strings.HasPrefix(spec, "postgres:") {
		return usageErrorf("--%s: %s", flag, store.ErrNotBadger)
	}
	if dir, ok := strings.CutPrefix(spec, "badger:"); !ok || dir == "" {
		return usageErrorf("--%s: want badger:<dir>", flag)
	}
	return nil
}

func storageBackupRun(e *env, _ []string) error {
	from, _ := e.flags.GetString("from")
	out, _ := e.flags.GetString("out")
	keyFile, _ := e.flags.GetString("master-key-file")
	if err := badgerSpec("from", from); err != nil {
		return err
	}
	if out == "" {
		return usageErrorf("--out is required: the backup file to create")
	}
	dir := strings.TrimPrefix(from, "badger:")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no store at %s: %w", dir, err)
	}
	kr, keyFrom, err := copyKeyring(keyFile, from)
	if err != nil {
		return err
	}
	src, err := openForCopy(from, from, kr, keyFrom)
	if err != nil {
		return err
	}
	defer src.Close()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating the backup file: %w", err)
	}
	bar := newProgress(e, "writing backup", -1, true)
	err = src.Backup(bar.writer(f))
	bar.done()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		return err
	}
	info, err := os.Stat(out)
	if err != nil {
		return err
	}
	n, err := src.CountRecords()
	if err != nil {
		return err
	}
	e.printf("Backed up %d records of %s to %s (%s).\n", n, from, oneLine(out), humanize.IBytes(uint64(info.Size())))
	return nil
}

func storageRestoreRun(e *env, _ []string) error {
	// A refused restore leaves no directory it created behind.
	dir := strings.TrimPrefix(flagString(e, "to"), "badger:")
	_, statErr := os.Stat(dir)
	err := restore(e)
	if err != nil && errors.Is(statErr, os.ErrNotExist) && dir != "" {
		os.RemoveAll(dir)
	}
	return err
}

func flagString(e *env, name string) string {
	v, _ := e.flags.GetString(name)
	return v
}

func restore(e *env) error {
	in, _ := e.flags.GetString("in")
	to, _ := e.flags.GetString("to")
	keyFile, _ := e.flags.GetString("master-key-file")
	if in == "" {
		return usageErrorf("--in is required: a file made by keygate store backup")
	}
	if err := badgerSpec("to", to); err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return fmt.Errorf("opening the backup: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	kr, keyFrom, err := copyKeyring(keyFile, "")
	if err != nil {
		return err
	}
	dst, err := openForCopy(to, to, kr, keyFrom)
	if err != nil {
		return err
	}
	defer dst.Close()
	bar := newProgress(e, "restoring", info.Size(), true)
	err = dst.Restore(bar.reader(io.Reader(f)))
	bar.done()
	switch {
	case errors.Is(err, store.ErrMasterKey):
		return fmt.Errorf("the master key from %s does not open this backup: %w; pass the key keygate ran with (--master-key-file or KEYGATE_MASTER_KEY)", keyFrom, err)
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%s holds records; restore into an empty directory", to)
	case err != nil:
		return err
	}
	n, err := dst.CountRecords()
	if err != nil {
		return err
	}
	e.printf("Restored %d records into %s:\n", n, to)
	return printAuditTrail(e, dst)
}
