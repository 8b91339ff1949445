package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/fuse"
	"polytropon/internal/testenv"
	"polytropon/runner/pool"
)

// fuseSystemUnderTest returns F or FP ready to run: the polytropon binary
// ($POLYTROPON_BIN, or built by testenv) is made the service binary
// and the system's Check must pass.
func fuseSystemUnderTest(t *testing.T, name string) System {
	t.Helper()
	if os.Getenv("POLYTROPON_BIN") == "" {
		t.Setenv("POLYTROPON_BIN", testenv.Polytropon(t))
	}
	return checkSystem(t, name)
}

// poolPIDsBut lists the pool's processes other than its engine.
func poolPIDsBut(t *testing.T, p testPool) []int {
	t.Helper()
	pids, err := p.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(pids, func(pid int) bool { return pid == p.EnginePid() })
}

func TestFUSESetupTeardown(t *testing.T) {
	for _, name := range []string{"F", "FP"} {
		t.Run(name, func(t *testing.T) {
			s := fuseSystemUnderTest(t, name)
			p := newTestPool(t)
			work, lower := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(lower, "image.txt"), []byte("base\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Teardown(context.Background()) })
			engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
			c0, c1 := in.Container(0), in.Container(1)
			if c0.Dir == c1.Dir || c0.FS.Kind != HostKind {
				t.Fatalf("containers: %+v %+v; want distinct dirs with the host opener", c0, c1)
			}
			for _, c := range []Container{c0, c1} {
				if ok, err := fuse.IsMounted(engineMounts, c.Dir); !ok {
					t.Fatalf("%s is not a FUSE mount inside the pool (%v)", c.Dir, err)
				}
				if ok, _ := fuse.IsMounted("/proc/self/mountinfo", c.Dir); ok {
					t.Errorf("%s is mounted on the host too; want it private to the pool", c.Dir)
				}
			}
			// One service serves both containers' mounts.
			daemons := poolPIDsBut(t, p)
			if len(daemons) != 1 {
				t.Fatalf("processes in the pool besides the engine: %v, want the filesystem service", daemons)
			}
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", daemons[0])); !strings.Contains(string(cmdline), "serve") {
				t.Fatalf("the pool's process is %q, want polytropon serve", cmdline)
			}
			// Clone 0 appends to the shared image file (copy-up); clone 1
			// still sees the original; the image stays untouched.
			out, err := inPool(t, p, fmt.Sprintf("echo mine >> %s/image.txt && cat %s/image.txt && echo -- && cat %s/image.txt && stat -f -c %%t %s",
				c0.Dir, c0.Dir, c1.Dir, c0.Dir))
			if err != nil {
				t.Fatalf("in pool: %v: %s", err, out)
			}
			if want := "base\nmine\n--\nbase\n65735546\n"; out != want { // FUSE_SUPER_MAGIC
				t.Fatalf("in pool: got %q, want %q", out, want)
			}

			tornDownTwice(t, in, engineMounts, work)
			if got := poolPIDsBut(t, p); len(got) != 0 {
				t.Errorf("processes left in the pool: %v (the service was %v)", got, daemons)
			}
			if ents, _ := os.ReadDir(work); len(ents) != 0 {
				t.Errorf("work dir not emptied: %v", ents)
			}
			if data, _ := os.ReadFile(filepath.Join(lower, "image.txt")); string(data) != "base\n" {
				t.Errorf("lower image changed: %q", data)
			}
		})
	}
}

