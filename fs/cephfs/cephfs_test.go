//go:build ceph && cgo

package cephfs_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/fs/fstest"
)

var (
	_ fs.Service = (*cephfs.FS)(nil)
	_ fs.Xattrer = (*cephfs.FS)(nil)
)

// newService mounts a fresh, empty directory of the file system as the root
// of a new client.
func newService(t *testing.T) fs.Service {
	return mountAt(t, cephfs.Config{Root: newDir(t, t.Name())})
}

func TestConformance(t *testing.T) {
	requireCeph(t)
	fstest.Run(t, newService,
		// CephFS reports blocks = size / 512, holes included.
		fstest.NoSparse(),
		fstest.Skip("link_nlink", "libcephfs's ceph_link follows a final symbolic link (no linkat), so a hard link to a symlink links its target"),
	)
}

// TestMountRootConfines checks that a client mounted at a subdirectory sees
// nothing of its parent: the sibling's file is unreachable by any name.
func TestMountRootConfines(t *testing.T) {
	base := newDir(t, "confine")
	must(t, admin.Mkdir(t.Context(), base+"/root", 0o755), "mkdir root")
	must(t, admin.Mkdir(t.Context(), base+"/sibling", 0o755), "mkdir sibling")
	writeFile(t, admin, base+"/sibling/secret", []byte("secret"))
	s := mountAt(t, cephfs.Config{Root: base + "/root"})
	if got := s.Root(); got != base+"/root" {
		t.Errorf("Root: got %q, want %q", got, base+"/root")
	}
	for _, name := range []string{"../sibling/secret", "/../sibling/secret", "../../" + base[1:] + "/sibling/secret", base + "/sibling/secret"} {
		if f, err := s.Open(t.Context(), name, syscall.O_RDONLY, 0); err == nil {
			f.Close()
			t.Errorf("Open(%q) succeeded from a client rooted at %s/root", name, base)
		}
	}
	must(t, s.Symlink(t.Context(), "../sibling/secret", "up"), "symlink")
	if f, err := s.Open(t.Context(), "up", syscall.O_RDONLY, 0); err == nil {
		buf := make([]byte, 16)
		n, _ := f.Pread(buf, 0)
		f.Close()
		if bytes.Contains(buf[:n], []byte("secret")) {
			t.Errorf("a symlink ../sibling/secret read the sibling's file")
		}
	}
}

func TestMountMissingRoot(t *testing.T) {
	base := newDir(t, "missing")
	_, err := cephfs.New(t.Context(), cephfs.Config{ConfPath: confPath, Root: base + "/nope"})
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("mounting a missing root: got %v, want ENOENT", err)
	}
}

func TestBadConfig(t *testing.T) {
	requireCeph(t)
	for _, c := range []struct {
		name string
		cfg  cephfs.Config
	}{
		{"no conf", cephfs.Config{}},
		{"missing conf", cephfs.Config{ConfPath: "/nonexistent/ceph.conf"}},
		{"missing keyring", cephfs.Config{ConfPath: confPath, Keyring: "/nonexistent/keyring"}},
		{"client prefix", cephfs.Config{ConfPath: confPath, ID: "client.admin"}},
		{"unknown option", cephfs.Config{ConfPath: confPath, ClientOptions: map[string]string{"no_such_option": "1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := cephfs.New(t.Context(), c.cfg)
			if err == nil {
				f.Close()
				t.Fatal("New succeeded")
			}
			t.Logf("error (as expected): %v", err)
		})
	}
}

// TestClientOptions checks that per-tenant cache settings reach libcephfs.
func TestClientOptions(t *testing.T) {
	root := newDir(t, "opts")
	s := mountAt(t, cephfs.Config{Root: root, ClientOptions: map[string]string{
		"client_cache_size": "1000", "client_oc_size": "8388608", "client_oc_max_dirty": "4194304",
	}})
	writeFile(t, s, "f", []byte("data"))
	if got := readFile(t, s, "f"); string(got) != "data" {
		t.Errorf("read back %q", got)
	}
}
