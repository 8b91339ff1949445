package service

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
)

// coreGroups groups the served CPUs by shared L2 cache (the papers' core
// groups) and returns the CPU -> queue map and the number of queues. cpus
// empty means the process's affinity; queues > 0 merges or splits the
// groups into exactly that many queues (round robin over the CPUs).
// CPUs that are not served map to queue 0.
func coreGroups(cpus []int, queues int) ([]uint8, int, error) {
	if len(cpus) == 0 {
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			return nil, 0, fmt.Errorf("service: reading the CPU affinity: %w", err)
		}
		for c := 0; c < wire.MaxCPUs; c++ {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) == 0 {
		return nil, 0, fmt.Errorf("%w: no CPU to serve", ErrConfig)
	}
	sort.Ints(cpus)
	maxCPU := cpus[len(cpus)-1]
	qmap := make([]uint8, maxCPU+1)
	var groups [][]int
	if queues > 0 {
		n := min(queues, len(cpus))
		groups = make([][]int, n)
		for i, c := range cpus {
			groups[i%n] = append(groups[i%n], c)
		}
	} else {
		byKey := map[string]int{}
		for _, c := range cpus {
			key := l2Key(c)
			g, ok := byKey[key]
			if !ok {
				g = len(groups)
				byKey[key] = g
				groups = append(groups, nil)
			}
			groups[g] = append(groups[g], c)
		}
	}
	if len(groups) > wire.MaxQueues {
		return nil, 0, fmt.Errorf("%w: %d core groups exceed %d queues; set queues", ErrConfig, len(groups), wire.MaxQueues)
	}
	for q, g := range groups {
		for _, c := range g {
			qmap[c] = uint8(q)
		}
	}
	return qmap, len(groups), nil
}

// l2Key identifies the L2 cache of a CPU (its shared_cpu_list); a CPU
// whose cache topology is unknown is its own group.
func l2Key(cpu int) string {
	for idx := 0; idx < 8; idx++ {
		base := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/cache/index%d/", cpu, idx)
		lvl, err := os.ReadFile(base + "level")
		if err != nil {
			break
		}
		if strings.TrimSpace(string(lvl)) != "2" {
			continue
		}
		if b, err := os.ReadFile(base + "shared_cpu_list"); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return "cpu" + strconv.Itoa(cpu)
}
