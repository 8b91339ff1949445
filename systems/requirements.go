package systems

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"polytropon/fs/cephfs"
	"polytropon/internal/hostcheck"
)

// Backender is a system that says which storage backend it runs on
// ("local" or "ceph"), so a point on the other backend can be known to be
// unavailable before Setup.
type Backender interface {
	Backend() string
}

// Backend of the kernel CephFS systems (here rather than in their file,
// which holds their Check).
func (*cephKernelSystem) Backend() string { return "ceph" }

// CheckBackend reports, as ErrUnavailable, a system that does not run on
// backend ("" is local); nil when it does or does not say.
func CheckBackend(s System, backend string) error {
	b, ok := s.(Backender)
	if backend == "" {
		backend = "local"
	}
	if !ok || b.Backend() == backend {
		return nil
	}
	var others []string
	for _, n := range Names() {
		if o, err := Lookup(n); err == nil {
			if ob, ok := o.(Backender); ok && ob.Backend() == backend {
				others = append(others, n)
			}
		}
	}
	return fmt.Errorf("%w: %s runs on the %s backend, not %s (systems on %s: %s)",
		ErrUnavailable, s.Name(), b.Backend(), backend, backend, strings.Join(others, ", "))
}

// clusterOf returns the cluster settings a system's options embed.
func (c CephCluster) clusterOf() CephCluster { return c }

// ErrClusterDown means a Ceph cluster is configured but its monitors do
// not answer.
var ErrClusterDown = errors.New("systems: the Ceph cluster does not answer")

// ClusterConf finds the ceph.conf of the Ceph cluster a system with
// options (its decoded [options.<system>], which may override c) would
// use, the way Setup does. No cluster configured is ErrUnavailable.
func ClusterConf(c CephCluster, options any) (string, error) {
	if o, ok := options.(interface{ clusterOf() CephCluster }); ok {
		c = c.over(o.clusterOf())
	}
	c, err := c.locate()
	return c.Conf, err
}

// CheckCluster reports whether a monitor of the cluster of conf answers,
// waiting at most timeout for each: ErrClusterDown when none does.
func CheckCluster(conf string, timeout time.Duration) error {
	if err := hostcheck.DialCeph(conf, timeout); err != nil {
		return fmt.Errorf("%w: %s: %v (start it: polytropon ceph up, or scripts/ceph-up.sh DIR)", ErrClusterDown, conf, err)
	}
	return nil
}

// Requirements are the host capabilities the registered systems need,
// each naming the systems that need it: what their Check looks at, as a
// list that says what is there and what to do about what is not.
func Requirements() []hostcheck.Item {
	var items []hostcheck.Item
	fuseFor := "systems D and D-ceph (their FUSE mounts), F, FP, F-ceph, FP-ceph, F/F, FP/FP"
	if _, err := os.Stat("/dev/fuse"); err == nil && hostcheck.KernelFilesystem("fuse") {
		items = append(items, hostcheck.Found("/dev/fuse", "FUSE in the kernel", fuseFor))
	} else {
		items = append(items, hostcheck.Missing("/dev/fuse", "no FUSE in this kernel or no device node", "modprobe fuse (CONFIG_FUSE_FS); apt-get install fuse3", fuseFor))
	}
	items = append(items, hostcheck.Fusermount.Item(fuseFor))
	items = append(items, loopItem("systems K, K/K"))
	for _, fs := range []struct{ name, who, fix string }{
		{"ext4", "systems K, K/K", "a kernel with CONFIG_EXT4_FS (modprobe ext4)"},
		{"overlay", "system K/K", "modprobe overlay (CONFIG_OVERLAY_FS)"},
		{"ceph", "systems K-ceph, K/K-ceph, F/K", "modprobe ceph (CONFIG_CEPH_FS; not built into this kernel: run them in a guest VM)"},
	} {
		name := "kernel " + fs.name + " filesystem"
		if hostcheck.KernelFilesystem(fs.name) {
			items = append(items, hostcheck.Found(name, "in /proc/filesystems", fs.who))
		} else {
			items = append(items, hostcheck.Missing(name, "not in /proc/filesystems", fs.fix, fs.who))
		}
	}
	for _, p := range []struct {
		prog hostcheck.Program
		who  string
	}{
		{hostcheck.Program{Names: []string{"make"}, Package: "make"}, "systems D, D-ceph: the preload library"},
		{hostcheck.Program{Names: []string{"gcc"}, Package: "gcc"}, "systems D, D-ceph: the preload library"},
		{hostcheck.Program{Names: []string{"mkfs.ext4"}, Package: "e2fsprogs"}, "systems K, K/K"},
		{hostcheck.Program{Names: []string{"losetup"}, Package: "mount"}, "systems K, K/K"},
		{hostcheck.Ceph, "systems D-ceph, F-ceph, FP-ceph, F/F, FP/FP: tenant keys"},
		{hostcheck.CephFuse, "systems F-ceph, FP-ceph, F/F, FP/FP"},
		{hostcheck.UnionFS, "systems F/F, FP/FP"},
	} {
		items = append(items, p.prog.Item(p.who))
	}
	return append(items, BuildParts()...)
}

// BuildParts are the optional parts of this binary, chosen by build tags:
// libcephfs (go-ceph, -tags "ceph pacific") for D-ceph.
func BuildParts() []hostcheck.Item {
	if cephfs.Available {
		return []hostcheck.Item{hostcheck.Found("libcephfs", `built in (-tags "ceph pacific")`, "system D-ceph")}
	}
	return []hostcheck.Item{hostcheck.Missing("libcephfs", "this binary was built without it",
		`apt-get install libcephfs-dev librados-dev; go build -tags "ceph pacific" ./cmd/polytropon (scripts/quick.sh and make do)`, "system D-ceph")}
}

// loopItem checks that loop devices can be made (losetup --find).
func loopItem(who string) hostcheck.Item {
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		return hostcheck.Missing("loop devices", "no /dev/loop-control", "modprobe loop (CONFIG_BLK_DEV_LOOP)", who)
	}
	return hostcheck.Found("loop devices", "/dev/loop-control (losetup --find)", who)
}
