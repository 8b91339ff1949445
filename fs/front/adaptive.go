package front

import (
	"fmt"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// awaitAdaptive waits for b's completion under the Adaptive strategy
// (ipc/queue/adaptive.go): poll while the policy says polling pays,
// burning this CPU only when the process holds fewer burners than CPUs - 1
// and a service thread of the queue (st) is awake, and yielding it
// otherwise, then sleep on the futex (sleep, below).
//
// A yield yields twice: to the Go scheduler, so that another goroutine of
// this process runs on our P (a goroutine that held its P through a wait
// kept every other goroutine of a one-CPU process waiting for it), and,
// every yieldOSEvery rounds unless the process saw a preemption lately, to
// the kernel, so that a service thread that shares our CPU runs. A wait
// with no other call of the process in flight yields to the kernel every
// round: no goroutine of ours is waiting for the P. The goroutine is unlocked from its thread while it
// yields: runtime.Gosched on a locked thread hands the P to another thread
// and back, a futex round trip each way.
//
// Past the budget a Go waiter sleeps only when no other call of this
// process is in flight, or after goYieldMax: a goroutine asleep in the
// futex system call keeps its P until the runtime's monitor takes it back
// (20 µs or more), so the process's other goroutines, whose replies may be
// waiting already, could not run meanwhile.
//
// A wake-up the lazy enqueue owes (owed) is issued after one yield to the
// Go scheduler: the goroutines of this process that were ready meanwhile
// enqueue theirs first, and the service thread, woken at a raised priority
// on this very CPU, serves them all in the one turn it takes the CPU.
func (c *Conn) awaitAdaptive(b *wire.Buffer, st wire.QueueStatsView, call uint32, owed queue.Wake) error {
	unlocked := false
	defer func() {
		if unlocked {
			runtime.LockOSThread()
		}
	}()
	if owed.Owed() {
		runtime.UnlockOSThread()
		unlocked = true
		runtime.Gosched()
		owed.Do()
	}
	if b.Completed() {
		return nil
	}
	now := int64(wire.MonotonicNow())
	w := c.est.Begin(&c.policy, int(call), now)
	lastCheck := now
	for round := 0; ; round++ {
		step := w.TickAwake(now, st.ServiceAwake())
		if step == queue.StepSleep {
			if c.calls.Load() <= 1 || time.Duration(now-w.Start()) > goYieldMax {
				break
			}
			step = queue.StepYield
		}
		if now-lastCheck > int64(100*time.Millisecond) {
			lastCheck = now
			if err := c.W.Alive(); err != nil {
				w.End(now, false)
				return fmt.Errorf("%w: %v", syscall.ENOTCONN, err)
			}
		}
		if step == queue.StepBurn {
			for i := 0; i < 64; i++ {
				if b.Completed() {
					w.End(int64(wire.MonotonicNow()), false)
					return nil
				}
			}
		} else {
			if !unlocked {
				runtime.UnlockOSThread()
				unlocked = true
			}
			if c.calls.Load() <= 1 || (round%yieldOSEvery == yieldOSEvery-1 && !c.est.Contended(now)) {
				unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			} else {
				runtime.Gosched()
			}
			if b.Completed() {
				w.End(int64(wire.MonotonicNow()), false)
				return nil
			}
		}
		now = int64(wire.MonotonicNow())
	}
	err := c.sleep(b)
	w.End(int64(wire.MonotonicNow()), true)
	return err
}

// yieldOSEvery: one yield in this many goes to the kernel (sched_yield),
// the others to the Go scheduler.
const yieldOSEvery = 4

// goYieldMax bounds the yielding of a waiter past its budget while other
// calls of the process are in flight.
const goYieldMax = time.Millisecond

// adaptivePolicy is the Adaptive policy of a connection: its spin time
// (Options.SpinFor or the segment's spin_us) as the longest poll, and the
// CPUs this process may run on (a pool's cores).
func adaptivePolicy(spinFor time.Duration) queue.SpinPolicy {
	return queue.SpinPolicy{Max: spinFor, CPUs: queue.AllowedCPUs()}.WithDefaults()
}

// lazyQueues says, per queue, whether this connection's enqueues leave the
// service thread's wake-up to the wait (awaitAdaptive): with one P
// (GOMAXPROCS 1), under the Adaptive strategy, for a queue whose core
// group holds one CPU this process may run on (groups[q]: the CPUs of
// queue q). The service thread then shares that CPU with the goroutines
// that enqueue there, and a wake-up at once hands it the CPU before the
// process's other goroutines have enqueued: one request per turn. With
// more Ps a yield to the Go scheduler lets another P take the waiter (and
// its wake-up) to another CPU instead of running the goroutines that
// would enqueue next: measured, it batched less than it cost.
func lazyQueues(wait queue.Wait, procs int, allowed unix.CPUSet, groups [][]int) []bool {
	out := make([]bool, len(groups))
	if wait != queue.Adaptive || procs != 1 {
		return out
	}
	for q, g := range groups {
		n := 0
		for _, cpu := range g {
			if allowed.IsSet(cpu) {
				n++
			}
		}
		out[q] = n == 1
	}
	return out
}
