// Package queue holds the request-queue designs of the user-level I/O path
// and their rivals: RCQB (the papers' relaxed concurrent queue, blocking),
// LCRQ, WFQ, BQ, and baselines (mutex+cond ring, Vyukov's bounded MPMC ring,
// a Go channel).
//
// Every design carries uint64 items (request-descriptor slot indices or
// shared-memory offsets) and is registered by name with Register, so that the
// bake-off (package ipc/bench), the filesystem service and the tests can
// iterate over all of them. Designs that can live in caller-supplied memory
// (a System V segment shared by two processes) say so with Design.Shared; the
// others run in-process only.
//
// Adding a design = one file with the implementation and one Register call in
// its init function (see docs/queues.md).
package queue

import (
	"errors"
	"fmt"
	"time"

	"polytropon/internal/registry"
	"polytropon/ipc/shm"
)

// Queue is a multi-producer multi-consumer FIFO-ish queue of uint64 items.
// Designs document how strictly they keep FIFO order.
type Queue interface {
	// Enqueue blocks, by the configured wait strategy, until there is
	// room; it fails with ErrClosed after Close and ErrTimeout when the
	// configured timeout passes.
	Enqueue(v uint64) error
	// Dequeue blocks until an item is there; ErrClosed once the queue is
	// closed and (for designs that can tell) drained; ErrTimeout likewise.
	Dequeue() (uint64, error)
	// TryEnqueue and TryDequeue never block: ErrFull / ErrEmpty.
	TryEnqueue(v uint64) error
	TryDequeue() (uint64, error)
	// Close wakes every waiter; later operations fail with ErrClosed.
	Close() error
}

// Backlogger is implemented by designs that can count the items queued
// and not yet dequeued (for the ticket-based rings: tail - head, which
// also counts enqueues still completing). The count is a snapshot, stale
// once read; the back driver reads it off the request path to decide when
// to add service threads, so the request path needs no shared counter.
type Backlogger interface {
	Backlog() int
}

// EnqueuePrefetcher is implemented by designs that can start fetching the
// memory the next enqueue will write (a hint; it changes nothing). A
// caller that prepares an item in shared memory first calls it, so the
// queue line's cross-core transfer overlaps the writes of the item.
type EnqueuePrefetcher interface {
	PrefetchEnqueue()
}

// LazyEnqueuer is implemented by designs whose enqueue can leave the
// wake-up of a dequeuer asleep on the queue to the caller. A caller that
// shares its CPU with the dequeuer (a client and the service thread pinned
// to its core) lets its process's other threads enqueue first, then wakes
// once: the dequeuer, woken at a raised priority, takes the CPU at the
// wake-up, so an immediate wake served one item per turn of the CPU.
// A wake owed and never issued delays the item until the dequeuer's own
// timeout; it loses nothing.
type LazyEnqueuer interface {
	// EnqueueLazy is Enqueue without the wake-up of a sleeping dequeuer,
	// which it returns (Wake.Owed) for the caller to Do.
	EnqueueLazy(v uint64) (Wake, error)
}

// Wake is a wake-up an EnqueueLazy owes: the futex word a dequeuer sleeps
// on, or none.
type Wake struct{ word *uint32 }

// Owed reports whether a dequeuer sleeps and waits for this wake-up.
func (w Wake) Owed() bool { return w.word != nil }

// Do issues the wake-up, if one is owed.
func (w Wake) Do() {
	if w.word != nil {
		shm.FutexWake(w.word, 0)
	}
}

// Wait is how a blocked operation waits.
type Wait int

const (
	// Spin busy-waits (with a CPU pause hint) and never sleeps.
	Spin Wait = iota
	// SpinFutex spins for Config.SpinBudget iterations, then sleeps on a
	// futex of the shared word.
	SpinFutex
	// Futex sleeps at once.
	Futex
	// Adaptive polls only while polling can pay, for a budget tied to the
	// waits it observed, burning a CPU only when one is free and yielding
	// it otherwise, then sleeps (adaptive.go). A queue's own blocking
	// operations treat it as SpinFutex; the request path's waiters (fs/front,
	// fs/back, the preload library) run the policy.
	Adaptive
)

func (w Wait) String() string {
	switch w {
	case Spin:
		return "spin"
	case SpinFutex:
		return "spin-futex"
	case Futex:
		return "futex"
	case Adaptive:
		return "adaptive"
	}
	return fmt.Sprintf("Wait(%d)", int(w))
}

// ParseWait is the inverse of Wait.String.
func ParseWait(s string) (Wait, error) {
	for _, w := range Waits() {
		if w.String() == s {
			return w, nil
		}
	}
	return 0, fmt.Errorf("queue: unknown wait strategy %q (want spin, spin-futex, futex or adaptive)", s)
}

// Waits lists every wait strategy.
func Waits() []Wait { return []Wait{Spin, SpinFutex, Futex, Adaptive} }

// Polls reports whether a waiter of this strategy polls before it sleeps
// (every one but Futex).
func (w Wait) Polls() bool {
	return w != Futex
}

// Config parameterizes a queue instance.
type Config struct {
	Capacity   int           // number of slots; designs may round up to a power of two
	Wait       Wait          // wait strategy of blocking operations
	SpinBudget int           // spins before sleeping with SpinFutex; 0 means a default
	Timeout    time.Duration // bound on a blocking operation; 0 waits forever
	// OnItem, when set, is called by a dequeuer with the item as soon as
	// it has read it, before the dequeue completes (designs that can tell
	// early call it; a retried dequeue may call it again). It must not
	// block: it is for starting a prefetch of what the item names.
	OnItem func(item uint64)
}

// Design describes one queue implementation.
type Design struct {
	Name string
	// Shared reports that the queue lives entirely in the memory given to
	// New (no Go pointers inside), so two processes can share it.
	Shared bool
	// Size is the number of bytes of memory New needs for cfg (0 for
	// designs that allocate their own, in-process memory).
	Size func(cfg Config) int
	// New builds a queue over mem. With init it formats mem; without, it
	// attaches to a queue another process formatted (Shared designs only).
	New func(mem []byte, cfg Config, init bool) (Queue, error)
}

var (
	ErrClosed  = errors.New("queue: closed")
	ErrTimeout = errors.New("queue: timed out")
	ErrFull    = errors.New("queue: full")
	ErrEmpty   = errors.New("queue: empty")
)

// designs are the registered queue designs.
var designs = registry.New[Design]("queue", "design")

// Register adds a design; it is meant for init functions and panics on a
// duplicate name.
func Register(d Design) { designs.Register(d.Name, d) }

// Lookup returns the named design.
func Lookup(name string) (Design, error) { return designs.Lookup(name) }

// Designs returns every registered design, sorted by name.
func Designs() []Design { return designs.Values() }
