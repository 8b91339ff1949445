//go:build ceph && cgo

package systems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/cephfs"
	"polytropon/fs/fuse"
	"polytropon/fs/stack"
	"polytropon/internal/testenv"
	"polytropon/runner/pool"
)

// cephServiceBinary builds polytropon with libcephfs (the service must
// build cephfs layers) and makes it D-ceph's service binary.
func cephServiceBinary(t *testing.T) string {
	t.Helper()
	bin := testenv.Polytropon(t, "ceph", "pacific")
	t.Setenv("POLYTROPON_BIN", bin)
	return bin
}

// TestUserlevelCephSetupTeardown runs D-ceph in a real pool over the test
// cluster: two clones over a shared image, each writing through the Go
// client; the data lands in each clone's own directory in CephFS, the
// image stays unchanged, the FUSE path shows the same files, the tenant's
// key cannot leave the pool's directory, and teardown removes the service,
// its mounts, the pool's directory and its key.
func TestUserlevelCephSetupTeardown(t *testing.T) {
	conf := testenv.CephConf(t)
	bin := cephServiceBinary(t)
	s := checkSystem(t, "D-ceph")
	p := newTestPool(t)
	lower, work := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lower, "image.txt"), []byte("from the image"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The image is copied into Ceph with its subdirectories, modes and
	// symbolic links.
	if err := os.Mkdir(filepath.Join(lower, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lower, "sub", "run.sh"), []byte("deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/run.sh", filepath.Join(lower, "link")); err != nil {
		t.Fatal(err)
	}
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower, Backend: "ceph",
		Options: dCephOptions(func(o *UserlevelCephOptions) {
			o.Conf, o.Binary, o.Buffers, o.BufferSize, o.Client = conf, bin, 8, 65536, stack.CephConfig{"client_oc_size": "16777216"}
		})})
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	tenant := in.(*userlevelCephInstance).tenant
	dir, id, keyring := tenant.dir, tenant.tenant, tenant.keyring

	for i := range 2 {
		c := in.Container(i)
		if c.FS.Kind != ClientKind || !strings.HasPrefix(c.Dir, work) {
			t.Errorf("container %d: %+v", i, c)
		}
		clientReadsImage(t, p, c, fmt.Sprintf("container%d", i))
		// The legacy path: a program without the library reads the same
		// file through the service's FUSE mount of the same instance.
		var out, errb bytes.Buffer
		if err := p.Run(t.Context(), pool.Cmd{Path: "cat", Args: []string{"cat", "mine.txt", "image.txt", "link"}, Dir: c.Dir, Stdout: &out, Stderr: &errb}); err != nil {
			t.Errorf("cat through the FUSE mount of container %d: %v\n%s", i, err, errb.String())
		} else if want := fmt.Sprintf("container%dfrom the imagedeep", i); out.String() != want {
			t.Errorf("cat through the FUSE mount of container %d: %q, want %q", i, out.String(), want)
		}
	}

	// What the clones wrote is in CephFS, each in its own directory, and
	// the shared image was only read.
	admin, err := cephfs.New(t.Context(), cephfs.Config{ConfPath: conf})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	rel := strings.TrimPrefix(dir, "/")
	for i := range 2 {
		if got := readCeph(t, admin, fmt.Sprintf("%s/c%d/mine.txt", rel, i)); got != fmt.Sprintf("container%d", i) {
			t.Errorf("%s/c%d/mine.txt in CephFS = %q", dir, i, got)
		}
		if _, err := admin.Stat(t.Context(), fmt.Sprintf("%s/c%d/image.txt", rel, i)); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("c%d has a copy of image.txt after reads only (%v)", i, err)
		}
	}
	if got := readCeph(t, admin, rel+"/image/image.txt"); got != "from the image" {
		t.Errorf("image in CephFS = %q", got)
	}
	for name, want := range map[string]uint32{"sub": syscall.S_IFDIR | 0o750, "sub/run.sh": syscall.S_IFREG | 0o755, "link": syscall.S_IFLNK | 0o777} {
		if st, err := admin.Lstat(t.Context(), rel+"/image/"+name); err != nil || st.Mode != want {
			t.Errorf("image/%s in CephFS: mode %o (%v), want %o", name, st.Mode, err, want)
		}
	}
	// The tenant's key is confined to the pool's directory.
	if f, err := cephfs.New(t.Context(), cephfs.Config{ConfPath: conf, ID: id, Keyring: keyring, Root: filepath.Dir(dir), MountTimeout: 5 * time.Second}); err == nil {
		f.Close()
		t.Errorf("client.%s mounted %s, outside its directory %s", id, filepath.Dir(dir), dir)
	}

	engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	if ok, _ := fuse.IsMounted(engineMounts, in.Container(0).Dir); !ok {
		t.Errorf("%s is not FUSE-mounted in the pool", in.Container(0).Dir)
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if got := mountsUnder(t, engineMounts, work); len(got) != 0 {
		t.Errorf("mounts left inside the pool after teardown: %v", got)
	}
	if pids := poolPIDsBut(t, p); len(pids) != 0 {
		t.Errorf("processes left in the pool after teardown: %v", pids)
	}
	if _, err := admin.Stat(t.Context(), filepath.Dir(rel)); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("%s still in CephFS after teardown (%v)", filepath.Dir(dir), err)
	}
	if out, err := exec.Command("ceph", "-c", conf, "auth", "get", "client."+id).CombinedOutput(); err == nil {
		t.Errorf("client.%s still exists after teardown:\n%s", id, out)
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func readCeph(t *testing.T, f *cephfs.FS, name string) string {
	t.Helper()
	st, err := f.Stat(t.Context(), name)
	if err != nil {
		t.Errorf("stat %s: %v", name, err)
		return ""
	}
	h, err := f.Open(t.Context(), name, syscall.O_RDONLY, 0)
	if err != nil {
		t.Errorf("open %s: %v", name, err)
		return ""
	}
	defer h.Close()
	buf := make([]byte, st.Size)
	n, err := h.Pread(buf, 0)
	if n != len(buf) {
		t.Errorf("read %s: %d of %d bytes (%v)", name, n, len(buf), err)
	}
	return string(buf[:n])
}

func TestUserlevelCephRejectsBadRequests(t *testing.T) {
	s, err := Lookup("D-ceph")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "local"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("local backend: got %v, want ErrUnavailable", err)
	}
	_, err = s.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "ceph",
		Options: dCephOptions(func(o *UserlevelCephOptions) { o.Client = stack.CephConfig{"fuse_big_writes": "1"} })})
	if err == nil || !strings.Contains(err.Error(), `unknown Ceph option "fuse_big_writes"`) {
		t.Errorf("unknown option: got %v", err)
	}
	t.Setenv("CEPH_CONF", "")
	t.Setenv("POLYTROPON_CEPH_CONF", "")
	defer func(c string) { DefaultCephConf = c }(DefaultCephConf)
	DefaultCephConf = filepath.Join(t.TempDir(), "no-cluster", "ceph.conf")
	if _, err := s.Setup(t.Context(), testPool{&pool.Pool{}}, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "ceph"}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no Ceph cluster") {
		t.Errorf("no ceph conf: got %v, want ErrUnavailable saying no cluster is configured", err)
	}
	if _, err := s.Setup(t.Context(), testPool{&pool.Pool{}}, Request{Containers: 0, WorkDir: t.TempDir(), Backend: "ceph"}); err == nil {
		t.Errorf("0 containers accepted")
	}
}

