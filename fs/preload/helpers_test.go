package preload_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/fuse"
	"polytropon/fs/preload"
	"polytropon/fs/service/servicetest"
	"polytropon/internal/testenv"
)

// libPath is the preload library, built by TestMain.
var libPath string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	var err error
	if libPath, err = preload.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// pool is a running "polytropon serve" with one instance: a union of a
// private writable branch over a shared read-only lower branch, mounted at
// Root (a real, empty host directory, as system D sets it up). With Via
// fuse the service also mounts the instance with FUSE on Root (the legacy
// interface, docs/dual-interface.md) and programs run without the library.
// With poolOpts.instances it has one such instance per name instead, at
// Root/name with the writable branch Upper/name.
type pool struct {
	*servicetest.Service
	Root  string // mount path (or the directory of the mount paths)
	Upper string // writable branch (host dir; or the directory of the branches)
	Lower string // read-only shared branch (host dir)
	Via   access
}

type poolOpts struct {
	lower   func(dir string) // fills the lower branch before the start
	args    []string         // extra serve flags
	bufSize int              // data area per buffer (0: 256 KiB)
	via     access           // how programs reach the instance ("": preload)
	base    string           // directory for Root and the branches (default: a temporary one)
	// dStack builds system D's default stack instead of the bare union:
	// the client cache (fs/cache) over the union, both branches opened
	// O_DIRECT (systems/userlevel.go), so no kernel page cache is used.
	dStack bool
	// instances, when set, replaces the one instance at Root by one per
	// name, mounted at Root/name with its own writable branch Upper/name
	// over the shared lower branch.
	instances []string
}

// access is how programs reach the instance: through the preload library
// over shared memory (the default interface), on the bare union or on
// system D's default stack (poolOpts.dStack), or through the service's own
// FUSE mount of the same instance (the legacy interface), no LD_PRELOAD.
type access string

const (
	viaPreload  access = "preload"
	viaPreloadD access = "preload-D" // preload, D's default stack (client cache, O_DIRECT branches)
	viaFuse     access = "fuse"
)

// forEachAccess runs f as one subtest per access path, so that every
// real-program proof holds for both interfaces, and for D's default
// stack, with the same assertions.
func forEachAccess(t *testing.T, f func(t *testing.T, via access)) {
	for _, via := range []access{viaPreload, viaPreloadD, viaFuse} {
		t.Run(string(via), func(t *testing.T) {
			if via == viaFuse {
				testenv.RequireFUSE(t)
			}
			f(t, via)
		})
	}
}

// fuseMounted reports whether dir carries the service's FUSE mount.
func fuseMounted(t testing.TB, dir string) bool {
	t.Helper()
	ok, err := fuse.IsMounted("/proc/self/mountinfo", dir)
	if err != nil {
		t.Fatalf("reading mountinfo: %v", err)
	}
	return ok
}

// startPool starts a service with a fresh key and waits for its ready
// line; cleanup stops it and removes its segment (servicetest).
func startPool(t testing.TB, o poolOpts) *pool {
	t.Helper()
	base := o.base
	if base == "" {
		base = t.TempDir()
	}
	via := o.via
	if via == "" {
		via = viaPreload
	}
	p := &pool{Root: filepath.Join(base, "root"), Upper: filepath.Join(base, "upper"), Lower: filepath.Join(base, "lower"), Via: via}
	for _, d := range []string{p.Root, p.Upper, p.Lower} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if o.lower != nil {
		o.lower(p.Lower)
	}
	cacheLayer, odirect := "", false
	if o.dStack || via == viaPreloadD {
		cacheLayer, odirect = `{type = "cache"}, `, true
	}
	names := o.instances
	if len(names) == 0 {
		names = []string{""} // filepath.Join(p.Root, "") is Root
	} else if via == viaFuse {
		t.Fatal("startPool: a FUSE mount is made for a single instance only")
	}
	var cfg string
	for _, name := range names {
		mount, upper := filepath.Join(p.Root, name), filepath.Join(p.Upper, name)
		for _, d := range []string{mount, upper} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		cfg += fmt.Sprintf(`[[instance]]
path = %q
share = true
stack = [%s{type = "union", branches = [
    {type = "local", dir = %q, odirect = %t},
    {type = "local", dir = %q, readonly = true, shared = "image", odirect = %t}]}]
`, mount, cacheLayer, upper, odirect, p.Lower, odirect)
	}
	if via == viaFuse {
		cfg += "fuse = true\n" // at the instance's own path, Root
		// Runs after the service's stop (cleanups run last-in first-out):
		// the service must have removed its mount, and nothing may have
		// reached the host directory under it.
		t.Cleanup(func() { checkFuseGone(t, p) })
	}
	bs := o.bufSize
	if bs == 0 {
		bs = 256 << 10
	}
	args := append([]string{"-wait", "spin-futex", "-buffers", "128", "-buffer-size", fmt.Sprint(bs)}, o.args...)
	p.Service = servicetest.Start(t, servicetest.Options{Config: cfg, Args: args})
	if via == viaFuse && !fuseMounted(t, p.Root) {
		t.Fatalf("the service did not mount the instance with FUSE on %s; log:\n%s", p.Root, p.Log)
	}
	return p
}

// checkFuseGone fails the test when the stopped service left its FUSE
// mount (and removes it) or when the host directory under it got entries.
func checkFuseGone(t testing.TB, p *pool) {
	if fuseMounted(t, p.Root) {
		t.Errorf("FUSE mount on %s outlived the service", p.Root)
		if err := unix.Unmount(p.Root, unix.MNT_DETACH); err != nil {
			t.Errorf("lazy unmount of %s: %v", p.Root, err)
		}
	}
	if ents, _ := os.ReadDir(p.Root); len(ents) != 0 {
		t.Errorf("the host directory under the FUSE mount got %d entries", len(ents))
	}
}

// Env is the environment of a program on this pool: the library's
// variables, or the plain environment when the pool is reached by FUSE.
func (p *pool) Env() []string {
	if p.Via == viaFuse {
		return os.Environ()
	}
	return preload.WithEnv(os.Environ(), preload.Env(libPath, p.Key, ""))
}

// via names how a program runs on p, for messages.
func (p *pool) via() string {
	if p == nil {
		return "native"
	}
	return string(p.Via)
}

// command builds a command running in dir; preloaded selects the library.
func command(ctx context.Context, p *pool, dir string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if p != nil {
		cmd.Env = p.Env()
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a program (through the library when p is not nil) in dir with a
// time limit and returns its stdout; a failure ends the test with its
// output.
func run(t testing.TB, p *pool, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := runErr(p, dir, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s (%s, dir %s): %v\n%s", name, strings.Join(args, " "), p.via(), dir, err, out)
	}
	return out
}

func runErr(p *pool, dir string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, p, dir, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (%v)", timeout, err)
	}
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// compile builds a C program of testdata into a temporary directory.
func compile(t testing.TB, src string, extra ...string) string {
	t.Helper()
	testenv.RequireTool(t, "gcc", "gcc")
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-Wall", "-o", out, src}, extra...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// helperEnv makes the test binary act as a helper program (see runHelper).
const helperEnv = "POLYTROPON_PRELOAD_HELPER"

func runHelper() int {
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(helperEnv))
	return 2
}

// waitFor polls cond until it holds or d passes.
var waitFor = servicetest.WaitFor

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
