package systems

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
)

// checkKernelCeph returns the named kernel CephFS system when this kernel
// has CephFS (the guest of scripts/guest.sh does; there it must).
func checkKernelCeph(t *testing.T, name string) System {
	t.Helper()
	testenv.CephConf(t)
	s, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	return s
}

func TestCephKernelSetupTeardown(t *testing.T) {
	for _, name := range []string{"K-ceph", "K/K-ceph", "F/K"} {
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			s := checkKernelCeph(t, name)
			p := newTestPool(t)
			work, lower := t.TempDir(), ""
			union := name != "K-ceph"
			if union {
				lower = imageLower(t)
			}
			in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower, Backend: "ceph"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Teardown(context.Background()) })
			engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
			mounts := mountsUnder(t, engineMounts, work)
			want := 1 // one kernel CephFS mount per pool
			if union {
				want += 2 // a union per container
			}
			if name == "K/K-ceph" {
				want += 2 // and its ext4 upper, on a loop file in CephFS
				if got := upperLoops(t, work); len(got) != 2 {
					t.Errorf("loop devices of the upper images: %v, want 2", got)
				}
			}
			if len(mounts) != want {
				t.Errorf("mounts under the work dir inside the pool: got %v, want %d", mounts, want)
			}
			if got := mountsUnder(t, "/proc/self/mountinfo", work); len(got) != 0 {
				t.Errorf("the pool's mounts leak to the host: %v", got)
			}
			if fst := mountType(t, engineMounts, filepath.Join(work, "mnt")); fst != "ceph" {
				t.Errorf("pool mount is %q, want a kernel ceph mount", fst)
			}
			checkContainers(t, p, in, 2, union)
			tornDownTwice(t, in, engineMounts, work)
			if got := upperLoops(t, work); len(got) != 0 {
				t.Errorf("loop devices left after teardown: %v", got)
			}
			if pids := poolPIDsBut(t, p); len(pids) != 0 {
				t.Errorf("processes left in the pool after teardown: %v", pids)
			}
		})
	}
}

// TestCephKernelIsolation: a pool's key mounts its own directory only:
// neither another pool's directory nor the root of the file system.
func TestCephKernelIsolation(t *testing.T) {
	s := checkKernelCeph(t, "K-ceph")
	p := newTestPool(t)
	work := t.TempDir()
	var ins []*cephKernelInstance
	for i := range 2 {
		in, err := s.Setup(t.Context(), p, Request{Pool: i, Containers: 1, WorkDir: work, Backend: "ceph"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Teardown(context.Background()) })
		ins = append(ins, in.(*cephKernelInstance))
	}
	if ins[0].admin.dir == ins[1].admin.dir || ins[0].admin.tenant == ins[1].admin.tenant {
		t.Fatalf("two pools share a tenant: %s %s", ins[0].admin.dir, ins[1].admin.dir)
	}
	a := ins[0]
	try := filepath.Join(work, "try")
	if err := os.Mkdir(try, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{ins[1].admin.dir, "/", "/polytropon"} {
		err := poolCmd(t.Context(), p, "mount", "-t", "ceph", strings.Join(a.mons, ",")+":"+dir, try,
			"-o", "name="+a.admin.tenant+",secretfile="+a.secretFile)
		if err == nil {
			unmount(context.Background(), p, try)
			t.Errorf("pool 0's key mounted %s (pool 1's or a parent directory)", dir)
		} else {
			t.Logf("pool 0's key on %s: %v", dir, err)
		}
	}
	// Inside its own mount, ".." of the root is the mount's root.
	root := p.HostPath(filepath.Join(work, "mnt"))
	if err := os.WriteFile(filepath.Join(p.HostPath(ins[1].Container(0).Dir), "secret"), []byte("p1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "..", "p1", "c0", "secret")); err == nil {
		t.Error("pool 0 reached pool 1's file through ..")
	}
}

// upperLoops lists loop devices backed by an upper image of K/K-ceph under
// work (reached through the pool's root: /proc/<pid>/root/<work>/...).
func upperLoops(t *testing.T, work string) []string {
	t.Helper()
	out, err := exec.Command("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup --list: %v", err)
	}
	var devs []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.Contains(f[1], work+"/") && strings.HasSuffix(f[1], "upper.img") {
			devs = append(devs, f[0])
		}
	}
	return devs
}

// mountType is the file system type of the mount on dir in a mountinfo.
func mountType(t *testing.T, mountinfo, dir string) string {
	t.Helper()
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMountPath(f[4]) == dir {
			for i, x := range f {
				if x == "-" && i+1 < len(f) {
					return f[i+1]
				}
			}
		}
	}
	return ""
}

func TestMonitorsV1(t *testing.T) {
	for _, c := range []struct{ line, want string }{
		{"mon host = [v2:127.0.0.1:10000,v1:127.0.0.1:10001]", "127.0.0.1:10001"},
		{"mon_host = 10.0.0.1,10.0.0.2:6790", "10.0.0.1:6789 10.0.0.2:6790"},
		{"mon host = [v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0] [v2:10.0.0.2:3300/0,v1:10.0.0.2:6789/0]", "10.0.0.1:6789 10.0.0.2:6789"},
	} {
		conf := testenv.WriteFile(t, "ceph.conf", "[global]\n"+c.line+"\n")
		got, err := monitorsV1(conf)
		if err != nil || strings.Join(got, " ") != c.want {
			t.Errorf("%s: got %v, %v; want %s", c.line, got, err, c.want)
		}
	}
	for _, line := range []string{"mon host = [v2:127.0.0.1:3300]", "fsid = x"} {
		if got, err := monitorsV1(testenv.WriteFile(t, "ceph.conf", line+"\n")); err == nil {
			t.Errorf("%s: got %v, want an error (no v1 address)", line, got)
		}
	}
}
