package integration

// Data-directory scans: hash every file, search every byte.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hashTree returns relative path -> "mode size sha256" of every file and
// directory under root.
func hashTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			out[rel+"/"] = fi.Mode().String()
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%s %d %x", fi.Mode(), fi.Size(), h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", root, err)
	}
	return out
}

// diffTrees reports every file that differs between two hashTree results.
func diffTrees(before, after map[string]string) []string {
	var diffs []string
	for p, h := range before {
		switch a, ok := after[p]; {
		case !ok:
			diffs = append(diffs, "removed "+p)
		case a != h:
			diffs = append(diffs, "changed "+p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diffs = append(diffs, "added "+p)
		}
	}
	return diffs
}

// scanTree searches every byte of every regular file under root for each
// needle (named by its key, never printed), failing t for each find, and
// returns how many bytes it read.
func scanTree(t testing.TB, root string, needles map[string]string) int64 {
	t.Helper()
	finds, total, err := findInTree(root, needles, 4<<20)
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	for _, f := range finds {
		t.Error(f)
	}
	return total
}

// findInTree reads every regular file under root in chunks of chunk bytes
// that overlap by the longest needle less one, so that no match is split,
// and reports each needle found as "<name> found in <file> near byte <n>".
func findInTree(root string, needles map[string]string, chunk int) (finds []string, total int64, err error) {
	longest := 0
	for what, n := range needles {
		if n == "" {
			return nil, 0, fmt.Errorf("empty needle %s", what)
		}
		longest = max(longest, len(n))
	}
	buf := make([]byte, chunk+longest)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, _ := filepath.Rel(root, p)
		keep := 0     // bytes carried over from the previous chunk
		var off int64 // file offset of buf[0]
		found := map[string]bool{}
		for {
			n, rerr := io.ReadFull(f, buf[keep:keep+chunk])
			total += int64(n)
			window := buf[:keep+n]
			for what, needle := range needles {
				if i := bytes.Index(window, []byte(needle)); i >= 0 && !found[what] {
					found[what] = true
					finds = append(finds, fmt.Sprintf("%s found in %s near byte %d", what, rel, off+int64(i)))
				}
			}
			if rerr != nil {
				if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
					return nil
				}
				return rerr
			}
			k := min(longest-1, len(window))
			off += int64(len(window) - k)
			copy(buf, window[len(window)-k:])
			keep = k
		}
	})
	return finds, total, err
}

// leakNeedles adds a value and its common encodings (base64, URL query
// escaping) under name to needles.
func leakNeedles(needles map[string]string, name, v string) {
	needles[name] = v
	needles[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(v))
	if q := url.QueryEscape(v); q != v {
		needles[name+" (query-escaped)"] = q
	}
}

// TestFindInTree checks the leak scanner itself: a needle split across a
// chunk boundary, one at the very end, one in a sparse file's tail.
func TestFindInTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	needle := "needle-" + randomHex(8)
	chunk := 1 << 10
	// Split across the first chunk boundary.
	a := append(bytes.Repeat([]byte{'a'}, chunk-5), needle...)
	os.WriteFile(filepath.Join(dir, "split"), append(a, bytes.Repeat([]byte{'b'}, 3*chunk)...), 0o600)
	// At the end of a larger file.
	os.WriteFile(filepath.Join(dir, "end"), append(bytes.Repeat([]byte{0}, 5*chunk+7), needle...), 0o600)
	// After a hole, in a subdirectory.
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	f, _ := os.Create(filepath.Join(dir, "sub", "sparse"))
	f.WriteAt([]byte(needle), 16<<20)
	f.Close()
	os.WriteFile(filepath.Join(dir, "clean"), bytes.Repeat([]byte("needle-"), 3*chunk), 0o600)
	finds, total, err := findInTree(dir, map[string]string{"the needle": needle}, chunk)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("the needle found in end near byte %d", 5*chunk+7),
		fmt.Sprintf("the needle found in split near byte %d", chunk-5),
		fmt.Sprintf("the needle found in %s near byte %d", filepath.Join("sub", "sparse"), 16<<20),
	}
	if strings.Join(finds, "\n") != strings.Join(want, "\n") {
		t.Errorf("finds:\n%s\nwant:\n%s", strings.Join(finds, "\n"), strings.Join(want, "\n"))
	}
	if total < 16<<20 {
		t.Errorf("read %d bytes, want every byte", total)
	}
}