// TestFUSEPrivateDirWithoutLower checks the plain (no union) stack: each
// container writes its own directory, which is the daemon's upper dir.
func TestFUSEPrivateDirWithoutLower(t *testing.T) {
	s := fuseSystemUnderTest(t, "F")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 1, Containers: 1, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	dir := in.Container(0).Dir
	if out, err := inPool(t, p, fmt.Sprintf("echo tenant > %s/f && cat %s/f", dir, dir)); err != nil || out != "tenant\n" {
		t.Fatalf("in pool: got (%q, %v), want \"tenant\\n\"", out, err)
	}
	// The data is in the daemon's upper directory, on the pool's own ext4
	// filesystem (F's default, as D's).
	if data, err := os.ReadFile(p.HostPath(filepath.Join(work, "mnt", "c0", "upper", "f"))); err != nil || string(data) != "tenant\n" {
		t.Errorf("upper dir on the pool's ext4 image: got (%q, %v)", data, err)
	}
	if err := in.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestFUSETeardownBusy keeps a process of the pool inside a mount: the
// daemon detaches lazily and exits, so teardown leaves no mount and no
// daemon, and says that it had to detach.
func TestFUSETeardownBusy(t *testing.T) {
	s := fuseSystemUnderTest(t, "F")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Containers: 1, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	proc, err := p.Pool.Start(t.Context(), pool.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "cd " + in.Container(0).Dir + " && exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Signal(syscall.SIGKILL); proc.Wait() })
	// Wait until it really sits in the mount.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", proc.Pid)); cwd == in.Container(0).Dir {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the busy process never entered %s", in.Container(0).Dir)
		}
	}
	err = in.Teardown(t.Context())
	if err == nil || !strings.Contains(err.Error(), "lazily") {
		t.Fatalf("teardown of a busy mount: got %v, want an error saying it detached lazily", err)
	}
	if got := mountsUnder(t, fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid()), work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if got := poolPIDsBut(t, p); !slices.Equal(got, []int{proc.Pid}) {
		t.Errorf("processes in the pool: %v, want only the busy sleeper %d", got, proc.Pid)
	}
}

// TestFUSEKilledServiceLeavesNoMount kills the service (no chance to
// unmount): teardown must remove the dead mounts inside the pool and the
// work directory's contents.
func TestFUSEKilledServiceLeavesNoMount(t *testing.T) {
	s := fuseSystemUnderTest(t, "FP")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Containers: 2, WorkDir: work})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	svc := poolPIDsBut(t, p)
	if len(svc) != 1 {
		t.Fatalf("want one service, got %v", svc)
	}
	if err := syscall.Kill(svc[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	// The 2 dead FUSE mounts and the branches' ext4 filesystem below them.
	if got := mountsUnder(t, engineMounts, work); len(got) != 3 {
		t.Fatalf("mounts in the pool after the kill: %v, want the 2 dead ones and the ext4 image (nothing to test)", got)
	}
	err = in.Teardown(t.Context())
	if err == nil || !strings.Contains(err.Error(), "exited with") {
		t.Errorf("teardown after the service was killed: got %v, want the service's failure reported", err)
	}
	if got := mountsUnder(t, engineMounts, work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not emptied: %v", ents)
	}
}

func TestFUSERejectsBadRequests(t *testing.T) {
	s, err := Lookup("F")
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Args[0] // any executable will do: the request fails before it runs
	for name, c := range map[string]struct {
		req  Request
		want string
	}{
		"nocont":   {Request{Containers: 0, WorkDir: t.TempDir()}, "containers"},
		"option":   {Request{Containers: 1, WorkDir: t.TempDir(), Options: &KernelOptions{Size: 1 << 30}}, "options of type *systems.KernelOptions, want *systems.FuseOptions"},
		"backend":  {Request{Containers: 1, WorkDir: t.TempDir(), Backend: "nfs"}, `unknown backend "nfs"`},
		"nolower":  {Request{Containers: 1, WorkDir: t.TempDir(), Lower: "/nonexistent/image"}, "lower image"},
		"noworkd":  {Request{Containers: 1}, "empty WorkDir"},
		"nobinary": {Request{Containers: 1, WorkDir: t.TempDir(), Options: &FuseOptions{Binary: "/nonexistent/polytropon"}}, "service binary"},
		"nopool":   {Request{Containers: 1, WorkDir: t.TempDir(), Options: &FuseOptions{Binary: bin}}, "needs a pool"},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := s.Setup(t.Context(), nil, c.req)
			if err == nil {
				in.Teardown(context.Background())
				t.Fatalf("Setup(%+v) succeeded, want an error", c.req)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Setup(%+v): got %q, want it to mention %q", c.req, err, c.want)
			}
			if c.req.WorkDir != "" {
				if ents, _ := os.ReadDir(c.req.WorkDir); len(ents) != 0 {
					t.Errorf("failed setup left %v behind", ents)
				}
			}
		})
	}
	if _, err := s.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "ceph"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ceph backend: got %v, want ErrUnavailable", err)
	}
}
