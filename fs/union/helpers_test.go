package union_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// treeHash hashes a host tree: every name, type, mode, owner, size,
// mtime (directories included), link target and content. Atimes are left
// out: reading a lower file may move its atime.
func treeHash(t testing.TB, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		io.WriteString(h, rel+"\x00")
		mtime := st.Mtim
		io.WriteString(h, strings.Join([]string{
			itoa(int64(st.Mode)), itoa(int64(st.Uid)), itoa(int64(st.Gid)), itoa(st.Size),
			itoa(mtime.Sec), itoa(mtime.Nsec)}, ",")+"\x00")
		switch {
		case d.Type()&iofs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			io.WriteString(h, target)
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// checkTreeUnchanged hashes a lower branch directory now and again when the
// test ends, and fails the test if anything in it changed.
func checkTreeUnchanged(t testing.TB, root string) {
	t.Helper()
	before := treeHash(t, root)
	t.Cleanup(func() {
		if after := treeHash(t, root); after != before {
			t.Errorf("lower branch %s was modified: hash %s, want %s", root, after, before)
		}
	})
}
