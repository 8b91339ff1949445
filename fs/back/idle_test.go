package back

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestIdleSharesCPUs: pinned, a queue's idle poll counts the CPUs of its
// core group the process may run on (a group of one never polls);
// unpinned, every queue shares one policy over the process's CPUs.
func TestIdleSharesCPUs(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	notAllowed := 1023
	for set.IsSet(notAllowed) {
		notAllowed--
	}
	groups := [][]int{{cpus[0]}, append([]int{notAllowed}, cpus...)}
	pinned := idleShares(Config{Pin: true}, groups)
	if got := pinned[0].policy.CPUs; got != 1 {
		t.Errorf("pinned, group of one CPU: policy over %d CPUs, want 1 (it never polls)", got)
	}
	if got := pinned[1].policy.CPUs; got != len(cpus) {
		t.Errorf("pinned, group of every allowed CPU and CPU %d outside the affinity: policy over %d CPUs, want %d",
			notAllowed, got, len(cpus))
	}
	if pinned[0] == pinned[1] {
		t.Error("pinned queues share one estimator: their burner slots must be their group's")
	}
	loose := idleShares(Config{}, groups)
	if loose[0] != loose[1] || loose[0].policy.CPUs != len(cpus) {
		t.Errorf("unpinned: shares %p and %p over %d CPUs, want one share over the process's %d",
			loose[0], loose[1], loose[0].policy.CPUs, len(cpus))
	}
	if got := idleShares(Config{Pin: true}, [][]int{{notAllowed}})[0].policy.CPUs; got != len(cpus) {
		t.Errorf("pinned to a group outside the affinity (not pinned in fact): policy over %d CPUs, want the process's %d", got, len(cpus))
	}
}
