package fuse_test

import (
	"testing"

	"polytropon/fs"
	"polytropon/fs/fuse"
	"polytropon/fs/local"
	"polytropon/internal/testenv"
)

// requireFUSE skips when this host cannot mount FUSE filesystems.
func requireFUSE(t testing.TB) {
	t.Helper()
	testenv.RequireFUSE(t)
}

// modes are the two kernel-cache settings, named like the systems.
var modes = []struct {
	name string
	opts fuse.Options
}{
	{"F", fuse.Options{}},
	{"FP", fuse.Options{KernelCache: true}},
}

// mount mounts svc on a fresh directory and unmounts it (lazily if it is
// still busy, failing the test) when the test ends.
func mount(t testing.TB, svc fs.Service, opts fuse.Options) string {
	t.Helper()
	requireFUSE(t)
	mnt := t.TempDir()
	srv, err := fuse.Mount(svc, mnt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount %s: %v; detaching lazily", mnt, err)
			if err := srv.Detach(); err != nil {
				t.Errorf("lazy unmount: %v", err)
			}
		}
	})
	return mnt
}

// newLocal opens a local service over dir, closed when the test ends.
func newLocal(t testing.TB, dir string, opts ...local.Option) *local.Local {
	t.Helper()
	s, err := local.New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
