package pool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/cgroups/v3"

	"polytropon/internal/hostcheck"
)

// neededControllers are the controllers a pool cannot do without: its
// reserved cores and its memory limit.
var neededControllers = []string{"cpuset", "memory"}

// Requirements are what pools need of this host, as capabilities: root,
// a cgroup hierarchy with the cpuset and memory controllers (cpu, cpuacct
// for the CPU and steal collectors), and the namespaces a pool unshares.
func Requirements() []hostcheck.Item {
	const who = "every pool"
	var items []hostcheck.Item
	if os.Geteuid() == 0 {
		items = append(items, hostcheck.Found("root", "uid 0", who))
	} else {
		items = append(items, hostcheck.Missing("root", fmt.Sprintf("uid %d", os.Geteuid()), "run as root (sudo): pools need cgroups, namespaces, mounts", who))
	}
	items = append(items, cgroupItem(cgroupHostMode(), cgroupRoot, unifiedLabel))
	var missing []string
	for _, ns := range []string{"mnt", "ipc", "pid", "uts"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			missing = append(missing, ns)
		}
	}
	if len(missing) > 0 {
		items = append(items, hostcheck.Missing("namespaces", "no "+strings.Join(missing, ", ")+" namespace", "a kernel with CONFIG_NAMESPACES (mount, IPC, PID, UTS)", who))
	} else {
		items = append(items, hostcheck.Found("namespaces", "mnt ipc pid uts", who))
	}
	return items
}

// cgroupItem checks the controllers pools use in the host's cgroup mode.
func cgroupItem(mode cgroups.CGMode, root, unified string) hostcheck.Item {
	const who = "every pool; the cpu, steal and memory collectors"
	var have []string
	var modeName string
	switch mode {
	case cgroups.Unified:
		modeName = "v2"
		b, _ := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
		have = strings.Fields(string(b))
	case cgroups.Legacy, cgroups.Hybrid:
		modeName = "v1"
		if mode == cgroups.Hybrid {
			modeName = "hybrid (v1 controllers, v2 label at " + unified + ")"
		}
		for _, c := range []string{"cpuset", "cpu", "cpuacct", "memory", "pids", "blkio"} {
			if _, err := os.Stat(filepath.Join(root, c)); err == nil {
				have = append(have, c)
			}
		}
	default:
		return hostcheck.Missing("cgroups", "no cgroup hierarchy at "+root, "mount cgroup2 at "+root+" (mount -t cgroup2 none "+root+")", who)
	}
	var lacking []string
	for _, c := range neededControllers {
		if !slices.Contains(have, c) {
			lacking = append(lacking, c)
		}
	}
	detail := modeName + ": " + strings.Join(have, " ")
	if len(lacking) > 0 {
		fix := "enable the " + strings.Join(lacking, ", ") + " controller(s)"
		if mode == cgroups.Unified {
			fix += " (echo +" + strings.Join(lacking, " +") + " > " + filepath.Join(root, "cgroup.subtree_control") + ")"
		}
		return hostcheck.Missing("cgroups", detail+"; lacks "+strings.Join(lacking, ", "), fix, who)
	}
	return hostcheck.Found("cgroups", detail, who)
}
