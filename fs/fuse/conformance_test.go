package fuse_test

import (
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/fuse"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// throughMount returns a factory that mounts a fresh service from build
// and returns fs/local over the mount point: every conformance call goes
// through the kernel's FUSE client and the bridge.
func throughMount(opts fuse.Options, build func(t *testing.T) fs.Service) func(t *testing.T) fs.Service {
	return func(t *testing.T) fs.Service {
		mnt := mount(t, build(t), opts)
		return newLocal(t, mnt)
	}
}

func localService(t *testing.T) fs.Service { return newLocal(t, t.TempDir()) }

// unionService is a union of an empty writable branch over an empty
// read-only one, so every lookup crosses both branches.
func unionService(t *testing.T) fs.Service {
	u, err := union.New([]fs.Service{newLocal(t, t.TempDir()), newLocal(t, t.TempDir(), local.WithReadOnly())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// The suite runs with no limitation declared: through the bridge and the
// kernel's FUSE client, the local and union services keep every behaviour
// the suite checks (O_DIRECT, xattrs, hard links, sparse files, unlinked
// open files, fallocate).

func TestConformance(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			fstest.Run(t, throughMount(m.opts, localService))
		})
	}
}

func TestConformanceUnion(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			fstest.Run(t, throughMount(m.opts, unionService))
		})
	}
}

// TestPosix runs go-fuse's own POSIX suite against the mount. Cases that
// the suite itself skips: Tmpfile (the libservice API has no O_TMPFILE),
// RenameOpenDir (fstat of a directory replaced by rename, go-fuse issue
// 55: directory handles carry no service file to stat), XAttrLarge (ext4
// limits an xattr value to a block).
func TestPosix(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			for name, fn := range posixtest.All {
				t.Run(name, func(t *testing.T) {
					if reason := fuse.PosixtestSkips[name]; reason != "" {
						t.Skip(reason)
					}
					mnt := mount(t, newLocal(t, t.TempDir()), m.opts)
					fn(t, mnt)
				})
			}
		})
	}
}
