package pool

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3"
)

// fakeUnified builds a fake cgroup-v2 mount in a temp dir, in the style of
// containerd/cgroups' mock_test.go: plain directories and files. The group
// directories exist already, as on a host where the run's group was made.
func fakeUnified(t *testing.T, group string) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cgroup.controllers", "cpuset cpu io memory pids")
	write("cgroup.subtree_control", "")
	write("cpuset.mems.effective", "0-1\n")
	dir := ""
	for _, part := range strings.Split(group, "/") {
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		write(filepath.Join(dir, "cgroup.subtree_control"), "")
	}
	return root
}

// withFakeHost points the package at a fake cgroup tree for one test.
func withFakeHost(t *testing.T, root string, mode cgroups.CGMode) {
	oldRoot, oldMode, oldRmdir := cgroupRoot, cgroupHostMode, rmdir
	cgroupRoot = root
	cgroupHostMode = func() cgroups.CGMode { return mode }
	rmdir = func(dir string) error {
		// A fake cgroup dir holds regular files; a real one vanishes with
		// them. Refuse non-empty ones (child dirs), like the kernel.
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.IsDir() {
				return os.ErrExist
			}
		}
		return os.RemoveAll(dir)
	}
	t.Cleanup(func() { cgroupRoot, cgroupHostMode, rmdir = oldRoot, oldMode, oldRmdir })
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestCgroupV2FakeTree(t *testing.T) {
	const group = "polytropon/run-1"
	root := fakeUnified(t, group)
	withFakeHost(t, root, cgroups.Unified)

	spec := Spec{Name: "p1", Cores: []int{0, 3}, MemoryBytes: 1 << 20, Group: group}
	set, err := newCgroupSet(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, group, "p1")
	if got := set.v2Path(); got != dir {
		t.Errorf("v2Path = %q, want %q", got, dir)
	}
	if got := set.v1Paths(); got != nil {
		t.Errorf("v1Paths on a unified host = %v, want nil", got)
	}
	for file, want := range map[string]string{
		"cpuset.cpus": "0,3",
		"cpuset.mems": "0-1",
		"memory.max":  "1048576",
	} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	// Controllers are enabled for the pool in its parents.
	for _, parent := range []string{root, filepath.Join(root, group)} {
		got := strings.Fields(readTrim(t, filepath.Join(parent, "cgroup.subtree_control")))
		for _, c := range []string{"+cpu", "+cpuset", "+memory"} {
			if !slices.Contains(got, c) {
				t.Errorf("%s/cgroup.subtree_control = %q, want %s in it", parent, got, c)
			}
		}
	}

	// The kernel creates the interface files of a new cgroup.
	for _, f := range []string{"cgroup.kill", "cgroup.procs"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A pid above the largest pid_max: nothing real can be hit.
	const fakePid = 1<<22 + 1
	if err := set.join(fakePid); err != nil {
		t.Fatal(err)
	}
	if pids, err := set.procs(); err != nil || !slices.Equal(pids, []int{fakePid}) {
		t.Errorf("procs = %v, %v; want [%d]", pids, err, fakePid)
	}
	if empty, err := set.empty(); err != nil || empty {
		t.Errorf("empty = %v, %v; want false", empty, err)
	}
	if err := set.kill(); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.kill")); got != "1" {
		t.Errorf("cgroup.kill = %q, want 1 (kill through the v2 file)", got)
	}
	if err := set.remove(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dir, filepath.Join(root, "polytropon")} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s left after remove (err %v)", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		t.Errorf("remove touched the mount root: %v", err)
	}
}

// TestSweepFakeTree: Sweep on a unified host removes the group's pools
// and keeps other groups.
func TestSweepFakeTree(t *testing.T) {
	root := fakeUnified(t, "polytropon/dead")
	withFakeHost(t, root, cgroups.Unified)
	for _, d := range []string{"polytropon/dead/p1", "polytropon/dead/p2", "polytropon/live/p1"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
		os.WriteFile(filepath.Join(root, d, "cgroup.procs"), nil, 0o644)
	}
	if err := Sweep("polytropon/dead"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "polytropon/dead")); !os.IsNotExist(err) {
		t.Errorf("dead group left (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(root, "polytropon/live/p1")); err != nil {
		t.Errorf("Sweep removed another group: %v", err)
	}
}
