package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	fsclient "polytropon/fs/client"
	"polytropon/fs/stack"
	"polytropon/fs/union"
	"polytropon/fs/wire"
	"polytropon/internal/testenv"
	"polytropon/internal/units"
	"polytropon/ipc/shm"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(testenv.WriteFile(t, "serve.toml", fmt.Sprintf(`
pool = "p3"
wait = "futex"
buffers = 8
copy = "SMO"
mount_dirs = [%q]

[[instance]]
path = "/data/"
share = true
stack = [{type = "union", branches = [
    {type = "local", dir = %q},
    {type = "local", dir = %q, readonly = true, shared = "image"}]}]
`, dir, dir, dir)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Pool != "p3" || c.Wait != "futex" || c.Buffers != 8 || c.Copy != "SMO" || c.Design != "rcqb" || c.BufferSize != 1<<20 {
		t.Errorf("decoded %+v", c)
	}
	if c.SegmentKey() != wire.SegmentKey("p3") {
		t.Errorf("key %#x, want %#x", c.SegmentKey(), wire.SegmentKey("p3"))
	}
	if l := c.Instances[0].Stack[0].Branches[1]; !l.ReadOnly || l.Shared != "image" {
		t.Errorf("lower branch %+v", l)
	}
}

// TestConfigAdaptiveDefaults: the adaptive wait polls at most 50 µs by
// default (spin-futex keeps its 1 ms), an explicit spin_us wins, and nice
// reaches the configuration.
func TestConfigAdaptiveDefaults(t *testing.T) {
	for _, c := range []struct {
		text string
		spin int
		nice int
	}{
		{"wait = \"adaptive\"\n", 50, 0},
		{"wait = \"adaptive\"\nspin_us = 200\nnice = -10\n", 200, -10},
		{"wait = \"spin-futex\"\n", 1000, 0},
	} {
		cfg, err := LoadConfig(testenv.WriteFile(t, "serve.toml", c.text))
		if err != nil {
			t.Fatalf("%q: %v", c.text, err)
		}
		if cfg.SpinMicros != c.spin || cfg.Nice != c.nice {
			t.Errorf("%q: spin_us %d nice %d, want %d and %d", c.text, cfg.SpinMicros, cfg.Nice, c.spin, c.nice)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for name, text := range map[string]string{
		"unknown key":         "pool = \"x\"\nbufers = 3\n",
		"unknown design":      "design = \"nope\"\n",
		"bad wait":            "wait = \"sleep\"\n",
		"nice out of range":   "nice = 20\n",
		"nice too low":        "nice = -21\n",
		"bad copy":            "copy = \"DMA\"\n",
		"odd buffer size":     "buffer_size = 5000\n",
		"relative local dir":  "[[instance]]\npath = \"/\"\nstack = [{type = \"local\", dir = \"rel\"}]\n",
		"relative mount path": "[[instance]]\npath = \"x\"\nstack = [{type = \"local\", dir = \"/tmp\"}]\n",
		"empty stack":         "[[instance]]\npath = \"/\"\n",
		"empty union":         "[[instance]]\npath = \"/\"\nstack = [{type = \"union\"}]\n",
		"unknown layer":       "[[instance]]\npath = \"/\"\nstack = [{type = \"zfs\"}]\n",
		"twice mounted":       "[[instance]]\npath = \"/a\"\nstack = [{type = \"local\", dir = \"/tmp\"}]\n[[instance]]\npath = \"/a/\"\nstack = [{type = \"local\", dir = \"/tmp\"}]\n",
	} {
		if _, err := LoadConfig(testenv.WriteFile(t, "serve.toml", text)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// newInProcess runs a service in this process (for white-box checks).
func newInProcess(t *testing.T, cfg Config) *Service {
	t.Helper()
	cfg.Key = 1 + int(rand.Int32N(1<<30))
	if cfg.Buffers == 0 {
		cfg.Buffers = 8
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = 64 << 10
	}
	s, err := New(cfg, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func dial(t *testing.T, s *Service) *fsclient.Client {
	t.Helper()
	c, err := fsclient.Dial(context.Background(), fsclient.Options{Key: s.Key()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSharedLowerAndClones: two configured instances and a clone share one
// read-only lower libservice; writes land in each instance's own upper.
func TestSharedLowerAndClones(t *testing.T) {
	base := t.TempDir()
	mk := dirMaker(t, base)
	image, up1, up2, up3 := mk("image"), mk("up1"), mk("up2"), mk("up3")
	os.WriteFile(filepath.Join(image, "lib.so"), []byte("shared image"), 0o644)
	inst := func(p, upper string) InstanceConfig {
		return InstanceConfig{Path: p, Share: true, Stack: []stack.Layer{{Type: "union", Branches: []stack.Layer{
			{Type: "local", Dir: upper}, {Type: "local", Dir: image, ReadOnly: true, Shared: "image"}}}}}
	}
	s := newInProcess(t, Config{MountDirs: []string{base}, Instances: []InstanceConfig{inst("/c1", up1), inst("/c2", up2)}})
	s.mu.RLock()
	var lowers []fs.Service
	for _, in := range s.instances {
		lowers = append(lowers, in.svc.(*union.Union).Unwrap()[1])
	}
	s.mu.RUnlock()
	if len(lowers) != 2 || lowers[0] != lowers[1] {
		t.Fatalf("lower branches %v: want one shared libservice", lowers)
	}
	c := dial(t, s)
	if _, err := c.Mount("/c1/clone", "clone", "upper="+up3, true); err != nil {
		t.Fatal(err)
	}
	if id, err := c.Mount("/c1", "local", "dir="+up3, false); err != nil || id == 0 {
		t.Errorf("full match: id %d err %v, want the existing instance", id, err)
	}
	for _, p := range []string{"/c1", "/c2", "/c1/clone"} {
		v, err := c.FS(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := v.Open(context.Background(), "lib.so", syscall.O_RDWR|syscall.O_APPEND, 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		f.Pwrite([]byte(" via "+p), 0)
		f.Close()
	}
	for upper, want := range map[string]string{up1: "shared image via /c1", up2: "shared image via /c2", up3: "shared image via /c1/clone"} {
		if got, _ := os.ReadFile(filepath.Join(upper, "lib.so")); string(got) != want {
			t.Errorf("%s/lib.so = %q, want %q", upper, got, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(image, "lib.so")); string(got) != "shared image" {
		t.Errorf("the shared image changed: %q", got)
	}
	// Unmounting the clone's parent keeps it alive for the clone.
	if err := c.Umount("/c1"); err != nil {
		t.Fatal(err)
	}
	v, _ := c.FS("/c1/clone")
	if _, err := v.Stat(context.Background(), "lib.so"); err != nil {
		t.Errorf("clone after its parent was unmounted: %v", err)
	}
	if _, _, err := c.Resolve("/c1/x"); !errors.Is(err, fsclient.ErrNotOurs) {
		t.Errorf("unmounted path still resolves: %v", err)
	}
	if err := c.Umount("/c1/clone"); err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	n := len(s.instances)
	s.mu.RUnlock()
	if n != 1 {
		t.Errorf("%d instances left, want 1 (/c2)", n)
	}
}

func TestMountRules(t *testing.T) {
	base := t.TempDir()
	s := newInProcess(t, Config{MountDirs: []string{filepath.Join(base, "ok")},
		Instances: []InstanceConfig{{Path: "/plain", Stack: []stack.Layer{{Type: "local", Dir: base}}}}})
	os.MkdirAll(filepath.Join(base, "ok", "d"), 0o755)
	os.Symlink("/etc", filepath.Join(base, "ok", "link"))
	c := dial(t, s)
	for _, tc := range []struct {
		path, typ, opts string
		share           bool
		want            syscall.Errno
	}{
		{"/m1", "local", "dir=" + filepath.Join(base, "ok", "d"), false, 0},
		{"/m2", "local", "dir=" + filepath.Join(base, "ok", "link"), false, syscall.EACCES}, // symlink out
		{"/m3", "local", "dir=" + filepath.Join(base, "ok", "..", "ok", "..", "x"), false, syscall.EACCES},
		{"/m4", "local", "dir=relative", false, syscall.EACCES},
		{"/plain/c", "clone", "upper=" + filepath.Join(base, "ok", "d"), true, syscall.EPERM}, // parent not shareable
		{"/m5", "clone", "upper=" + filepath.Join(base, "ok", "d"), true, syscall.EPERM},      // no parent
		{"rel", "local", "dir=" + filepath.Join(base, "ok", "d"), false, syscall.EINVAL},
		{"/m6", "local", "dir", false, syscall.EINVAL},
	} {
		_, err := c.Mount(tc.path, tc.typ, tc.opts, tc.share)
		if fs.Errno(err) != tc.want && !(tc.want == 0 && err == nil) {
			t.Errorf("mount %s %s %s: %v, want %v", tc.path, tc.typ, tc.opts, err, tc.want)
		}
	}
	if err := c.Umount("/nope"); fs.Errno(err) != syscall.EINVAL {
		t.Errorf("umount of a non-mount: %v", err)
	}
	// The mount table fills up.
	small := newInProcess(t, Config{Mounts: 2, MountDirs: []string{base}})
	c2 := dial(t, small)
	var last error
	for i := 0; i < 3; i++ {
		_, last = c2.Mount(fmt.Sprintf("/x%d", i), "local", "dir="+base, false)
	}
	if fs.Errno(last) != syscall.ENOSPC {
		t.Errorf("third mount in a 2-entry table: %v, want ENOSPC", last)
	}
}

func TestSegmentOwnership(t *testing.T) {
	s := newInProcess(t, Config{})
	if _, err := New(Config{Key: s.Key(), Buffers: 8, BufferSize: 65536}, &bytes.Buffer{}); !errors.Is(err, ErrRunning) {
		t.Errorf("second service on a live key: %v, want ErrRunning", err)
	}
	key := s.Key()
	s.Stop()
	if _, err := shm.Open(key); err == nil {
		t.Error("segment still there after Stop")
	}
	// A leftover segment of a dead service is replaced.
	l, _ := wire.NewLayout(wire.Params{QueueDesign: "rcqb", QueueBytes: 4096, NumQueues: 1, NumMounts: 1,
		NumClients: 1, NumBuffers: 1, DataSize: 4096})
	seg, err := shm.Create(key, int(l.SegmentSize))
	if err != nil {
		t.Fatal(err)
	}
	wire.Format(seg.Bytes(), l, 0x7ffffff0) // a pid that does not exist
	seg.Detach()
	s2, err := New(Config{Key: key, Buffers: 8, BufferSize: 65536}, &bytes.Buffer{})
	if err != nil {
		seg.Remove()
		t.Fatalf("replacing a dead service's segment: %v", err)
	}
	s2.Stop()
}

func TestCoreGroups(t *testing.T) {
	qmap, n, err := coreGroups([]int{0, 1, 2, 5}, 2)
	if err != nil || n != 2 || len(qmap) != 6 {
		t.Fatalf("got %v %d %v", qmap, n, err)
	}
	if qmap[0] != 0 || qmap[1] != 1 || qmap[2] != 0 || qmap[5] != 1 {
		t.Errorf("queue map %v", qmap)
	}
	qmap, n, err = coreGroups(nil, 0)
	if err != nil || n < 1 {
		t.Fatalf("affinity groups: %v %d %v", qmap, n, err)
	}
	for cpu, q := range qmap {
		if int(q) >= n {
			t.Errorf("cpu %d maps to queue %d of %d", cpu, q, n)
		}
	}
}

func TestCacheLayer(t *testing.T) {
	dir := t.TempDir()
	s := newInProcess(t, Config{Instances: []InstanceConfig{{Path: "/c", Stack: []stack.Layer{
		{Type: "cache", Cache: &stack.CacheOptions{Capacity: 4 << 20, WriteThrough: true, DirtyExpire: units.Duration(time.Second)}},
		{Type: "local", Dir: dir}}}}})
	c := dial(t, s)
	v, err := c.FS("/c")
	if err != nil {
		t.Fatal(err)
	}
	f, err := v.Open(context.Background(), "x", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Pwrite([]byte("cached"), 0)
	f.Close()
	if got, _ := os.ReadFile(filepath.Join(dir, "x")); string(got) != "cached" {
		t.Errorf("write-through cache left %q on disk", got)
	}
	s.mu.RLock()
	for _, in := range s.instances {
		if _, ok := in.svc.(fs.Unwrapper); !ok {
			t.Errorf("instance %s top is %T, want the cache wrapper", in.path, in.svc)
		}
	}
	s.mu.RUnlock()
	for name, l := range map[string][]stack.Layer{
		"cephfs settings": {{Type: "cache", CephFS: &stack.CephFSOptions{Conf: "/c"}}, {Type: "local", Dir: dir}},
		"no below":        {{Type: "cache"}},
	} {
		_, err := New(Config{Key: 1 + int(rand.Int32N(1<<30)), Buffers: 4, BufferSize: 65536,
			Instances: []InstanceConfig{{Path: "/", Stack: l}}}, &bytes.Buffer{})
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	// The cache's settings in a configuration file: typed and strict.
	layer := func(settings string) string {
		return fmt.Sprintf("[[instance]]\npath = \"/\"\nstack = [{type = \"cache\", cache = {%s}}, {type = \"local\", dir = %q}]\n", settings, dir)
	}
	cfg, err := LoadConfig(testenv.WriteFile(t, "serve.toml", layer(`capacity = "4M", write_through = true, dirty_expire = "1s", attr_timeout = "-1s"`)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := *cfg.Instances[0].Stack[0].Cache, (stack.CacheOptions{Capacity: 4 << 20, WriteThrough: true,
		DirtyExpire: units.Duration(time.Second), AttrTimeout: units.Duration(-time.Second)}); got != want {
		t.Errorf("cache settings %+v, want %+v", got, want)
	}
	for name, settings := range map[string]string{
		"bad option":    `colour = "red"`,
		"bad size":      `capacity = "lots"`,
		"bare duration": `dirty_expire = 1`,
	} {
		if _, err := LoadConfig(testenv.WriteFile(t, "serve.toml", layer(settings))); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
