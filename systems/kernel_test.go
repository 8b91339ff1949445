package systems

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

	"polytropon/runner/pool"
)

// inPool runs a shell script inside the pool and returns its output.
func inPool(t *testing.T, p testPool, script string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := p.Run(t.Context(), pool.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errb})
	if err != nil {
		err = fmt.Errorf("%w: %s", err, errb.String())
	}
	return out.String(), err
}

// mountsUnder lists mount points under dir in a mountinfo file.
func mountsUnder(t *testing.T, mountinfo, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			if mp := unescapeMountPath(f[4]); mp == dir || strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
			}
		}
	}
	return out
}

// loopsOf lists loop devices whose backing file is under dir.
func loopsOf(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.Command("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup --list: %v", err)
	}
	var devs []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], dir+"/") {
			devs = append(devs, f[0])
		}
	}
	return devs
}

func checkSystem(t *testing.T, name string) System {
	t.Helper()
	s, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Skipf("%s: %v", name, err)
	}
	return s
}

func TestKernelSetupTeardown(t *testing.T) {
	s := checkSystem(t, "K")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Backend: "local", Options: &KernelOptions{Size: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	if got := mountsUnder(t, engineMounts, work); len(got) != 1 {
		t.Fatalf("mounts under the work dir inside the pool: got %v, want the ext4 mount", got)
	}
	if got := loopsOf(t, work); len(got) != 1 {
		t.Fatalf("loop devices backed by the work dir: got %v, want 1", got)
	}
	c0, c1 := in.Container(0), in.Container(1)
	if c0.Dir == c1.Dir || c0.FS.Kind != HostKind {
		t.Fatalf("containers: %+v %+v; want distinct dirs with the host opener", c0, c1)
	}
	out, err := inPool(t, p, fmt.Sprintf("echo tenant0 > %s/f && cat %s/f && stat -f -c %%T %s", c0.Dir, c0.Dir, c0.Dir))
	if err != nil {
		t.Fatalf("write/read in pool: %v: %s", err, out)
	}
	if want := "tenant0\next2/ext3\n"; out != want {
		t.Fatalf("in pool: got %q, want %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(c1.Dir, "f")); err == nil {
		t.Fatalf("container 1 sees container 0's file")
	}

	tornDownTwice(t, in, engineMounts, work)
	if got := loopsOf(t, work); len(got) != 0 {
		t.Errorf("loop devices left: %v", got)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not emptied: %v", ents)
	}
}

// TestKernelLoopDirectIO: K's loop device does direct I/O on its image by
// default (K's data cached once), buffered I/O when asked.
func TestKernelLoopDirectIO(t *testing.T) {
	s := checkSystem(t, "K")
	if !s.NewOptions().(*KernelOptions).LoopDirectIO {
		t.Error("K's default loop device is buffered, want direct I/O")
	}
	p := newTestPool(t)
	for _, direct := range []bool{true, false} {
		work := t.TempDir()
		in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 1, WorkDir: work, Backend: "local",
			Options: &KernelOptions{Size: 256 << 20, LoopDirectIO: direct}})
		if err != nil {
			t.Fatal(err)
		}
		devs := loopsOf(t, work)
		if len(devs) != 1 {
			t.Fatalf("loop devices backed by the work dir: %v, want 1", devs)
		}
		if got := loopDirectIO(devs[0]); got != direct {
			t.Errorf("loop_direct_io = %v: %s does direct I/O: %v", direct, devs[0], got)
		}
		if err := in.Teardown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKernelOverlaySharedLower(t *testing.T) {
	s := checkSystem(t, "K/K")
	p := newTestPool(t)
	work, lower := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lower, "image.txt"), []byte("base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower, Options: &KernelOptions{Size: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	c0, c1 := in.Container(0).Dir, in.Container(1).Dir
	// Clone 0 changes the shared file (copy-up) and deletes nothing else;
	// clone 1 still sees the original, and the image stays untouched.
	out, err := inPool(t, p, fmt.Sprintf("echo mine >> %s/image.txt && cat %s/image.txt && echo -- && cat %s/image.txt && stat -f -c %%T %s",
		c0, c0, c1, c0))
	if err != nil {
		t.Fatalf("in pool: %v: %s", err, out)
	}
	if want := "base\nmine\n--\nbase\noverlayfs\n"; out != want {
		t.Fatalf("in pool: got %q, want %q", out, want)
	}
	engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
	if got := mountsUnder(t, engineMounts, work); len(got) != 3 {
		t.Fatalf("mounts in pool: got %v, want ext4 + 2 overlays", got)
	}
	if err := in.Teardown(t.Context()); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if got := mountsUnder(t, engineMounts, work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if got := loopsOf(t, work); len(got) != 0 {
		t.Errorf("loop devices left: %v", got)
	}
	if data, _ := os.ReadFile(filepath.Join(lower, "image.txt")); string(data) != "base\n" {
		t.Errorf("lower image changed: %q", data)
	}
}

func TestKernelRejectsBadRequests(t *testing.T) {
	k, err := Lookup("K")
	if err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]Request{
		"lower":   {Containers: 1, WorkDir: t.TempDir(), Lower: t.TempDir()},
		"ceph":    {Containers: 1, WorkDir: t.TempDir(), Backend: "ceph"},
		"option":  {Containers: 1, WorkDir: t.TempDir(), Options: &FuseOptions{}}, // another system's options
		"nocont":  {Containers: 0, WorkDir: t.TempDir()},
		"badsize": {Containers: 1, WorkDir: t.TempDir(), Options: &KernelOptions{Size: 0}},
	} {
		t.Run(name, func(t *testing.T) {
			if in, err := k.Setup(t.Context(), nil, req); err == nil {
				in.Teardown(context.Background())
				t.Fatalf("Setup(%+v) succeeded, want an error", req)
			}
			if ents, _ := os.ReadDir(req.WorkDir); len(ents) != 0 {
				t.Errorf("failed setup left %v behind", ents)
			}
		})
	}
	if _, err := k.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "ceph"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("ceph backend: got %v, want ErrUnavailable", err)
	}
}

func TestKernelHostDirOption(t *testing.T) {
	s := checkSystem(t, "K")
	base := t.TempDir()
	in, err := s.Setup(t.Context(), nil, Request{Pool: 3, Containers: 2, WorkDir: t.TempDir(), Options: &KernelOptions{Dir: base, Size: 4 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := in.Container(1).Dir, filepath.Join(base, "pool3", "c1"); got != want {
		t.Fatalf("container dir: got %s, want %s", got, want)
	}
	if st, err := os.Stat(in.Container(1).Dir); err != nil || !st.IsDir() {
		t.Fatalf("container dir missing: %v", err)
	}
	if err := in.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Errorf("teardown left %v in the host dir", ents)
	}
}

// TestKernelTeardownBusy keeps a process of the pool inside a container
// directory: teardown must still remove the mount (lazily, saying so), and
// the loop device must go once the process exits.
func TestKernelTeardownBusy(t *testing.T) {
	s := checkSystem(t, "K")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Containers: 1, WorkDir: work, Options: &KernelOptions{Size: 128 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	proc, err := p.Pool.Start(t.Context(), pool.Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "cd " + in.Container(0).Dir + " && exec sleep 60"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Signal(syscall.SIGKILL); proc.Wait() })
	time.Sleep(200 * time.Millisecond) // let it cd
	err = in.Teardown(t.Context())
	if err == nil || !strings.Contains(err.Error(), "lazily") {
		t.Fatalf("teardown of a busy mount: got %v, want an error saying it detached lazily", err)
	}
	if got := mountsUnder(t, fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid()), work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	proc.Signal(syscall.SIGKILL)
	proc.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(loopsOf(t, work)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("loop device still attached after the last user exited: %v", loopsOf(t, work))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKernelPartialSetupCleansUp fails K/K's setup after the ext4 image is
// mounted (the lower image is missing): nothing may stay behind.
func TestKernelPartialSetupCleansUp(t *testing.T) {
	s := checkSystem(t, "K/K")
	p := newTestPool(t)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Containers: 2, WorkDir: work, Lower: filepath.Join(work, "missing"), Options: &KernelOptions{Size: 128 << 20}})
	if err == nil {
		in.Teardown(context.Background())
		t.Fatal("Setup with a missing lower image succeeded")
	}
	if !strings.Contains(err.Error(), "lower image") {
		t.Errorf("error %q does not name the lower image", err)
	}
	if got := mountsUnder(t, fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid()), work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if got := loopsOf(t, work); len(got) != 0 {
		t.Errorf("loop devices left: %v", got)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("work dir not emptied: %v", ents)
	}
}
