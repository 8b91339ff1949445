package systems

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"polytropon/fs/client"
	"polytropon/fs/fstest"
	"polytropon/fs/service"
)

// TestDefaultStackClones: D's default configuration over an image, served
// by a service in this process: two containers and a clone MOUNTed below
// one of them read the image from one copy in the client cache pool, and
// the clone writes its own branch under the pool's directory.
func TestDefaultStackClones(t *testing.T) {
	lower, work := t.TempDir(), t.TempDir()
	image := bytes.Repeat([]byte("image page "), 40000) // 440 KB: 7 pages of 64 KiB
	os.WriteFile(filepath.Join(lower, "image.bin"), image, 0o644)
	cfg, cs, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", dOptions(func(o *UserlevelOptions) { o.Fuse = false }),
		Request{Containers: 2, WorkDir: work, Lower: lower}, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pool, cfg.Key, cfg.Pin = "", 1+int(rand.Int32N(1<<30)), false
	svc, err := service.New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(func() { svc.Stop() })
	c, err := client.Dial(context.Background(), client.Options{Key: cfg.Key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	upper := filepath.Join(work, "clone-upper")
	os.MkdirAll(upper, 0o755)
	clone := cs[0].Dir + "/clone"
	if _, err := c.Mount(clone, "clone", "upper="+upper, true); err != nil {
		t.Fatalf("clone MOUNT on D's default instance: %v", err)
	}
	if _, err := c.Mount(cs[0].Dir+"/escape", "clone", "upper="+t.TempDir(), true); err == nil {
		t.Error("a clone MOUNT over a directory outside the pool's was accepted")
	}
	for _, root := range []string{cs[0].Dir, cs[1].Dir, clone} {
		v, err := c.FS(root)
		if err != nil {
			t.Fatal(err)
		}
		if got := fstest.ReadFile(t, v, "image.bin"); !bytes.Equal(got, image) {
			t.Fatalf("%s: read %d bytes, not the image", root, len(got))
		}
	}
	v, _ := c.FS(clone)
	fstest.WriteFile(t, v, "mine", []byte("clone"))
	if got, _ := os.ReadFile(filepath.Join(upper, "mine")); string(got) != "clone" {
		t.Errorf("the clone's branch holds %q", got)
	}
	if err := c.Umount(clone); err != nil {
		t.Fatal(err)
	}
}
