package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"

	"polytropon/fs"
	fsclient "polytropon/fs/client"
	"polytropon/fs/fuse"
	"polytropon/fs/service/servicetest"
	"polytropon/internal/testenv"
	"polytropon/ipc/shm"
)

func TestFuseConfig(t *testing.T) {
	dir := t.TempDir()
	c, err := LoadConfig(testenv.WriteFile(t, "serve.toml", fmt.Sprintf(`
[[instance]]
path = "/a"
fuse = true
stack = [{type = "local", dir = %q}]
[[instance]]
path = "/b"
fuse = "/mnt/b/"
fuse_kernel_cache = true
stack = [{type = "local", dir = %q}]
[[instance]]
path = "/c"
stack = [{type = "local", dir = %q}]
`, dir, dir, dir)))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.Instances[0].Fuse.Mountpoint("/a"), c.Instances[1].Fuse.Mountpoint("/b"), c.Instances[2].Fuse.Mountpoint("/c")}
	if want := []string{"/a", "/mnt/b", ""}; fmt.Sprint(got) != fmt.Sprint(want) || !c.Instances[1].FuseKernelCache {
		t.Errorf("fuse mount points %q, want %q (%+v)", got, want, c.Instances)
	}
	// What systems write with the TOML encoder reads back the same.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		t.Fatal(err)
	}
	back, err := LoadConfig(testenv.WriteFile(t, "serve.toml", buf.String()))
	if err != nil {
		t.Fatalf("re-reading the encoded config: %v\n%s", err, buf.String())
	}
	for i := range c.Instances {
		if back.Instances[i].Fuse != c.Instances[i].Fuse || back.Instances[i].FuseKernelCache != c.Instances[i].FuseKernelCache {
			t.Errorf("instance %d: fuse %+v after the round trip, want %+v", i, back.Instances[i].Fuse, c.Instances[i].Fuse)
		}
	}
	inst := func(extra string) string {
		return fmt.Sprintf("[[instance]]\npath = \"/a\"\nstack = [{type = \"local\", dir = %q}]\n%s", dir, extra)
	}
	for name, text := range map[string]string{
		"fuse number":          inst("fuse = 3\n"),
		"relative fuse":        inst("fuse = \"mnt\"\n"),
		"fuse on /":            "[[instance]]\npath = \"/\"\nfuse = true\nstack = [{type = \"local\", dir = \"/tmp\"}]\n",
		"kernel cache no fuse": inst("fuse_kernel_cache = true\n"),
		"same fuse target": inst("fuse = \"/m\"\n") +
			"[[instance]]\npath = \"/m\"\nfuse = true\nstack = [{type = \"local\", dir = \"/tmp\"}]\n",
	} {
		if _, err := LoadConfig(testenv.WriteFile(t, "serve.toml", text)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// needFuse skips when the host cannot mount FUSE.
func needFuse(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "FUSE mounts with mount(2)")
	testenv.RequireFUSE(t)
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// startServe runs "polytropon serve -config" with cfgText and waits for its
// ready line (ok = false: it exited first; the error is in its log).
// Cleanup stops it if it still runs and removes its segment (servicetest).
func startServe(t *testing.T, cfgText string) (*servicetest.Service, bool) {
	t.Helper()
	sp, err := servicetest.Launch(t, servicetest.Options{Config: "buffers = 8\nbuffer_size = 65536\n" + cfgText,
		ReadyTimeout: 30 * time.Second, StopTimeout: 10 * time.Second})
	return sp, err == nil
}

// fuseMounted reports whether dir carries a polytropon FUSE mount here.
func fuseMounted(t *testing.T, dir string) bool {
	t.Helper()
	ok, err := fuse.IsMounted("/proc/self/mountinfo", dir)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// unmountLeftover removes a mount a failed test left (never expected).
func unmountLeftover(t *testing.T, dir string) {
	t.Cleanup(func() {
		if ok, _ := fuse.IsMounted("/proc/self/mountinfo", dir); ok {
			t.Errorf("FUSE mount %s left behind", dir)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
}

func writeVia(t *testing.T, svc fs.Service, name string, data []byte, mode uint32) {
	t.Helper()
	ctx := context.Background()
	f, err := svc.Open(ctx, name, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, mode)
	if err != nil {
		t.Fatalf("client open %s: %v", name, err)
	}
	if n, err := f.Pwrite(data, 0); err != nil || n != len(data) {
		t.Fatalf("client write %s: %d %v", name, n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("client close %s: %v", name, err)
	}
}

func readVia(t *testing.T, svc fs.Service, name string) []byte {
	t.Helper()
	ctx := context.Background()
	st, err := svc.Stat(ctx, name)
	if err != nil {
		t.Fatalf("client stat %s: %v", name, err)
	}
	f, err := svc.Open(ctx, name, syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("client open %s: %v", name, err)
	}
	defer f.Close()
	buf := make([]byte, st.Size)
	n, err := f.Pread(buf, 0)
	if err != nil && n != len(buf) {
		t.Fatalf("client read %s: %d %v", name, n, err)
	}
	return buf[:n]
}

// TestFuseDualInterface runs a real "polytropon serve" whose instance (a
// write-back cache over a union of a private branch and a read-only image)
// is served both over shared memory and through a FUSE mount at the
// instance's own path, and checks that both see the same instance.
func TestFuseDualInterface(t *testing.T) {
	needFuse(t)
	base := t.TempDir()
	upper, lower, mnt := filepath.Join(base, "upper"), filepath.Join(base, "lower"), filepath.Join(base, "mnt")
	for _, d := range []string{upper, lower, mnt} {
		os.MkdirAll(d, 0o755)
	}
	os.WriteFile(filepath.Join(lower, "image.txt"), []byte("from the image"), 0o644)
	unmountLeftover(t, mnt)
	sp, ok := startServe(t, fmt.Sprintf(`
[[instance]]
path = %q
fuse = true
stack = [{type = "cache", cache = {capacity = "8M"}},
         {type = "union", branches = [{type = "local", dir = %q},
                                      {type = "local", dir = %q, readonly = true}]}]
`, mnt, upper, lower))
	if !ok {
		t.Fatalf("service failed: %v; log:\n%s", sp.Wait(), sp.Log)
	}
	if !fuseMounted(t, mnt) {
		t.Fatalf("no FUSE mount on %s; log:\n%s", mnt, sp.Log)
	}
	cl, err := fsclient.OpenFS(context.Background(), fsclient.Options{Key: sp.Key}, mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	t.Run("ClientToFuse", func(t *testing.T) {
		writeVia(t, cl, "a.txt", []byte("written over shared memory"), 0o644)
		if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != "written over shared memory" {
			t.Errorf("FUSE read %q %v", got, err)
		}
		// Overwrites of the same size and of another size are seen at
		// once: the legacy mount keeps no kernel cache by default.
		for _, v := range []string{"WRITTEN OVER SHARED MEMORY", "short"} {
			writeVia(t, cl, "a.txt", []byte(v), 0o644)
			if got, err := os.ReadFile(filepath.Join(mnt, "a.txt")); err != nil || string(got) != v {
				t.Errorf("FUSE read after overwrite %q %v, want %q", got, err, v)
			}
		}
		if got, err := os.ReadFile(filepath.Join(mnt, "image.txt")); err != nil || string(got) != "from the image" {
			t.Errorf("image file through FUSE: %q %v", got, err)
		}
	})
	t.Run("FuseToClient", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Join(mnt, "d/e"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, "d/e/b.txt"), []byte("written through FUSE"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readVia(t, cl, "d/e/b.txt"); string(got) != "written through FUSE" {
			t.Errorf("client read %q", got)
		}
		// An append through FUSE to an image file copies it up; the
		// client sees the result, the image stays unchanged.
		f, err := os.OpenFile(filepath.Join(mnt, "image.txt"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(", appended")
		f.Close()
		if got := readVia(t, cl, "image.txt"); string(got) != "from the image, appended" {
			t.Errorf("client read of the copied-up file %q", got)
		}
		if got, _ := os.ReadFile(filepath.Join(lower, "image.txt")); string(got) != "from the image" {
			t.Errorf("the read-only image changed: %q", got)
		}
		if err := os.Remove(filepath.Join(mnt, "d/e/b.txt")); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Stat(context.Background(), "d/e/b.txt"); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("client stat after FUSE unlink: %v, want ENOENT", err)
		}
	})
	t.Run("Exec", func(t *testing.T) {
		echo := testenv.RequireTool(t, "echo", "coreutils")
		prog, err := os.ReadFile(echo)
		if err != nil {
			t.Fatal(err)
		}
		cl.Mkdir(context.Background(), "bin", 0o755)
		// Written over shared memory, executed by the kernel through FUSE.
		writeVia(t, cl, "bin/echo", prog, 0o755)
		out, err := exec.Command(filepath.Join(mnt, "bin/echo"), "hello", "from", "the", "instance").Output()
		if err != nil || string(out) != "hello from the instance\n" {
			t.Errorf("exec of a binary written by the client: %q %v", out, err)
		}
		// Copied in through the mount itself.
		if err := os.WriteFile(filepath.Join(mnt, "bin/echo2"), prog, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(filepath.Join(mnt, "bin/echo2"), "again").Output()
		if err != nil || string(out) != "again\n" {
			t.Errorf("exec of a binary copied through FUSE: %q %v", out, err)
		}
	})
	t.Run("Mmap", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 3*4096/16+5) // > 3 pages
		writeVia(t, cl, "map.bin", data, 0o644)
		f, err := os.OpenFile(filepath.Join(mnt, "map.bin"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := unix.Mmap(int(f.Fd()), 0, len(data), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatalf("mmap through FUSE: %v", err)
		}
		if !bytes.Equal(m, data) {
			t.Errorf("mapped bytes differ from what the client wrote")
		}
		copy(m[4096:], "MAPPED")
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			t.Errorf("msync: %v", err)
		}
		unix.Munmap(m)
		if got := readVia(t, cl, "map.bin"); !bytes.Equal(got[4096:4102], []byte("MAPPED")) {
			t.Errorf("client reads %q where the mapping wrote MAPPED", got[4096:4102])
		}
	})
	t.Run("ShutdownUnmounts", func(t *testing.T) {
		if err := sp.Stop(t); err != nil {
			t.Errorf("service exit: %v; log:\n%s", err, sp.Log)
		}
		if fuseMounted(t, mnt) {
			t.Errorf("%s still mounted after the service stopped", mnt)
		}
		// The write-back cache was flushed to the private branch.
		if got, _ := os.ReadFile(filepath.Join(upper, "a.txt")); string(got) != "short" {
			t.Errorf("upper branch a.txt = %q", got)
		}
	})
}

// TestFuseBusyShutdown: a file open in the mount and a process whose
// working directory is in it do not keep the mount alive after SIGTERM
// (lazy detach), and the service still exits.
func TestFuseBusyShutdown(t *testing.T) {
	needFuse(t)
	base := t.TempDir()
	dir, mnt := filepath.Join(base, "dir"), filepath.Join(base, "mnt")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(mnt, 0o755)
	os.WriteFile(filepath.Join(dir, "held.txt"), []byte("held"), 0o644)
	unmountLeftover(t, mnt)
	sp, ok := startServe(t, fmt.Sprintf("[[instance]]\npath = \"/inst\"\nfuse = %q\nstack = [{type = \"local\", dir = %q}]\n", mnt, dir))
	if !ok {
		t.Fatalf("service failed: %v; log:\n%s", sp.Wait(), sp.Log)
	}
	held, err := os.Open(filepath.Join(mnt, "held.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	sleeper := exec.Command("sleep", "30")
	sleeper.Dir = mnt
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	if err := sp.Stop(t); err != nil {
		t.Errorf("service exit: %v; log:\n%s", err, sp.Log)
	}
	if fuseMounted(t, mnt) {
		t.Errorf("%s still mounted after the service stopped", mnt)
	}
	if !strings.Contains(sp.Log.String(), "detached lazily") {
		t.Errorf("the service did not report the lazy detach; log:\n%s", sp.Log)
	}
	// The connection is gone with the service: the held file fails
	// instead of hanging.
	if _, err := held.ReadAt(make([]byte, 4), 0); err == nil {
		t.Errorf("read of a file of the dead mount succeeded")
	}
}

// TestFuseUmountAndErrors: UMOUNT of an instance removes its FUSE mount
// too; a missing mount point fails the start with a clear error and
// leaves no segment.
func TestFuseUmountAndErrors(t *testing.T) {
	needFuse(t)
	base := t.TempDir()
	dir, mnt := filepath.Join(base, "dir"), filepath.Join(base, "mnt")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(mnt, 0o755)
	unmountLeftover(t, mnt)
	sp, ok := startServe(t, fmt.Sprintf("[[instance]]\npath = %q\nfuse = true\nstack = [{type = \"local\", dir = %q}]\n", mnt, dir))
	if !ok {
		t.Fatalf("service failed: %v; log:\n%s", sp.Wait(), sp.Log)
	}
	c, err := fsclient.Dial(context.Background(), fsclient.Options{Key: sp.Key})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Umount(mnt); err != nil {
		t.Fatalf("UMOUNT: %v", err)
	}
	if fuseMounted(t, mnt) {
		t.Errorf("%s still FUSE-mounted after UMOUNT of its instance", mnt)
	}
	c.Close()
	if err := sp.Stop(t); err != nil {
		t.Errorf("service exit: %v; log:\n%s", err, sp.Log)
	}

	missing := filepath.Join(base, "nonexistent")
	sp, ok = startServe(t, fmt.Sprintf("[[instance]]\npath = \"/x\"\nfuse = %q\nstack = [{type = \"local\", dir = %q}]\n", missing, dir))
	if ok {
		t.Fatalf("service started with a missing FUSE mount point")
	}
	if err := sp.Wait(); err == nil || !strings.Contains(sp.Log.String(), "instance[0] at /x") || !strings.Contains(sp.Log.String(), missing) {
		t.Errorf("exit %v; the log should name the instance and the mount point:\n%s", err, sp.Log)
	}
	if seg, err := shm.Open(sp.Key); err == nil {
		seg.Detach()
		t.Errorf("the failed service left its segment")
	}
}

// TestFusePosix runs go-fuse's POSIX suite (posixtest) against the
// service's own FUSE mount of a union instance (writable branch over a
// shared read-only image), the legacy interface as systems D and F use it,
// with and without the kernel cache. fs/fuse runs the same suite on the
// bridge alone. Each case gets a fresh directory under the mount.
func TestFusePosix(t *testing.T) {
	needFuse(t)
	for _, kernelCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("kernel_cache=%t", kernelCache), func(t *testing.T) {
			base := t.TempDir()
			upper, lower, mnt := filepath.Join(base, "upper"), filepath.Join(base, "lower"), filepath.Join(base, "mnt")
			for _, d := range []string{upper, lower, mnt} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			unmountLeftover(t, mnt)
			sp, ok := startServe(t, fmt.Sprintf(`
[[instance]]
path = %q
fuse = true
fuse_kernel_cache = %t
stack = [{type = "union", branches = [
    {type = "local", dir = %q},
    {type = "local", dir = %q, readonly = true, shared = "image"}]}]
`, mnt, kernelCache, upper, lower))
			if !ok {
				t.Fatalf("service did not start; log:\n%s", sp.Log)
			}
			n := 0
			for name, fn := range posixtest.All {
				t.Run(name, func(t *testing.T) {
					if reason := fuse.PosixtestSkips[name]; reason != "" {
						t.Skip(reason)
					}
					n++
					dir := filepath.Join(mnt, fmt.Sprintf("case%d", n))
					if err := os.Mkdir(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					fn(t, dir)
				})
			}
		})
	}
}
