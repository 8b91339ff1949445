package pool

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Host cgroup layout; variables so tests can point them at fake trees.
var (
	cgroupRoot     = "/sys/fs/cgroup"         // v1 hierarchies live in <root>/<controller>
	unifiedLabel   = "/sys/fs/cgroup/unified" // v2 mount on hybrid hosts
	v1Controllers  = []cgroup1.Name{cgroup1.Cpuset, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Memory, cgroup1.Pids, cgroup1.Blkio}
	cgroupHostMode = cgroups.Mode
)

// cgroupSet is the set of cgroup directories of one pool.
type cgroupSet interface {
	join(pid int) error
	v1Paths() map[string]string
	v2Path() string
	procs() ([]int, error) // host pids, from the label (or only) directory
	kill() error           // SIGKILL every process
	empty() (bool, error)  // no process left in any directory
	remove() error         // remove the directories and empty group parents
}

func newCgroupSet(s Spec) (cgroupSet, error) {
	switch cgroupHostMode() {
	case cgroups.Unified:
		return newV2Set(cgroupRoot, s)
	case cgroups.Legacy, cgroups.Hybrid:
		return newV1Set(cgroupRoot, unifiedLabel, s)
	default:
		return nil, fmt.Errorf("%w: no cgroup hierarchy mounted at %s", ErrUnavailable, cgroupRoot)
	}
}

func cpuList(cores []int) string {
	parts := make([]string, len(cores))
	for i, c := range cores {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// ---- cgroup v1 (hybrid and legacy hosts) ----

type v1Set struct {
	root, group, name string
	cg                cgroup1.Cgroup
	paths             map[string]string // controller -> directory
	label             string            // unified-hierarchy label dir; "" without one
	labelMount        string
}

func newV1Set(root, unified string, s Spec) (_ *v1Set, err error) {
	hier := func() ([]cgroup1.Subsystem, error) {
		var subs []cgroup1.Subsystem
		for _, n := range v1Controllers {
			if _, err := os.Stat(filepath.Join(root, string(n))); err != nil {
				continue // hierarchy not mounted here
			}
			switch n {
			case cgroup1.Cpuset:
				subs = append(subs, cgroup1.NewCpuset(root))
			case cgroup1.Cpu:
				subs = append(subs, cgroup1.NewCpu(root))
			case cgroup1.Cpuacct:
				subs = append(subs, cgroup1.NewCpuacct(root))
			case cgroup1.Memory:
				subs = append(subs, cgroup1.NewMemory(root))
			case cgroup1.Pids:
				subs = append(subs, cgroup1.NewPids(root))
			case cgroup1.Blkio:
				subs = append(subs, cgroup1.NewBlkio(root))
			}
		}
		if len(subs) == 0 {
			return nil, fmt.Errorf("%w: no cgroup v1 controller under %s", ErrUnavailable, root)
		}
		return subs, nil
	}
	rel := "/" + filepath.Join(s.Group, s.Name)
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: cpuList(s.Cores), Mems: rootMems(root)}}
	if s.MemoryBytes > 0 {
		limit := s.MemoryBytes
		res.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	v := &v1Set{root: root, group: s.Group, name: s.Name, paths: map[string]string{}}
	var cg cgroup1.Cgroup
	for try := 0; ; try++ {
		cg, err = cgroup1.New(cgroup1.StaticPath(rel), res, cgroup1.WithHierarchy(hier), allowAnySubsystem)
		// ENOENT: another runner's cleanup removed an empty group parent
		// between our mkdirs; try again.
		if err == nil || !errors.Is(err, os.ErrNotExist) || try == 3 {
			break
		}
	}
	if err != nil {
		v.removeDirs()
		return nil, fmt.Errorf("pool %s: create cgroup v1 %s: %w", s.Name, rel, err)
	}
	v.cg = cg
	for _, sub := range cg.Subsystems() {
		v.paths[string(sub.Name())] = filepath.Join(root, string(sub.Name()), rel)
	}
	if st, err := os.Stat(filepath.Join(unified, "cgroup.procs")); err == nil && !st.IsDir() {
		v.labelMount = unified
		v.label = filepath.Join(unified, rel)
		err := os.MkdirAll(v.label, 0o755)
		for try := 0; errors.Is(err, os.ErrNotExist) && try < 3; try++ {
			err = os.MkdirAll(v.label, 0o755) // a parent vanished under another runner's cleanup
		}
		if err != nil {
			v.removeDirs()
			return nil, fmt.Errorf("pool %s: create cgroup v2 label: %w", s.Name, err)
		}
	}
	return v, nil
}

// rootMems is the memory node list of the cpuset root ("0" on one node).
func rootMems(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "cpuset", "cpuset.mems"))
	if m := strings.TrimSpace(string(b)); err == nil && m != "" {
		return m
	}
	return "0"
}

func (v *v1Set) v1Paths() map[string]string {
	out := make(map[string]string, len(v.paths))
	for k, p := range v.paths {
		out[k] = p
	}
	return out
}

func (v *v1Set) v2Path() string { return v.label }

