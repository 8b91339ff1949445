package queue

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	"polytropon/ipc/shm"
)

const (
	defaultCapacity   = 1024
	maxCapacity       = 1 << 20
	defaultSpinBudget = 1000
	yieldEvery        = 64 // polls between yields while spinning (~2-3 µs)
)

// ringCapacity is cfg.Capacity rounded up to a power of two in
// [2, maxCapacity]; 0 means defaultCapacity.
func ringCapacity(cfg Config) (uint64, error) {
	c := cfg.Capacity
	if c == 0 {
		c = defaultCapacity
	}
	if c < 0 || c > maxCapacity {
		return 0, fmt.Errorf("queue: capacity %d out of range [1, %d]", cfg.Capacity, maxCapacity)
	}
	if c < 2 {
		c = 2
	}
	return 1 << bits.Len64(uint64(c-1)), nil
}

func checkWait(cfg Config) error {
	switch cfg.Wait {
	case Spin, SpinFutex, Futex, Adaptive:
	default:
		return fmt.Errorf("queue: unknown wait strategy %v", cfg.Wait)
	}
	if cfg.SpinBudget < 0 || cfg.Timeout < 0 {
		return fmt.Errorf("queue: negative spin budget (%d) or timeout (%v)", cfg.SpinBudget, cfg.Timeout)
	}
	return nil
}

// waitState carries one blocking operation through its waits: how long it
// spins before it sleeps, and its deadline (started at the first wait, so
// operations that never wait never read the clock).
type waitState struct {
	wait     Wait
	budget   int
	timeout  time.Duration
	spins    int
	deadline time.Time
}

func newWaitState(cfg *Config) waitState {
	b := cfg.SpinBudget
	if b == 0 {
		b = defaultSpinBudget
	}
	return waitState{wait: cfg.Wait, budget: b, timeout: cfg.Timeout}
}

// expired reports whether the operation's timeout has passed.
func (ws *waitState) expired() bool {
	if ws.timeout <= 0 {
		return false
	}
	now := time.Now()
	if ws.deadline.IsZero() {
		ws.deadline = now.Add(ws.timeout)
		return false
	}
	return now.After(ws.deadline)
}

// spin yields the processor once and reports true while the strategy says
// to keep spinning; false means: sleep now.
func (ws *waitState) spin() bool {
	if ws.wait == Spin || ((ws.wait == SpinFutex || ws.wait == Adaptive) && ws.spins < ws.budget) {
		ws.spins++
		// Yield only every yieldEvery polls: on a goroutine locked to its
		// thread (bake-off threads, pinned service threads) Gosched parks
		// the thread and hands the P over, a multi-microsecond round trip
		// that would dominate sub-microsecond waits; but a peer that shares
		// our P (GOMAXPROCS=1) only runs when we do yield.
		if ws.spins%yieldEvery == 0 {
			runtime.Gosched()
		} else {
			pause()
		}
		return true
	}
	return false
}

// pauseSink defeats dead-code elimination of the pause loop.
var pauseSink atomic.Uint32

// pause burns a few dozen nanoseconds between polls of a contended word
// (Go exposes no PAUSE instruction; an atomic load loop is the stand-in).
func pause() {
	for i := 0; i < 16; i++ {
		pauseSink.Load()
	}
}

// futexSleep sleeps on *p while it holds val, at most until the deadline.
// Callers loop and re-check their condition and expired().
func (ws *waitState) futexSleep(p *uint32, val uint32) error {
	var rem time.Duration
	if ws.timeout > 0 {
		if rem = time.Until(ws.deadline); rem <= 0 {
			return nil
		}
	}
	if err := shm.FutexWait(p, val, rem); err != nil && !errors.Is(err, shm.ErrTimedOut) {
		return err
	}
	return nil
}

// eventCount lets operations sleep until the other side makes progress
// (Dekker-style: waiters register, re-check, then sleep on seq; signallers
// make progress, then bump seq only when someone is registered). Both
// words may live in shared memory.
type eventCount struct {
	seq, waiters *uint32
}

func (e eventCount) prepare() uint32 {
	atomic.AddUint32(e.waiters, 1)
	return atomic.LoadUint32(e.seq)
}

func (e eventCount) done() { atomic.AddUint32(e.waiters, ^uint32(0)) }

// signal wakes every sleeper (waking one could strand an item if the woken
// one then times out).
func (e eventCount) signal() {
	if atomic.LoadUint32(e.waiters) != 0 {
		e.broadcast()
	}
}

func (e eventCount) broadcast() {
	atomic.AddUint32(e.seq, 1)
	shm.FutexWake(e.seq, 0)
}

// block runs attempt until it returns something other than busy (ErrFull or
// ErrEmpty), waiting on ec between attempts as ws says. attempt must return
// ErrClosed once the queue is closed; Close broadcasts ec.
func block(ws *waitState, ec eventCount, busy error, attempt func() error) error {
	for {
		err := attempt()
		if err != busy {
			return err
		}
		if ws.expired() {
			return ErrTimeout
		}
		if ws.spin() {
			continue
		}
		key := ec.prepare()
		if err = attempt(); err != busy {
			ec.done()
			return err
		}
		err = ws.futexSleep(ec.seq, key)
		ec.done()
		if err != nil {
			return err
		}
	}
}
