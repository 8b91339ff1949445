package front

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/ipc/queue"
)

// TestLazyQueues: enqueues leave the wake-up to the wait only for one P,
// the Adaptive strategy and a queue with exactly one CPU the process may
// run on.
func TestLazyQueues(t *testing.T) {
	cpus := func(c ...int) unix.CPUSet {
		var s unix.CPUSet
		for _, i := range c {
			s.Set(i)
		}
		return s
	}
	perCore := [][]int{{0}, {1}}      // a pool of two cores, a queue each
	oneQueue := [][]int{{0, 1, 2, 3}} // CPUs the service does not serve map to queue 0
	for _, tc := range []struct {
		name    string
		wait    queue.Wait
		procs   int
		allowed unix.CPUSet
		groups  [][]int
		want    []bool
	}{
		{"one core per queue", queue.Adaptive, 1, cpus(0, 1), perCore, []bool{true, true}},
		{"two Ps", queue.Adaptive, 2, cpus(0, 1), perCore, []bool{false, false}},
		{"futex wait", queue.Futex, 1, cpus(0, 1), perCore, []bool{false, false}},
		{"spin-futex wait", queue.SpinFutex, 1, cpus(0, 1), perCore, []bool{false, false}},
		{"a one-core pool on CPU 3", queue.Adaptive, 1, cpus(3), oneQueue, []bool{true}},
		{"a queue over two allowed CPUs", queue.Adaptive, 1, cpus(1, 2), oneQueue, []bool{false}},
		{"a queue of no allowed CPU", queue.Adaptive, 1, cpus(2), perCore, []bool{false, false}},
	} {
		if got := lazyQueues(tc.wait, tc.procs, tc.allowed, tc.groups); !slices.Equal(got, tc.want) {
			t.Errorf("%s: lazyQueues = %v, want %v", tc.name, got, tc.want)
		}
	}
}
