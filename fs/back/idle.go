package back

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// idleWait is a service thread's wait for requests under the Adaptive
// strategy (ipc/queue/adaptive.go): how long it polls an empty queue is
// tied to the idle gaps it saw (the time from an empty queue to the next
// request), it burns its CPU only while its share (idleShare) has a
// burner slot and saw no preemption, and otherwise yields the CPU to the
// clients between polls. Past the budget the thread blocks in Dequeue (a
// futex sleep the clients' enqueue wakes). Whatever the strategy, the
// thread counts itself in its queue's QueueStats.Awake while it is not
// asleep there, so that waiting clients burn only while it is.
type idleWait struct {
	s       *idleShare
	st      wire.QueueStatsView
	waiting bool
	w       queue.AdaptiveWait
	sw      queue.SwitchWatch // this thread's preemptions
	burns   int               // polls left before the clock is read again
}

// burnPolls is how many polls of an empty queue a burning service thread
// makes per look at the clock: a clock read costs more than a poll (the
// vDSO's clock was 5% of the samples of db_bench through D when every
// poll read it), and a few polls (tens of ns each) keep the budget and
// the preemption gap well below their microseconds.
const burnPolls = 16

// idleShare is what the idle polls of the service threads that take the
// same CPUs share: the policy, whose CPUs are those the threads and their
// clients run on, and the estimator (idle gaps, burner slots).
type idleShare struct {
	policy queue.SpinPolicy
	est    queue.WaitEstimator
}

// idleShares gives each queue the share of its threads. Unpinned, every
// thread may run on any of the process's CPUs: one share. Pinned, a
// queue's threads run on its core group and so do the clients that
// enqueue on it (a client takes the queue of its CPU): a share per queue
// whose CPUs are the group's. In a group of one CPU the thread never
// polls: each poll would take the CPU its next request's client needs
// (at nice -10, for most of a time slice); the same holds for one pool
// core and for each core of a pool whose cores have their own L2 caches.
//
// A group's CPUs are counted within the process's affinity: CPUs the
// service does not serve map to queue 0 too.
func idleShares(cfg Config, groups [][]int) []*idleShare {
	out := make([]*idleShare, len(groups))
	var all *idleShare
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		allowed.Zero()
	}
	for q, g := range groups {
		n := 0
		for _, c := range g {
			if allowed.IsSet(c) {
				n++
			}
		}
		switch {
		case cfg.Pin && n > 0:
			out[q] = &idleShare{policy: idlePolicy(cfg, n)}
		case all == nil:
			all = &idleShare{policy: idlePolicy(cfg, 0)}
			fallthrough
		default:
			out[q] = all
		}
	}
	return out
}

// begin counts the thread awake (it starts serving).
func (iw *idleWait) begin() { iw.st.AddAwake(1) }

// end uncounts it (it exits).
func (iw *idleWait) end() { iw.st.AddAwake(-1) }

// empty is called when TryDequeue found the queue empty; it reports
// whether to poll again (false: block in Dequeue). With a single CPU the
// thread blocks at once: the next request needs a client to run on that
// very CPU, and a thread at a raised priority that yields would get it
// back before the clients (the scheduler owes it most of the CPU).
func (iw *idleWait) empty() bool {
	if iw.s.policy.CPUs <= 1 {
		return false
	}
	if iw.waiting && iw.burns > 0 {
		iw.burns-- // a burning poll looks at the clock every burnPolls polls
		return true
	}
	now := int64(wire.MonotonicNow())
	if !iw.waiting {
		iw.waiting = true
		iw.w = iw.s.est.Begin(&iw.s.policy, 0, now)
		iw.w.Watch = &iw.sw
	}
	switch iw.w.Tick(now) {
	case queue.StepBurn:
		iw.burns = burnPolls - 1
		return true // the next TryDequeue is the poll
	case queue.StepYield:
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		return true
	}
	return false
}

// sleep is called before the thread blocks in Dequeue.
func (iw *idleWait) sleep() { iw.st.AddAwake(-1) }

// got ends the idle wait when a request (or an error) came, after a sleep
// in Dequeue or not.
func (iw *idleWait) got(slept bool) {
	if slept {
		iw.st.AddAwake(1)
	}
	if iw.waiting {
		iw.w.End(int64(wire.MonotonicNow()), slept)
		iw.waiting, iw.burns = false, 0
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

// nameThread names the calling service thread "polysvc-q<queue>" (an
// extra one "polysvx-q<queue>"), so that perf, top and /proc tell the
// service threads from the process's other threads. The main thread of
// the process keeps its name (it is the process's).
func nameThread(q uint32, extra bool) {
	if unix.Gettid() == unix.Getpid() {
		return
	}
	name := fmt.Sprintf("polysvc-q%d", q)
	if extra {
		name = fmt.Sprintf("polysvx-q%d", q)
	}
	// Best effort: a thread without a name serves as well.
	_ = os.WriteFile(fmt.Sprintf("/proc/self/task/%d/comm", unix.Gettid()), []byte(name), 0)
}

// idlePolicy is the idle poll's policy: cfg.Policy with SpinFor as the
// longest poll, a quarter of it as the shortest, and cpus CPUs (0: the
// process's).
// The shortest poll is longer than a client's: the service polls only
// with a CPU to spare, and a request that arrives just after it went to
// sleep pays a wake-up (15-60 µs on a VM) while the gaps between the
// requests of a closed-loop client are often under a microsecond, which
// would make 2 µs the budget.
func idlePolicy(cfg Config, cpus int) queue.SpinPolicy {
	p := cfg.Policy
	if p.Max <= 0 {
		p.Max = cfg.SpinFor
	}
	if p.Min <= 0 {
		p.Min = p.Max / 4
	}
	if p.CPUs <= 0 {
		p.CPUs = cpus
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