// TestUserlevelCephServiceWithoutLibcephfs: a service binary built without
// the ceph tag cannot build cephfs layers; Setup reports D-ceph unavailable
// (the runner then skips the point) and removes the tenant it made.
func TestUserlevelCephServiceWithoutLibcephfs(t *testing.T) {
	conf := testenv.CephConf(t)
	cephServiceBinary(t) // for Check; the service below is the untagged one
	s := checkSystem(t, "D-ceph")
	p := newTestPool(t)
	plain := testenv.Polytropon(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 3, Containers: 1, WorkDir: work, Backend: "ceph",
		Options: dCephOptions(func(o *UserlevelCephOptions) { o.Conf, o.Binary, o.Fuse = conf, plain, false })})
	if err == nil {
		in.Teardown(context.Background())
		t.Fatal("Setup with a service binary without libcephfs succeeded")
	}
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "without libcephfs") {
		t.Errorf("Setup: got %v, want ErrUnavailable naming the missing libcephfs", err)
	}
	if pids := poolPIDsBut(t, p); len(pids) != 0 {
		t.Errorf("processes left in the pool: %v", pids)
	}
	// The tenant was made (the service tried to mount as it) and is gone.
	h := fnv.New32a()
	h.Write([]byte(work))
	tenant := fmt.Sprintf("polytropon-%08x-p3", h.Sum32())
	if !strings.Contains(err.Error(), "client."+tenant) {
		t.Errorf("the service did not try to mount as client.%s: %v", tenant, err)
	}
	if out, err := exec.Command("ceph", "-c", conf, "auth", "get", "client."+tenant).CombinedOutput(); err == nil {
		t.Errorf("client.%s left in the cluster:\n%s", tenant, out)
	}
}

// dCephOptions are D-ceph's default options changed by set.
func dCephOptions(set func(*UserlevelCephOptions)) *UserlevelCephOptions {
	o := (&userlevelCephSystem{}).NewOptions().(*UserlevelCephOptions)
	set(o)
	return o
}
