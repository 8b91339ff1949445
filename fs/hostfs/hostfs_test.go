package hostfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	pfs "polytropon/fs"
	"polytropon/fs/fstest"
)

func newHostFS(t *testing.T) pfs.Service {
	h, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHostFSConformance(t *testing.T) {
	fstest.Run(t, newHostFS, fstest.NoXattrs(),
		// By design HostFS is plain kernel calls (see its doc).
		fstest.NoODirect(),
		fstest.Skip("symlink_absolute_resolves_in_root", "HostFS is the unconfined kernel reference: absolute links resolve on the host"))
}

func TestHostFSPlainPaths(t *testing.T) {
	dir := t.TempDir()
	h, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := h.Open(ctx, "/a/../x", os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Pwrite([]byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "x"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("host sees %q, %v; want \"hello\"", got, err)
	}
	_, err = h.Stat(ctx, "missing")
	if !errors.Is(err, fs.ErrNotExist) || pfs.Errno(err) != syscall.ENOENT {
		t.Fatalf("stat missing: got %v, want ENOENT", err)
	}
	if _, err := New(filepath.Join(dir, "x")); pfs.Errno(err) != syscall.ENOTDIR {
		t.Fatalf("NewHostFS on a file: got %v, want ENOTDIR", err)
	}
}
