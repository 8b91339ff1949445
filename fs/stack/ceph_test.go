//go:build ceph && cgo

package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/fs/union"
	"polytropon/internal/testenv"
	"polytropon/internal/units"
)

// TestUnionOfCephLayers builds what a D-over-Ceph instance is made of: a
// union of a writable cephfs layer over a read-only cephfs image layer.
func TestUnionOfCephLayers(t *testing.T) {
	conf := testenv.CephConf(t)
	admin, err := cephfs.New(t.Context(), cephfs.Config{ConfPath: conf})
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("polytropon-test/cephlayer-%d-%d", os.Getpid(), time.Now().UnixNano())
	ctx := t.Context()
	for _, d := range []string{"polytropon-test", base, base + "/upper", base + "/image"} {
		if err := admin.Mkdir(ctx, d, 0o755); err != nil && !errors.Is(err, syscall.EEXIST) {
			t.Fatal(err)
		}
	}
	f, err := admin.Open(ctx, base+"/image/base.txt", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Pwrite([]byte("image"), 0)
	f.Close()
	t.Cleanup(func() {
		c := context.Background()
		for _, n := range []string{base + "/upper/base.txt", base + "/upper/new", base + "/image/base.txt", base + "/upper", base + "/image", base} {
			admin.Unlink(c, n)
			admin.Rmdir(c, n)
		}
		admin.Close()
	})

	opts := &CephFSOptions{Conf: conf, MountTimeout: units.Duration(10 * time.Second), Options: CephConfig{"client_oc_size": "16777216"}}
	upper, err := buildCephFS(Layer{Type: CephFS, Dir: "/" + base + "/upper", CephFS: opts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer upper.Close()
	lower, err := buildCephFS(Layer{Type: CephFS, Dir: "/" + base + "/image", ReadOnly: true, CephFS: opts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lower.Close()

	if _, err := lower.Open(ctx, "base.txt", syscall.O_RDWR, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for write on the read-only layer: got %v, want EROFS", err)
	}
	if err := lower.Mkdir(ctx, "d", 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir on the read-only layer: got %v, want EROFS", err)
	}
	u, err := union.New([]fs.Service{upper, lower})
	if err != nil {
		t.Fatal(err)
	}
	uf, err := u.Open(ctx, "base.txt", syscall.O_WRONLY|syscall.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uf.Pwrite([]byte("+clone"), 0); err != nil {
		t.Fatal(err)
	}
	uf.Close()
	buf := make([]byte, 64)
	for _, c := range []struct {
		s    fs.Service
		want string
	}{{u, "image+clone"}, {lower, "image"}} {
		f, err := c.s.Open(ctx, "base.txt", syscall.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := f.Pread(buf, 0)
		f.Close()
		if string(buf[:n]) != c.want {
			t.Errorf("got %q, want %q", buf[:n], c.want)
		}
	}
}
