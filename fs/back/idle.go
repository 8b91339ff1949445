package back

import (
	"runtime"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// idleWait is a service thread's wait for requests under the Adaptive
// strategy (ipc/queue/adaptive.go): how long it polls an empty queue is
// tied to the idle gaps it saw (the time from an empty queue to the next
// request), it burns its CPU only while the process has a burner slot
// (CPUs - 1, one core left to the clients) and saw no preemption, and
// otherwise yields the CPU to the clients between polls. Past the budget
// the thread blocks in Dequeue (a futex sleep the clients' enqueue wakes).
type idleWait struct {
	d       *Driver
	waiting bool
	w       queue.AdaptiveWait
}

// empty is called when TryDequeue found the queue empty; it reports
// whether to poll again (false: block in Dequeue). On a single CPU the
// thread blocks at once: the next request needs a client to run on that
// very CPU, and a thread at a raised priority that yields would get it
// back before the clients (the scheduler owes it most of the CPU).
func (iw *idleWait) empty() bool {
	if iw.d.policy.CPUs <= 1 {
		return false
	}
	now := int64(wire.MonotonicNow())
	if !iw.waiting {
		iw.waiting = true
		iw.w = iw.d.est.Begin(&iw.d.policy, 0, now)
	}
	switch iw.w.Tick(now) {
	case queue.StepBurn:
		return true // the next TryDequeue is the poll
	case queue.StepYield:
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		return true
	}
	return false
}

// got ends the idle wait when a request (or an error) came, after a sleep
// in Dequeue or not.
func (iw *idleWait) got(slept bool) {
	if iw.waiting {
		iw.w.End(int64(wire.MonotonicNow()), slept)
		iw.waiting = false
	}
}

// setNice gives the calling service thread the configured nice value, so
// that on a core it shares with its clients it is not starved by them
// (and a client's wake-up of it preempts the client).
func (d *Driver) setNice() {
	if d.cfg.Nice == 0 {
		return
	}
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), d.cfg.Nice); err != nil {
		d.logf("back: nice %d for a service thread: %v", d.cfg.Nice, err)
	}
}

// idlePolicy is the idle poll's policy: cfg.Policy with SpinFor as the
// longest poll, a quarter of it as the shortest, and the process's CPUs.
// The shortest poll is longer than a client's: the service polls only
// with a CPU to spare, and a request that arrives just after it went to
// sleep pays a wake-up (15-60 µs on a VM) while the gaps between the
// requests of a closed-loop client are often under a microsecond, which
// would make 2 µs the budget.
func idlePolicy(cfg Config) queue.SpinPolicy {
	p := cfg.Policy
	if p.Max <= 0 {
		p.Max = cfg.SpinFor
	}
	if p.Min <= 0 {
		p.Min = p.Max / 4
	}
	if p.CPUs <= 0 {
		p.CPUs = queue.AllowedCPUs()
	}
	return p.WithDefaults()
}

// ensureProcs raises GOMAXPROCS to threads + 1 when it is lower. A service
// thread is locked to its OS thread and keeps its P while it sleeps in the
// futex system call; in a pool of one core GOMAXPROCS is 1, so the
// runtime's monitor hands that P to the process's other goroutines
// (heartbeat, reaper, FUSE) and the woken service thread then waited for a
// P, up to a scheduling quantum, before it could serve (measured: futex
// waits on one CPU, 1.3 ms per stat). Extra Ps cost nothing while idle.
func ensureProcs(threads int) {
	if want := threads + 1; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}
