package hostfs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	fstest.Run(t, newHostFS,
		// By design HostFS is plain kernel calls (see its doc).
		fstest.NoODirect(),
		absoluteLinksOnHost)
}

// absoluteLinksOnHost: HostFS is the unconfined kernel reference, so an
// absolute symbolic link resolves on the host, not inside the root.
var absoluteLinksOnHost = fstest.Differs("symlink_absolute_resolves_in_root",
	"HostFS is the unconfined kernel reference: an absolute link resolves on the host", absoluteLinkOnHost)

func absoluteLinkOnHost(t *testing.T, s pfs.Service) {
	ctx := context.Background()
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same path inside the root, where a confined service resolves it.
	inside := strings.Split(pfs.Clean(outside), "/")
	for i := 1; i < len(inside); i++ {
		if err := s.Mkdir(ctx, strings.Join(inside[:i], "/"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fstest.WriteFile(t, s, strings.Join(inside, "/"), []byte("inside"))
	if err := s.Symlink(ctx, outside, "abs"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Readlink(ctx, "abs"); err != nil || got != outside {
		t.Errorf("readlink: got (%q, %v), want %q verbatim", got, err, outside)
	}
	if got := fstest.ReadFile(t, s, "abs"); string(got) != "outside" {
		t.Errorf("read abs: got %q, want the host file's %q", got, "outside")
	}
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
