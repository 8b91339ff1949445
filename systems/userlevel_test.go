package systems

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs/fuse"
	"polytropon/fs/service"
	"polytropon/fs/wire"
	"polytropon/internal/testenv"
	"polytropon/internal/units"
	"polytropon/ipc/shm"
	"polytropon/runner/pool"
)

// userlevelHelperEnv turns the test binary into a Go workload inside a pool
// (an init function, so it works whatever TestMain the package has).
const userlevelHelperEnv = "POLYTROPON_SYSTEMS_D_HELPER"

func init() {
	if os.Getenv(userlevelHelperEnv) == "" {
		return
	}
	if err := userlevelHelper(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// userlevelHelper opens the container's filesystem through the "client"
// opener and, by $HELPER_MODE: "put" writes stdin to $NAME (mode 0755),
// "get" prints $NAME, default: reads the image file, writes its own file.
func userlevelHelper() error {
	var c Container
	if err := json.Unmarshal([]byte(os.Getenv("CONTAINER")), &c); err != nil {
		return err
	}
	ctx := context.Background()
	svc, err := OpenFS(ctx, c)
	if err != nil {
		return err
	}
	defer svc.Close()
	switch name := os.Getenv("NAME"); os.Getenv("HELPER_MODE") {
	case "put":
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		if dir := filepath.Dir(name); dir != "." {
			if err := svc.Mkdir(ctx, dir, 0o755); err != nil && !errors.Is(err, syscall.EEXIST) {
				return err
			}
		}
		f, err := svc.Open(ctx, name, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if _, err := f.Pwrite(data, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	case "get":
		st, err := svc.Stat(ctx, name)
		if err != nil {
			return err
		}
		f, err := svc.Open(ctx, name, syscall.O_RDONLY, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, st.Size)
		n, err := f.Pread(buf, 0)
		if n != len(buf) {
			return fmt.Errorf("read %d of %d bytes of %s: %v", n, len(buf), name, err)
		}
		_, err = os.Stdout.Write(buf)
		return err
	}
	f, err := svc.Open(ctx, "image.txt", syscall.O_RDONLY, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, _ := f.Pread(buf, 0)
	f.Close()
	w, err := svc.Open(ctx, "mine.txt", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	w.Pwrite([]byte(os.Getenv("WHO")), 0)
	w.Close()
	fmt.Printf("image=%q\n", buf[:n])
	return nil
}

func TestUserlevelSetupTeardown(t *testing.T) {
	p := newTestPool(t)
	bin := testenv.Polytropon(t)
	s, err := Lookup("D")
	if err != nil {
		t.Fatal(err)
	}
	lower := t.TempDir()
	os.WriteFile(filepath.Join(lower, "image.txt"), []byte("from the image"), 0o644)
	work := t.TempDir()
	opts := dOptions(func(o *UserlevelOptions) {
		o.Binary, o.Pin, o.Buffers, o.BufferSize, o.Cache, o.CacheLayer.Capacity = bin, true, 8, 65536, new(true), 8<<20
	})
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower, Backend: "local", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	// The options are shared by every pool of an experiment: Setup picks
	// the pool's wait strategy without changing them.
	if opts.Wait != "" {
		t.Errorf("Setup changed the request's options: wait %q", opts.Wait)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	for i := 0; i < 2; i++ {
		c := in.Container(i)
		if c.FS.Kind != ClientKind || !strings.HasPrefix(c.Dir, work) {
			t.Errorf("container %d: %+v", i, c)
		}
		clientReadsImage(t, p, c, fmt.Sprintf("container%d", i))
	}
	// The segment lives in the pool's IPC namespace, not the host's.
	if seg, err := shm.Open(wire.SegmentKey(p.Name())); err == nil {
		seg.Detach()
		t.Error("the pool's service segment is visible from the host namespace")
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("teardown: %v", err)
	}
	// The cache (write-back) flushed on teardown at the latest.
	for i := 0; i < 2; i++ {
		got, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("c%d", i), "upper", "mine.txt"))
		if err != nil || string(got) != fmt.Sprintf("container%d", i) {
			t.Errorf("container %d upper: %q %v", i, got, err)
		}
	}
	if ents, _ := os.ReadDir(lower); len(ents) != 1 {
		t.Errorf("the shared image has %d entries, want 1 (unchanged)", len(ents))
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func TestUserlevelRejectsBadRequests(t *testing.T) {
	for name, req := range map[string]Request{
		"other options":   {Containers: 1, WorkDir: t.TempDir(), Options: &KernelOptions{Size: 1 << 30}},
		"no containers":   {Containers: 0, WorkDir: t.TempDir()},
		"bad backend":     {Containers: 1, WorkDir: t.TempDir(), Backend: "nfs"},
		"bad buffers":     {Containers: 1, WorkDir: t.TempDir(), Options: dOptions(func(o *UserlevelOptions) { o.Buffers = -1 })},
		"cache opts only": {Containers: 1, WorkDir: t.TempDir(), Options: dOptions(func(o *UserlevelOptions) { o.Cache, o.CacheLayer.Capacity = new(false), 1<<20 })},
		"missing lower":   {Containers: 1, WorkDir: t.TempDir(), Lower: "/nonexistent/image"},
	} {
		s := &userlevelSystem{}
		if _, err := s.Setup(t.Context(), nil, req); err == nil {
			t.Errorf("%s: Setup succeeded", name)
		}
	}
	// The generated configuration with a cache validates and round-trips.
	cfg, cs, err := userlevelConfig("D", "p1", "/lib/libpolytropon.so",
		dOptions(func(o *UserlevelOptions) {
			o.Cache, o.CacheLayer.Capacity, o.CacheLayer.MaxDirty = new(true), 64<<20, 8<<20
			o.CacheLayer.WritebackInterval, o.CacheLayer.Policy = units.Duration(2*time.Second), "lru"
		}),
		Request{Containers: 2, WorkDir: t.TempDir(), Lower: t.TempDir()}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Over an image: the union is uncached, over cache tenants of the
	// service's client cache pool, the image's shared by every clone.
	for i, in := range cfg.Instances {
		if len(in.Stack) != 1 || in.Stack[0].Type != "union" || len(in.Stack[0].Branches) != 2 {
			t.Fatalf("instance %d: stack %+v, want one union", i, in.Stack)
		}
		up, img := in.Stack[0].Branches[0], in.Stack[0].Branches[1]
		if up.Type != "cache" || up.Cache.Pool != clientCachePool || up.Cache.Tenant != fmt.Sprintf("c%d", i) ||
			up.Cache.Capacity != 64<<20 || up.Cache.PoolCapacity != 3*64<<20 || len(up.Over) != 1 || up.Over[0].Dir != filepath.Dir(cs[i].Dir)+"/upper" {
			t.Errorf("instance %d: writable branch %+v (cache %+v)", i, up, up.Cache)
		}
		// The per-tenant settings are each tenant's; the policy is the pool's.
		if c := up.Cache; c.MaxDirty != 8<<20 || c.WritebackInterval != units.Duration(2*time.Second) || c.PoolPolicy != "lru" || c.Policy != "" {
			t.Errorf("instance %d: tenant settings %+v", i, c)
		}
		if img.Type != "cache" || img.Shared != "image" || img.Cache.Tenant != "image" || len(img.Over) != 1 || !img.Over[0].ReadOnly {
			t.Errorf("instance %d: image branch %+v", i, img)
		}
	}
	var text bytes.Buffer
	if err := toml.NewEncoder(&text).Encode(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := service.LoadConfig(testenv.WriteFile(t, "serve.toml", text.String())); err != nil {
		t.Errorf("the generated configuration does not load: %v\n%s", err, text.String())
	}
	if in := cfg.Instances[1]; in.Fuse.Mountpoint(in.Path) != cs[1].Dir || in.FuseKernelCache {
		t.Errorf("instance %s: FUSE at %q (kernel cache %v), want at the container dir %s without kernel cache", in.Path, in.Fuse.Mountpoint(in.Path), in.FuseKernelCache, cs[1].Dir)
	}
	if env := strings.Join(cs[1].ProcEnv, " "); cs[1].FS.Options["pool"] != "p1" || env != "LD_PRELOAD=/lib/libpolytropon.so POLYTROPON_POOL=p1 POLYTROPON_MOUNTS="+cs[1].Dir {
		t.Errorf("container %+v", cs[1])
	}
	cfg, _, err = userlevelConfig("D", "p1", "/lib/libpolytropon.so", dOptions(func(o *UserlevelOptions) { o.Fuse = false }),
		Request{Containers: 1, WorkDir: t.TempDir()}, "")
	if err != nil || cfg.Instances[0].Fuse.Enabled() {
		t.Errorf("fuse = false: %+v %v", cfg.Instances, err)
	}
	if _, err := toml.Decode("fuse = \"maybe\"\n", (&userlevelSystem{}).NewOptions()); err == nil {
		t.Errorf("fuse = maybe accepted")
	}
}

// TestUserlevelDualInterface: in a real pool, programs run with D's
// ProcEnv (the preload library over shared memory), programs run without
// it (the kernel, through the service's FUSE mount at the same path) and
// the Go client see the same files; binaries placed in the container by
// the client run; teardown leaves no mount.
func TestUserlevelDualInterface(t *testing.T) {
	p := newTestPool(t)
	testenv.RequireFUSE(t)
	lib, err := preloadLibrary("")
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	bin := testenv.Polytropon(t)
	s, _ := Lookup("D")
	lower := t.TempDir()
	os.WriteFile(filepath.Join(lower, "image.txt"), []byte("from the image"), 0o644)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 1, WorkDir: work, Lower: lower, Backend: "local",
		Options: dOptions(func(o *UserlevelOptions) {
			o.Binary, o.Buffers, o.BufferSize, o.Cache, o.CacheLayer.Capacity = bin, 8, 65536, new(true), 8<<20
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	c := in.Container(0)
	if !slices.Contains(c.ProcEnv, "LD_PRELOAD="+lib) || !slices.Contains(c.ProcEnv, "POLYTROPON_POOL="+p.Name()) {
		t.Errorf("ProcEnv %q", c.ProcEnv)
	}
	poolInfo := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	if ok, _ := fuse.IsMounted(poolInfo, c.Dir); !ok {
		t.Fatalf("%s is not FUSE-mounted in the pool", c.Dir)
	}
	if ok, _ := fuse.IsMounted("/proc/self/mountinfo", c.Dir); ok {
		t.Errorf("the pool's FUSE mount %s is visible on the host", c.Dir)
	}
	js, _ := json.Marshal(c)
	// run starts argv in the pool in the container dir; preloaded: with
	// ProcEnv.
	run := func(preloaded bool, stdin []byte, argv ...string) string {
		t.Helper()
		env := os.Environ()
		if preloaded {
			env = append(env, c.ProcEnv...)
		}
		var out, errb bytes.Buffer
		err := p.Run(t.Context(), pool.Cmd{Path: argv[0], Args: argv, Env: env, Dir: c.Dir,
			Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("%q (preloaded %v): %v\n%s", argv, preloaded, err, errb.String())
		}
		return out.String()
	}
	goClient := func(mode, name string, stdin []byte) string {
		t.Helper()
		var out, errb bytes.Buffer
		err := p.Run(t.Context(), pool.Cmd{Path: os.Args[0], Args: []string{os.Args[0], "-test.run=^$"},
			Env:   append(os.Environ(), userlevelHelperEnv+"=1", "CONTAINER="+string(js), "HELPER_MODE="+mode, "NAME="+name),
			Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("Go client %s %s: %v\n%s", mode, name, err, errb.String())
		}
		return out.String()
	}

	// The library is loaded, and what it writes the Go client reads.
	if got := run(true, nil, "sh", "-c", "echo hi > f; cat f; grep -q libpolytropon.so /proc/self/maps && echo preloaded"); got != "hi\npreloaded\n" {
		t.Errorf("preloaded shell printed %q", got)
	}
	if got := goClient("get", "f", nil); got != "hi\n" {
		t.Errorf("Go client read %q", got)
	}
	// What the kernel path writes (no library: FUSE) the others read.
	run(false, nil, "sh", "-c", "echo kernel > g")
	if got := goClient("get", "g", nil); got != "kernel\n" {
		t.Errorf("Go client read %q of a file written through FUSE", got)
	}
	if got := run(true, nil, "cat", "g", "image.txt"); got != "kernel\nfrom the image" {
		t.Errorf("preloaded cat printed %q", got)
	}
	// Data written by the Go client hashes the same on both paths.
	data := make([]byte, 300<<10)
	rand.Read(data)
	goClient("put", "data.bin", data)
	want := fmt.Sprintf("%x  data.bin\n", sha256.Sum256(data))
	for _, preloaded := range []bool{true, false} {
		if got := run(preloaded, nil, "sha256sum", "data.bin"); got != want {
			t.Errorf("sha256sum (preloaded %v) = %q, want %q", preloaded, got, want)
		}
	}
	// A binary placed in the container by the client runs (the kernel
	// loads it through the FUSE mount), started from either kind of
	// process.
	echo, err := exec.LookPath("echo")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := os.ReadFile(echo)
	if err != nil {
		t.Fatal(err)
	}
	goClient("put", "bin/echo", prog)
	if got := run(false, nil, filepath.Join(c.Dir, "bin/echo"), "exec", "works"); got != "exec works\n" {
		t.Errorf("exec from the kernel side printed %q", got)
	}
	if got := run(true, nil, "sh", "-c", "./bin/echo from a preloaded shell"); got != "from a preloaded shell\n" {
		t.Errorf("exec from a preloaded shell printed %q", got)
	}

	// (That the service answers the userlock collector through
	// Request.ServiceEnv is checked where the runner passes it: runner
	// TestRun's user_lock_wait_seconds for D and F.)
	sp, ok := in.(interface{ ServicePIDs() []int })
	if !ok || len(sp.ServicePIDs()) != 1 {
		t.Fatalf("D's instance does not report its service pid")
	}

	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("teardown: %v", err)
	}
	if ok, _ := fuse.IsMounted(poolInfo, c.Dir); ok {
		t.Errorf("%s still mounted in the pool after teardown", c.Dir)
	}
	if pids := sp.ServicePIDs(); len(pids) != 0 {
		t.Errorf("service pids %v after teardown", pids)
	}
	// Everything reached the container's private branch.
	if got, _ := os.ReadFile(filepath.Join(work, "c0", "upper", "g")); string(got) != "kernel\n" {
		t.Errorf("upper branch g = %q", got)
	}
}

// TestUserlevelKilledService: a service killed with SIGKILL cannot unmount
// its FUSE mounts; Teardown reports the crash and removes them from the
// pool.
func TestUserlevelKilledService(t *testing.T) {
	p := newTestPool(t)
	testenv.RequireFUSE(t)
	lib, err := preloadLibrary("")
	if errors.Is(err, ErrUnavailable) {
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Lookup("D")
	in, err := s.Setup(t.Context(), p, Request{Containers: 2, WorkDir: t.TempDir(), Backend: "local",
		Options: dOptions(func(o *UserlevelOptions) {
			o.Binary, o.Preload, o.Buffers, o.BufferSize = testenv.Polytropon(t), lib, 8, 65536
		})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	ul := in.(*userlevelInstance)
	ul.proc.Signal(syscall.SIGKILL)
	ul.proc.Wait()
	poolInfo := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	for i := 0; i < 2; i++ {
		if ok, _ := fuse.IsMounted(poolInfo, in.Container(i).Dir); !ok {
			t.Fatalf("container %d: no FUSE mount left by the killed service, nothing to test", i)
		}
	}
	// The crash is reported; the dead mounts are removed all the same.
	if err := in.Teardown(context.Background()); err == nil || !strings.Contains(err.Error(), "exited with") {
		t.Errorf("teardown after the service was killed: got %v, want the service's failure reported", err)
	}
	for i := 0; i < 2; i++ {
		if ok, _ := fuse.IsMounted(poolInfo, in.Container(i).Dir); ok {
			t.Errorf("container %d: %s still mounted after teardown", i, in.Container(i).Dir)
		}
	}
}

func TestUserlevelDefaultWait(t *testing.T) {
	for _, tc := range []struct {
		opts ServiceOptions
		want string
	}{
		{ServiceOptions{}, "adaptive"},                                // one strategy for owned, shared and single cores
		{ServiceOptions{Wait: "spin"}, "spin"},                        // the experiment's choice wins
		{ServiceOptions{Wait: "futex"}, "futex"},                      //
		{ServiceOptions{Buffers: 8, Pin: true, Nice: -5}, "adaptive"}, // other options kept
	} {
		got := withDefaultWait(tc.opts)
		if got.Wait != tc.want {
			t.Errorf("withDefaultWait(%+v): wait %q, want %q", tc.opts, got.Wait, tc.want)
		}
		if got.Wait = tc.opts.Wait; got != tc.opts {
			t.Errorf("options changed: got %+v, want %+v", got, tc.opts)
		}
	}
	if o := defaultUserlevelOptions(); o.Nice != defaultServiceNice || o.serviceConfig("p").Nice != defaultServiceNice {
		t.Errorf("D's service threads: nice %d (config %d), want %d", o.Nice, o.serviceConfig("p").Nice, defaultServiceNice)
	}
}

// dOptions are D's default options changed by set.
func dOptions(set func(*UserlevelOptions)) *UserlevelOptions {
	o := defaultUserlevelOptions()
	set(o)
	return o
}

// TestUserlevelBranchesOnOwnExt4: by default D keeps the containers'
// writable branches on the pool's own ext4 filesystem (a loop device with
// direct I/O on a sparse image, as K's data), not on the host's: what a
// container writes through its mount lands there, and teardown leaves no
// mount, loop device or image.
func TestUserlevelBranchesOnOwnExt4(t *testing.T) {
	checkSystem(t, "K") // the same needs: root, losetup, mkfs.ext4
	p := newTestPool(t)
	bin := testenv.Polytropon(t)
	s, _ := Lookup("D")
	o := s.NewOptions().(*UserlevelOptions)
	if o.Ext4ImageSize != defaultExt4ImageSize {
		t.Fatalf("D's default ext4_image_size = %v, want %v", o.Ext4ImageSize, defaultExt4ImageSize)
	}
	o.Binary, o.Ext4ImageSize = bin, 256<<20
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Backend: "local", Options: o})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	devs := loopsOf(t, work)
	if len(devs) != 1 || !loopDirectIO(devs[0]) {
		t.Fatalf("loop devices backed by the work dir: %v (direct I/O: %v), want one with direct I/O", devs, len(devs) == 1 && loopDirectIO(devs[0]))
	}
	img := filepath.Join(work, "mnt")
	poolInfo := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	if got := mountsUnder(t, poolInfo, img); len(got) != 1 {
		t.Fatalf("mounts of the branches' filesystem in the pool: %v, want %s", got, img)
	}
	for i := 0; i < 2; i++ {
		c := in.Container(i)
		if out, err := inPool(t, p, fmt.Sprintf("echo c%d > %s/f && stat -f -c %%T %s/c%d/upper", i, c.Dir, img, i)); err != nil || out != "ext2/ext3\n" {
			t.Fatalf("container %d: write through FUSE, stat of its branch: %q %v", i, out, err)
		}
		data, err := os.ReadFile(p.HostPath(filepath.Join(img, fmt.Sprintf("c%d", i), "upper", "f")))
		if err != nil || string(data) != fmt.Sprintf("c%d\n", i) {
			t.Errorf("container %d's branch on the image: %q %v", i, data, err)
		}
		if _, err := os.Stat(filepath.Join(work, fmt.Sprintf("c%d", i), "upper")); err == nil {
			t.Errorf("container %d has a branch on the host's filesystem too", i)
		}
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if devs := loopsOf(t, work); len(devs) != 0 {
		t.Errorf("loop devices left: %v", devs)
	}
	if got := mountsUnder(t, poolInfo, work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if _, err := os.Stat(filepath.Join(work, "ext4.img")); err == nil {
		t.Error("the image file is left")
	}
}
