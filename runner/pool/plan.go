package pool

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Plan assigns cores to n pools of coresPerPool cores each on a host with
// hostCores cores (numbered 0..hostCores-1). Pools get disjoint cores while
// they fit; otherwise cores are handed out round-robin, pools share cores and
// oversubscribed is true (the caller records it with the results).
func Plan(n, coresPerPool, hostCores int) (cores [][]int, oversubscribed bool) {
	if n <= 0 || coresPerPool <= 0 || hostCores <= 0 {
		return nil, false
	}
	per := min(coresPerPool, hostCores) // a pool never lists a core twice
	oversubscribed = n*coresPerPool > hostCores
	cores = make([][]int, n)
	next := 0
	for i := range cores {
		cores[i] = make([]int, per)
		for j := range per {
			cores[i][j] = next % hostCores
			next++
		}
	}
	return cores, oversubscribed
}

// HostCores returns the CPUs this process may run on, in ascending order
// (its affinity mask, which respects the runner's own cpuset).
func HostCores() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("pool: sched_getaffinity: %w", err)
	}
	var cores []int
	for c := range 1024 {
		if set.IsSet(c) {
			cores = append(cores, c)
		}
	}
	return cores, nil
}
