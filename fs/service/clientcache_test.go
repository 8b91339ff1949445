package service

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"polytropon/fs/fstest"
	"polytropon/fs/stack"
)

// clientCachedClone is D's default stack over a shared image
// (systems/userlevel_clientcache.go): a union over cache tenants of one
// pool, the image's built once.
func clientCachedClone(pool, tenant, upper, image string) []stack.Layer {
	opts := func(name string) *stack.CacheOptions {
		return &stack.CacheOptions{Pool: pool, Tenant: name, PoolCapacity: 8 << 20}
	}
	return []stack.Layer{{Type: stack.Union, Branches: []stack.Layer{
		{Type: stack.Cache, Cache: opts(tenant), Over: []stack.Layer{{Type: stack.Local, Dir: upper, ODirect: true}}},
		{Type: stack.Cache, Cache: opts("image"), Shared: "image",
			Over: []stack.Layer{{Type: stack.Local, Dir: image, ReadOnly: true, ODirect: true}}},
	}}}
}

// TestClientCacheSharedByClones: four clones of one image, each a union
// over its own cache tenant and the image's, read the whole image; the
// pool holds one copy of it (pages and misses counted), and a clone
// MOUNTed below one of them reads it from that copy and writes its own
// branch through a new tenant of the same pool.
func TestClientCacheSharedByClones(t *testing.T) {
	base := t.TempDir()
	mk := dirMaker(t, base)
	image := mk("image")
	const pageSize, pages = 64 << 10, 24 // the pool's default page size; a 1.5 MiB image
	data := make([]byte, pages*pageSize)
	for i := range data {
		data[i] = byte(i*7 + i>>16)
	}
	if err := os.WriteFile(filepath.Join(image, "image.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	pool := fmt.Sprintf("client-test-%d", rand.Int64())
	const clones = 4
	cfg := Config{MountDirs: []string{base}}
	for i := range clones {
		cfg.Instances = append(cfg.Instances, InstanceConfig{Path: fmt.Sprintf("/c%d", i), Share: true,
			Stack: clientCachedClone(pool, fmt.Sprintf("c%d", i), mk(fmt.Sprintf("up%d", i)), image)})
	}
	s := newInProcess(t, cfg)
	c := dial(t, s)
	readImage := func(p string) {
		t.Helper()
		v, err := c.FS(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fstest.ReadFile(t, v, "image.bin"); !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes, not the image", p, len(got))
		}
	}
	np := s.stacks.CachePool(pool)
	if np == nil {
		t.Fatalf("no cache pool %q", pool)
	}
	count := func() (image, others int, misses int64) {
		for _, st := range np.Stats() {
			if st.Name == "image" {
				image, misses = st.Pages, st.Misses
			} else {
				others += st.Pages
			}
		}
		return
	}
	// The first clone fills the image's pages (read-ahead may add a few
	// past its end); the others find them.
	readImage("/c0")
	img1, others, misses1 := count()
	if img1 < pages || misses1 < pages || others != 0 {
		t.Fatalf("after one clone read the image: image tenant owns %d pages (%d misses), others %d; want >= %d, none elsewhere",
			img1, misses1, others, pages)
	}
	for i := 1; i < clones; i++ {
		readImage(fmt.Sprintf("/c%d", i))
	}
	img, others, misses := count()
	if img != img1 || others != 0 || misses != misses1 {
		t.Fatalf("after %d clones read the image: image tenant owns %d pages (%d misses), others %d; want the first clone's %d pages (%d misses), none elsewhere",
			clones, img, misses, others, img1, misses1)
	}
	if n := len(np.Stats()); n != clones+1 {
		t.Errorf("pool has %d tenants, want %d clones + the image", n, clones+1)
	}

	// A clone MOUNTed below a clone-of-image instance (D's default stack,
	// a union on top) reads the image from the same pages.
	up := mk("up-mounted")
	if _, err := c.Mount("/c0/clone", "clone", "upper="+up, true); err != nil {
		t.Fatalf("clone MOUNT on a client-cached union: %v", err)
	}
	readImage("/c0/clone")
	if img2, _, misses2 := count(); img2 != img1 || misses2 != misses1 {
		t.Errorf("after the MOUNTed clone read the image: %d pages, %d misses; want %d and %d", img2, misses2, img1, misses1)
	}
	v, err := c.FS("/c0/clone")
	if err != nil {
		t.Fatal(err)
	}
	fstest.WriteFile(t, v, "mine", []byte("clone's own")) // close-to-open: written back to the clone's branch
	if got, _ := os.ReadFile(filepath.Join(up, "mine")); string(got) != "clone's own" {
		t.Errorf("the MOUNTed clone's branch holds %q", got)
	}
	found := false
	for _, st := range np.Stats() {
		found = found || st.Name == "/c0/clone"
	}
	if !found {
		t.Errorf("the MOUNTed clone's branch is no tenant of pool %q: %+v", pool, np.Stats())
	}
	if err := c.Umount("/c0/clone"); err != nil {
		t.Fatal(err)
	}
}

// TestCloneOfPlainInstance: a clone MOUNTed below an instance that is no
// union sees that instance's files as its read-only lower branch.
func TestCloneOfPlainInstance(t *testing.T) {
	base := t.TempDir()
	parent, up := filepath.Join(base, "parent"), filepath.Join(base, "up")
	for _, d := range []string{parent, up} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(parent, "f"), []byte("parent's"), 0o644)
	s := newInProcess(t, Config{MountDirs: []string{base}, Instances: []InstanceConfig{{Path: "/p", Share: true,
		Stack: []stack.Layer{{Type: stack.Cache}, {Type: stack.Local, Dir: parent}}}}})
	c := dial(t, s)
	if _, err := c.Mount("/p/clone", "clone", "upper="+up, true); err != nil {
		t.Fatalf("clone of a cache-over-local instance: %v", err)
	}
	v, _ := c.FS("/p/clone")
	f, err := v.Open(context.Background(), "f", syscall.O_RDWR|syscall.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Pwrite([]byte(" and the clone's"), 0)
	f.Close()
	if got, _ := os.ReadFile(filepath.Join(up, "f")); string(got) != "parent's and the clone's" {
		t.Errorf("clone's branch: %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(parent, "f")); string(got) != "parent's" {
		t.Errorf("the parent changed: %q", got)
	}
}

// dirMaker returns a function making directories under base.
func dirMaker(t *testing.T, base string) func(name string) string {
	return func(name string) string {
		t.Helper()
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
}