func (v *v1Set) join(pid int) error {
	if err := v.cg.Add(cgroup1.Process{Pid: pid}); err != nil {
		return fmt.Errorf("pool %s: join cgroups: %w", v.name, err)
	}
	if v.label != "" {
		if err := writeFile(filepath.Join(v.label, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("pool %s: join label: %w", v.name, err)
		}
	}
	return nil
}

func (v *v1Set) dirs() []string {
	var d []string
	for _, p := range v.paths {
		d = append(d, p)
	}
	if v.label != "" {
		d = append(d, v.label)
	}
	return d
}

func (v *v1Set) procs() ([]int, error) {
	if v.label != "" {
		return readProcs(v.label)
	}
	for _, c := range []string{"pids", "cpuset", "memory", "cpuacct"} {
		if p, ok := v.paths[c]; ok {
			return readProcs(p)
		}
	}
	return nil, fmt.Errorf("pool %s: no cgroup to list processes", v.name)
}

func (v *v1Set) kill() error { return killDirs(v.dirs()) }

func (v *v1Set) empty() (bool, error) { return dirsEmpty(v.dirs()) }

func (v *v1Set) remove() error {
	return v.removeDirs()
}

func (v *v1Set) removeDirs() error {
	var errs []error
	rel := filepath.Join(v.group, v.name)
	for _, n := range v1Controllers {
		errs = append(errs, removeCgroup(filepath.Join(v.root, string(n)), rel))
	}
	if v.labelMount != "" {
		errs = append(errs, removeCgroup(v.labelMount, rel))
	}
	return errors.Join(errs...)
}

// ---- cgroup v2 (unified hosts) ----

type v2Set struct {
	mount, group, name string
	mgr                *cgroup2.Manager
	path               string
}

func newV2Set(mount string, s Spec) (*v2Set, error) {
	rel := "/" + filepath.Join(s.Group, s.Name)
	res := &cgroup2.Resources{CPU: &cgroup2.CPU{Cpus: cpuList(s.Cores), Mems: v2Mems(mount)}}
	if s.MemoryBytes > 0 {
		limit := s.MemoryBytes
		res.Memory = &cgroup2.Memory{Max: &limit}
	}
	v := &v2Set{mount: mount, group: s.Group, name: s.Name, path: filepath.Join(mount, rel)}
	// The parents need the controllers enabled for their children; the
	// manager does that for every ancestor of the leaf.
	var mgr *cgroup2.Manager
	var err error
	for try := 0; ; try++ {
		mgr, err = cgroup2.NewManager(mount, rel, res)
		if err == nil || !errors.Is(err, os.ErrNotExist) || try == 3 {
			break // ENOENT: a parent vanished under another runner's cleanup
		}
	}
	if err != nil {
		v.remove()
		return nil, fmt.Errorf("pool %s: create cgroup v2 %s: %w", s.Name, rel, err)
	}
	v.mgr = mgr
	return v, nil
}

func v2Mems(mount string) string {
	b, err := os.ReadFile(filepath.Join(mount, "cpuset.mems.effective"))
	if m := strings.TrimSpace(string(b)); err == nil && m != "" {
		return m
	}
	return "0"
}

func (v *v2Set) v1Paths() map[string]string { return nil }
func (v *v2Set) v2Path() string             { return v.path }
func (v *v2Set) join(pid int) error {
	if err := v.mgr.AddProc(uint64(pid)); err != nil {
		return fmt.Errorf("pool %s: join cgroup: %w", v.name, err)
	}
	return nil
}
func (v *v2Set) procs() ([]int, error) { return readProcs(v.path) }
func (v *v2Set) kill() error           { return killDirs([]string{v.path}) }
func (v *v2Set) empty() (bool, error)  { return dirsEmpty([]string{v.path}) }
func (v *v2Set) remove() error {
	return removeCgroup(v.mount, filepath.Join(v.group, v.name))
}

// ---- helpers shared by both layouts and by Sweep ----

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readProcs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// killDirs writes cgroup.kill where the kernel has it (v2 directories) and
// SIGKILLs the listed processes of the other directories.
func killDirs(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if err := writeFile(filepath.Join(d, "cgroup.kill"), "1"); err == nil {
			continue
		}
		pids, err := readProcs(d)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
				errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
			}
		}
	}
	return errors.Join(errs...)
}

func dirsEmpty(dirs []string) (bool, error) {
	for _, d := range dirs {
		pids, err := readProcs(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if len(pids) > 0 {
			return false, nil
		}
	}
	return true, nil
}

// rmdir removes one cgroup directory; a variable so that tests on fake
// trees (plain directories holding files) can use os.RemoveAll.
var rmdir = func(dir string) error { return unix.Rmdir(dir) }

// removeCgroup removes mount/rel (and any child cgroups below it), then
// the parents of rel that became empty, never mount itself.
func removeCgroup(mount, rel string) error {
	dir := filepath.Join(mount, rel)
	if err := removeTree(dir); err != nil {
		return err
	}
	for parent := filepath.Dir(rel); parent != "." && parent != "/" && parent != ""; parent = filepath.Dir(parent) {
		if err := rmdir(filepath.Join(mount, parent)); err != nil {
			break // not empty (other pools, other runs) or already gone
		}
	}
	return nil
}

// removeTree removes a cgroup directory bottom-up (rmdir fails on cgroups
// with children).
func removeTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	var err2 error
	for i := 0; i < 20; i++ { // EBUSY right after the last process exits
		err2 = rmdir(dir)
		if err2 == nil || errors.Is(err2, os.ErrNotExist) || errors.Is(err2, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err2, unix.EBUSY) {
			break
		}
		sleepBackoff(i)
	}
	return fmt.Errorf("pool: remove cgroup %s: %w", dir, err2)
}

func allowAnySubsystem(c *cgroup1.InitConfig) error {
	c.InitCheck = cgroup1.AllowAny
	return nil
}
