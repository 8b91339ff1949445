package ipcbench

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// lockThread wires the calling goroutine to its OS thread for the rest of
// its life (the thread dies with the goroutine, so a pinning never leaks)
// and, with pin, pins that thread to the slot-th allowed CPU (round robin).
// Without lock and pin it does nothing.
func lockThread(lock, pin bool, slot int) error {
	if !lock && !pin {
		return nil
	}
	runtime.LockOSThread()
	if !pin {
		return nil
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpus[slot%len(cpus)])
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("bench: pin thread to cpu %d: %w", cpus[slot%len(cpus)], err)
	}
	return nil
}

// allowedCPUs lists the CPUs of the process's affinity mask as it was the
// first time this was called (before any thread was pinned).
var allowedCPUs = sync.OnceValues(func() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("bench: read cpu affinity: %w", err)
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("bench: empty cpu affinity mask")
	}
	return cpus, nil
})

// epoch is the origin of now; time.Since reads the monotonic clock only
// (one vDSO call, about 25 ns here).
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// busyFor spins for d of wall time: the consumer's per-item work.
func busyFor(d time.Duration) {
	if d <= 0 {
		return
	}
	end := now() + int64(d)
	for now() < end {
	}
}

// clockCost is the mean cost of one now() call, calibrated once.
func clockCost() float64 {
	const n = 1 << 16
	best := 1e18
	for range 5 {
		t0 := now()
		for range n {
			now()
		}
		best = min(best, float64(now()-t0)/n)
	}
	return best
}

// Placements of one side of a round trip besides a CPU number.
const (
	cpuLockOnly = -1 // locked to its OS thread, not pinned
	cpuFree     = -2 // an ordinary goroutine
)

// pinTo places the calling goroutine: cpuFree leaves it alone, cpuLockOnly
// locks it to its OS thread, a CPU number also pins that thread there.
func pinTo(cpu int) error {
	if cpu == cpuFree {
		return nil
	}
	runtime.LockOSThread()
	if cpu == cpuLockOnly {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("bench: pin thread to cpu %d: %w", cpu, err)
	}
	return nil
}

// raiseProcs makes sure at least n goroutines run in parallel (spinning
// sides must not wait for preemption, also under GOMAXPROCS=1) and returns
// the function that restores the old setting.
func raiseProcs(n int) func() {
	prev := runtime.GOMAXPROCS(0)
	if prev >= n {
		return func() {}
	}
	runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(prev) }
}

func pidSelf() int { return unix.Getpid() }
