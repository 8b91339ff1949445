package systems

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
	h, err := NewHostFS(t.TempDir())
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
	h, err := NewHostFS(dir)
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
	if _, err := NewHostFS(filepath.Join(dir, "x")); pfs.Errno(err) != syscall.ENOTDIR {
		t.Fatalf("NewHostFS on a file: got %v, want ENOTDIR", err)
	}
}

func TestOpenFS(t *testing.T) {
	dir := t.TempDir()
	svc, err := OpenFS(context.Background(), Container{Dir: dir, FS: FSSpec{Kind: HostKind}})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := svc.(*HostFS); !ok || h.Root() != dir {
		t.Fatalf("OpenFS host: got %T %v, want *HostFS at %s", svc, svc, dir)
	}
	if _, err := OpenFS(context.Background(), Container{Dir: dir, FS: FSSpec{Kind: "nosuch"}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kind: got %v, want ErrUnavailable", err)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"4G", 4 << 30, false}, {"512M", 512 << 20, false}, {"1GiB", 1 << 30, false},
		{"100", 100, false}, {"2k", 2048, false}, {"", 0, true}, {"-1G", 0, true}, {"G", 0, true},
	} {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
