//go:build ceph && cgo

package cephfs_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/fs/fstest"
	"polytropon/fs/union"
)

// TestUnionConformance runs the suite on unions whose upper branch is a
// fresh cephfs client and whose lower branch is ONE cephfs client shared by
// every union, as clones share their read-only image in the scale-up setup.
// Two unions run the suite at the same time on the same lower client.
func TestUnionConformance(t *testing.T) {
	lowerDir := newDir(t, "union-lower")
	lower := mountAt(t, cephfs.Config{Root: lowerDir})
	factory := func(t *testing.T) fs.Service {
		upper := mountAt(t, cephfs.Config{Root: newDir(t, t.Name())})
		u, err := union.New([]fs.Service{upper, lower})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for i := range 2 {
		t.Run(fmt.Sprintf("union%d", i), func(t *testing.T) {
			t.Parallel()
			fstest.Run(t, factory, fstest.NoSparse(),
				fstest.Skip("link_nlink", "libcephfs's ceph_link follows a final symbolic link"))
		})
	}
	t.Cleanup(func() {
		d, err := lower.OpenDir(t.Context(), "")
		if err != nil {
			t.Errorf("opendir lower: %v", err)
			return
		}
		defer d.Close()
		if ents, _ := d.ReadDir(0); len(ents) != 0 {
			t.Errorf("the shared lower branch changed: it now holds %d entries", len(ents))
		}
	})
}

// TestUnionSharedImage gives three unions one lower cephfs client holding
// an image; each changes the image its own way (copy-up, whiteout, new
// file) and must see only its own changes, while the image stays intact.
func TestUnionSharedImage(t *testing.T) {
	imageDir := newDir(t, "image")
	img := imageDir[1:]
	must(t, admin.Mkdir(t.Context(), img+"/etc", 0o755), "mkdir etc")
	writeFile(t, admin, img+"/etc/conf", []byte("original"))
	writeFile(t, admin, img+"/bin", []byte("binary"))
	lower := mountAt(t, cephfs.Config{Root: imageDir})

	const n = 3
	unions := make([]*union.Union, n)
	for i := range unions {
		upper := mountAt(t, cephfs.Config{Root: newDir(t, fmt.Sprintf("upper%d", i))})
		u, err := union.New([]fs.Service{upper, lower})
		must(t, err, "union.New")
		unions[i] = u
	}
	for i, u := range unions {
		writeFile(t, u, "etc/conf", []byte(fmt.Sprintf("clone %d", i)))
		must(t, u.Unlink(t.Context(), "bin"), "unlink bin")
		writeFile(t, u, fmt.Sprintf("own%d", i), []byte("mine"))
	}
	for i, u := range unions {
		if got := string(readFile(t, u, "etc/conf")); got != fmt.Sprintf("clone %d", i) {
			t.Errorf("union %d: etc/conf = %q, want its own copy", i, got)
		}
		if _, err := u.Stat(t.Context(), "bin"); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("union %d: bin after unlink: got %v, want ENOENT", i, err)
		}
		for j := range unions {
			_, err := u.Stat(t.Context(), fmt.Sprintf("own%d", j))
			if (err == nil) != (i == j) {
				t.Errorf("union %d: stat own%d: %v", i, j, err)
			}
		}
	}
	if got := string(readFile(t, admin, img+"/etc/conf")); got != "original" {
		t.Errorf("image etc/conf changed to %q", got)
	}
	if got := string(readFile(t, admin, img+"/bin")); got != "binary" {
		t.Errorf("image bin changed to %q", got)
	}
}
