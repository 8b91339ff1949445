package queue

import (
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The Adaptive wait strategy: a waiter polls only while polling can pay
// and sleeps otherwise.
//
// Spinning pays when the wait is short compared with what sleeping costs
// (a futex sleep plus the wake-up, 15-60 µs on a loaded VM) and when the
// spinner takes no CPU the party it waits for needs. So one wait
//   - polls for a budget of Factor × the wait it expects (the running mean
//     of the waits of its class: a call type), at least Min and at most
//     Max, the order of a sleep's cost: a wait that is longer than that
//     costs at most twice what sleeping at once would (spin-then-block),
//     and a wait that has polled its budget sleeps. (An earlier rule slept
//     after Min when the mean exceeded Max; slept waits, which include the
//     wake-up, then kept the mean above Max and every wait of the class
//     slept: cached 4 KiB preads at 25-50x the kernel's.)
//   - a wait that slept is recorded as at most 2 × Max (its length is then
//     mostly the wake-up, not the service);
//   - while polling, burns the CPU (pause between polls) only when a core
//     is free for it: fewer burners in the process than CPUs − 1 (one core
//     is left to the service), the party it waits for awake (a service
//     thread asleep in the futex needs a CPU once woken, maybe the
//     waiter's: TickAwake) and no sign of contention; otherwise it
//     yields the CPU between polls (sched_yield), so a service thread or
//     another waiter that shares the core runs instead of waiting for our
//     quantum to end; but with contention seen it sleeps at once (a yield
//     among many runnable threads gives the CPU away for a time slice);
//   - a waiter that sees its own clock jump by more than PreemptGap between
//     two polls was descheduled: threads outnumber cores, so burning takes
//     someone's CPU. The process stops burning for ContendedHold. A waiter
//     that can count its thread's involuntary context switches
//     (AdaptiveWait.Watch) counts a gap only when that count rose: on a VM
//     most gaps are the hypervisor stalling the vCPU (steal) or an
//     interrupt, with no thread of ours waiting for the CPU, and treating
//     them as contention made the service's idle poll sleep after every
//     request for a millisecond at a time (db_bench fillrandom through the
//     preload library at 10-36 µs per put where polling gave 7).
//
// SpinPolicy is the pure decision (no clock, no atomics: tests drive it with
// numbers), WaitEstimator the per-process state it reads (the expected waits,
// the burners, the contention mark), and AdaptiveWait one wait going
// through it. fs/front (the Go client), fs/back (the service's idle poll) and
// the preload library's await (fs/preload/src/front.c, with the constants
// of fs/wire's generated header) follow the same rules.

// Defaults of SpinPolicy (and, through fs/wire, of the preload library).
const (
	AdaptiveFactor        = 2
	AdaptiveMin           = 2 * time.Microsecond
	AdaptiveMax           = 50 * time.Microsecond
	AdaptivePreemptGap    = 30 * time.Microsecond
	AdaptiveContendedHold = time.Millisecond
	// AdaptiveClasses is the number of wait classes an estimator keeps
	// (classes are taken modulo it).
	AdaptiveClasses = 64
)

// Step is what a waiter does until it next looks at the clock.
type Step uint8

const (
	// StepBurn polls with a pause between polls.
	StepBurn Step = iota
	// StepYield yields the CPU between polls.
	StepYield
	// StepSleep sleeps on the futex.
	StepSleep
)

func (s Step) String() string {
	switch s {
	case StepBurn:
		return "burn"
	case StepYield:
		return "yield"
	case StepSleep:
		return "sleep"
	}
	return "Step(?)"
}

// SpinPolicy is the decision of the Adaptive strategy. Zero fields take
// the Adaptive* defaults (CPUs: 1).
type SpinPolicy struct {
	Max        time.Duration // longest poll of one wait (the service's spin_us)
	Min        time.Duration // shortest poll: a reply that is already on its way
	Factor     int           // poll up to Factor × the expected wait
	PreemptGap time.Duration // a gap between two polls this long means we were descheduled
	Hold       time.Duration // how long a seen preemption stops burning
	CPUs       int           // CPUs the waiters and the service share
}

// WithDefaults fills the zero fields.
func (p SpinPolicy) WithDefaults() SpinPolicy {
	if p.Max <= 0 {
		p.Max = AdaptiveMax
	}
	if p.Min <= 0 {
		p.Min = AdaptiveMin
	}
	if p.Min > p.Max {
		p.Min = p.Max
	}
	if p.Factor <= 0 {
		p.Factor = AdaptiveFactor
	}
	if p.PreemptGap <= 0 {
		p.PreemptGap = AdaptivePreemptGap
	}
	if p.Hold <= 0 {
		p.Hold = AdaptiveContendedHold
	}
	if p.CPUs <= 0 {
		p.CPUs = 1
	}
	return p
}

// Budget is how long a wait that expects to last expected polls before it
// sleeps (0 expected: nothing known yet, poll up to Max to learn).
func (p SpinPolicy) Budget(expected time.Duration) time.Duration {
	if expected <= 0 || expected >= p.Max {
		return p.Max
	}
	b := time.Duration(p.Factor) * expected
	return min(max(b, p.Min), p.Max)
}

// MaxBurners is how many waiters of one process may burn a CPU at once:
// every CPU but one, left to the service thread.
func (p SpinPolicy) MaxBurners() int { return p.CPUs - 1 }

// Next is the step of a wait that has lasted elapsed, with budget to
// poll, when it may burn (it holds a burner slot and saw no recent
// preemption) and when the process saw a preemption recently (contended).
// A contended waiter that may not burn sleeps: with more runnable threads
// than CPUs, a yield gives the CPU away for a whole time slice, while a
// futex wake-up puts the sleeper back ahead of threads that ran.
func (p SpinPolicy) Next(elapsed, budget time.Duration, mayBurn, contended bool) Step {
	switch {
	case elapsed >= budget:
		return StepSleep
	case mayBurn:
		return StepBurn
	case contended:
		return StepSleep
	}
	return StepYield
}

// WaitEstimator is one process's knowledge for the Adaptive strategy:
// the expected wait of each class (an exponentially weighted mean, weight
// 1/8, of the waits seen), how many of its waiters burn a CPU now, and
// until when it saw contention. Safe for concurrent use; the means are
// updated without locks (a lost update only delays learning).
type WaitEstimator struct {
	mean           [AdaptiveClasses]atomic.Int64 // ns
	burners        atomic.Int32
	contendedUntil atomic.Int64 // monotonic ns
}

// Expected is the expected wait of class (0: nothing seen yet).
func (e *WaitEstimator) Expected(class int) time.Duration {
	return time.Duration(e.mean[uint(class)%AdaptiveClasses].Load())
}

// Observe records a wait of class that lasted d.
func (e *WaitEstimator) Observe(class int, d time.Duration) {
	m := &e.mean[uint(class)%AdaptiveClasses]
	old := m.Load()
	if old == 0 {
		m.Store(max(int64(d), 1))
		return
	}
	m.Store(max(old+(int64(d)-old)/8, 1))
}

// Contended reports whether a preemption was seen within the hold before now.
func (e *WaitEstimator) Contended(now int64) bool { return now < e.contendedUntil.Load() }

// MarkContended records a preemption seen at now.
func (e *WaitEstimator) MarkContended(now int64, hold time.Duration) {
	e.contendedUntil.Store(now + int64(hold))
}

// Burners is how many waiters burn a CPU now.
func (e *WaitEstimator) Burners() int { return int(e.burners.Load()) }

func (e *WaitEstimator) tryBurn(limit int) bool {
	for {
		n := e.burners.Load()
		if int(n) >= limit {
			return false
		}
		if e.burners.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (e *WaitEstimator) stopBurn() { e.burners.Add(-1) }

// AdaptiveWait is one wait under the Adaptive strategy. Callers poll their
// word, and every few polls call Tick with the monotonic clock (ns) and do
// the step it returns; End (once, whatever ended the wait) records the
// wait's length and gives back a burner slot.
type AdaptiveWait struct {
	// Watch, when set, confirms a gap between two polls as a preemption
	// (nil: every gap is one).
	Watch *SwitchWatch

	p       *SpinPolicy
	e       *WaitEstimator
	class   int
	start   int64
	last    int64
	budget  time.Duration
	burning bool
}

// Begin starts a wait of class at now. p must have its defaults filled.
func (e *WaitEstimator) Begin(p *SpinPolicy, class int, now int64) AdaptiveWait {
	return AdaptiveWait{p: p, e: e, class: class, start: now, last: now, budget: p.Budget(e.Expected(class))}
}

// Budget is how long this wait polls before it sleeps.
func (w *AdaptiveWait) Budget() time.Duration { return w.budget }

// Start is when the wait began (monotonic ns).
func (w *AdaptiveWait) Start() int64 { return w.start }

// Tick is the step to take from now on.
func (w *AdaptiveWait) Tick(now int64) Step { return w.TickAwake(now, true) }

// TickAwake is Tick for a waiter that knows whether the party it waits
// for is awake (running, or runnable and not asleep on a futex). While it
// is not, the waiter does not burn: the party its enqueue woke needs a
// CPU, and the waiter's may be the one it gets (a service thread pinned
// there, or every other CPU busy), so the waiter yields instead.
func (w *AdaptiveWait) TickAwake(now int64, awake bool) Step {
	if gap := time.Duration(now - w.last); gap > w.p.PreemptGap && (w.Watch == nil || w.Watch.Rose()) {
		w.e.MarkContended(now, w.p.Hold)
	}
	w.last = now
	elapsed := time.Duration(now - w.start)
	contended := w.e.Contended(now)
	mayBurn := elapsed < w.budget && !contended && awake
	if mayBurn && !w.burning {
		w.burning = w.e.tryBurn(w.p.MaxBurners())
	}
	if w.burning && !mayBurn {
		w.e.stopBurn()
		w.burning = false
	}
	return w.p.Next(elapsed, w.budget, w.burning, contended)
}

// End records the wait, which ended at now (slept: it ended in a sleep).
func (w *AdaptiveWait) End(now int64, slept bool) {
	if w.burning {
		w.e.stopBurn()
		w.burning = false
	}
	d := time.Duration(now - w.start)
	if slept {
		d = min(d, 2*w.p.Max)
	}
	w.e.Observe(w.class, d)
}

// SwitchWatch follows one thread's count of involuntary context switches
// (getrusage RUSAGE_THREAD), the kernel's record of the thread losing its
// CPU to another runnable thread. It belongs to that thread.
type SwitchWatch struct {
	last int64
	read func() (int64, error) // nil: getrusage; tests stand in
}

// Rose reports whether the count rose since the last call (true at the
// first call, and when it cannot be read).
func (s *SwitchWatch) Rose() bool {
	var n int64
	var err error
	if s.read != nil {
		n, err = s.read()
	} else {
		var ru unix.Rusage
		err = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
		n = ru.Nivcsw
	}
	if err != nil {
		return true
	}
	rose := n != s.last
	s.last = n
	return rose
}

// AllowedCPUs is the number of CPUs in the calling thread's affinity mask
// (a pool's cores; 1 if it cannot be read): the CPUs of SpinPolicy.
func AllowedCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 1 {
		return 1
	}
	return set.Count()
}
