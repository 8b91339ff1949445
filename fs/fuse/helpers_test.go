package fuse_test

import (
	"context"
	"sync/atomic"
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

// countingService counts the data calls that reach the files of the
// wrapped service: the proof that the kernel did not bypass the daemon.
type countingService struct {
	fs.Service
	preads, pwrites atomic.Int64
}

func (c *countingService) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	f, err := c.Service.Open(ctx, name, flags, mode)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, c: c}, nil
}

type countingFile struct {
	fs.File
	c *countingService
}

func (f *countingFile) Pread(p []byte, off int64) (int, error) {
	f.c.preads.Add(1)
	return f.File.Pread(p, off)
}

func (f *countingFile) Pwrite(p []byte, off int64) (int, error) {
	f.c.pwrites.Add(1)
	return f.File.Pwrite(p, off)
}
