// Package front is the front driver of the user-level I/O path: the client
// side of the shared-memory protocol of package fs/wire. It attaches a
// pool's service segment, hands out request buffers (claimed from the shared
// free list by CAS on the descriptor's owner word, then kept parked on a
// private free list of this process, where another process that finds no
// free buffer may take them over), submits requests on the queue of the caller's
// core group and waits for completion: it spins for a budget, then sleeps on
// the buffer's state futex with a timeout, checking the service's liveness
// (status, heartbeat, pid) at every wake-up, so a dead service turns into
// ENOTCONN within about HeartbeatStale and never into a hang.
//
// A Conn is safe for concurrent use; a Buffer belongs to one goroutine from
// Get to Put. The filesystem client (fs/client) builds the calls on top.
package front

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

var (
	// ErrNoService: no service segment under the key in this IPC namespace,
	// or the segment is not ready.
	ErrNoService = errors.New("front: no filesystem service")
	// ErrNoBuffer: every request buffer of the segment is taken.
	ErrNoBuffer = errors.New("front: no free request buffer")
)

// Options tunes a connection.
type Options struct {
	// SpinFor bounds the busy-wait for a completion before sleeping on the
	// futex (0: the service's spin_us). Ignored with the "futex" wait strategy; with "spin"
	// the client never sleeps (but still checks liveness).
	SpinFor time.Duration
	// Wait overrides the wait strategy of completions (nil: the segment's).
	Wait *queue.Wait
	// ReadyTimeout is how long Attach waits for a starting service to
	// become ready (0: 5s).
	ReadyTimeout time.Duration
	// EagerWake wakes a sleeping service thread at every enqueue, never
	// leaving the wake-up to the wait (lazyQueues): how every client
	// woke it before lazy wake-ups, kept for comparisons.
	EagerWake bool
}

// Conn is an attached service segment.
type Conn struct {
	seg     *shm.Segment
	W       *wire.Seg
	pid     int
	wait    queue.Wait
	spinFor int64
	design  queue.Design
	qcfg    queue.Config
	queues  []atomic.Pointer[attachedQueue] // requeue.go
	stats   []wire.QueueStatsView

	mu      sync.Mutex
	free    []*wire.Buffer // claimed buffers not in use
	held    []*wire.Buffer // every buffer this process claimed
	bufs    []*wire.Buffer // views, by index (nil until needed)
	nextBuf uint32
	inUse   int // buffers handed out by Get and not yet Put
	cond    *sync.Cond

	dead   atomic.Bool
	closed atomic.Bool

	lazy   []bool              // by queue: enqueue lazily (adaptive.go)
	policy queue.SpinPolicy    // the Adaptive strategy's (adaptive.go)
	est    queue.WaitEstimator // what this process's waits learnt
	calls  atomic.Int32        // calls between enqueue and completion (Adaptive only)
}

// Attach opens the service segment under key.
func Attach(key int, opts Options) (*Conn, error) {
	seg, err := shm.Open(key)
	if err != nil {
		return nil, fmt.Errorf("%w: key %#x: %v", ErrNoService, key, err)
	}
	c, err := attachSeg(seg, opts)
	if err != nil {
		seg.Detach()
		return nil, err
	}
	return c, nil
}

func attachSeg(seg *shm.Segment, opts Options) (*Conn, error) {
	ready := opts.ReadyTimeout
	if ready <= 0 {
		ready = 5 * time.Second
	}
	deadline := time.Now().Add(ready)
	var w *wire.Seg
	for {
		var err error
		w, err = wire.Open(seg.Bytes())
		if err == nil && w.Status() == wire.StatusReady {
			break
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %d", w.Status())
			}
			return nil, fmt.Errorf("%w: segment %d not ready after %v: %v", ErrNoService, seg.ID(), ready, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Alive(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoService, err)
	}
	l := w.Layout
	d, err := queue.Lookup(l.QueueDesign)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoService, err)
	}
	if !d.Shared {
		return nil, fmt.Errorf("%w: queue design %q is not shared-memory capable", ErrNoService, d.Name)
	}
	c := &Conn{seg: seg, W: w, pid: os.Getpid(), wait: queue.Wait(l.QueueWait), bufs: make([]*wire.Buffer, l.NumBuffers)}
	c.cond = sync.NewCond(&c.mu)
	if opts.Wait != nil {
		c.wait = *opts.Wait
	}
	c.spinFor = int64(opts.SpinFor)
	if c.spinFor <= 0 {
		c.spinFor = int64(time.Duration(l.SpinMicros) * time.Microsecond)
	}
	if c.spinFor <= 0 {
		c.spinFor = int64(time.Millisecond)
	}
	c.policy = adaptivePolicy(time.Duration(c.spinFor))
	c.design = d
	c.qcfg = queue.Config{Capacity: int(l.QueueCapacity), Wait: queue.Wait(l.QueueWait), Timeout: enqueueTimeout}
	c.queues = make([]atomic.Pointer[attachedQueue], l.NumQueues)
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		allowed.Zero()
	}
	groups := make([][]int, l.NumQueues)
	for q := range groups {
		groups[q] = c.CPUsOfQueue(uint32(q))
	}
	c.lazy = lazyQueues(c.wait, runtime.GOMAXPROCS(0), allowed, groups)
	if opts.EagerWake {
		clear(c.lazy)
	}
	for i := uint32(0); i < l.NumQueues; i++ {
		_, st, err := w.QueueMem(i)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoService, err)
		}
		c.stats = append(c.stats, st)
		if h, err := c.attachQueue(i); err == nil {
			c.queues[i].Store(h)
		} // else corrupted: the service rebuilds it, the first enqueue waits (requeue.go)
	}
	return c, nil
}

// Pid is the pid this connection registers buffers under.
func (c *Conn) Pid() int { return c.pid }

// Get returns a request buffer owned by this process: one it parked, else a
// free one of the segment, else one another process parked. When every
// buffer is in use it waits for one of this process's buffers to come back
// (or, if it uses none, for another process to park or release one), up to
// a second, then fails with ErrNoBuffer.
func (c *Conn) Get() (*wire.Buffer, error) {
	deadline := time.Now().Add(time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.dead.Load() || c.closed.Load() {
			return nil, syscall.ENOTCONN
		}
		if n := len(c.free); n > 0 {
			b := c.free[n-1]
			c.free = c.free[:n-1]
			if !b.Unpark(c.pid) {
				// Another process took it over (or scribbled its
				// owner word). Not ours any more; take another.
				c.held = slices.DeleteFunc(c.held, func(h *wire.Buffer) bool { return h == b })
				continue
			}
			c.inUse++
			return b, nil
		}
		b, err := c.claimLocked()
		if err != nil {
			return nil, err
		}
		if b != nil {
			c.inUse++
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (%d buffers, %d held by this process)", ErrNoBuffer, c.W.Layout.NumBuffers, len(c.held))
		}
		if c.inUse > 0 {
			c.cond.Wait() // Put signals
		} else {
			c.mu.Unlock()
			time.Sleep(time.Millisecond)
			c.mu.Lock()
		}
	}
}

// claimLocked takes a free buffer of the segment, else one another process
// parked (nil when every buffer is in use). Preconditions: c.mu held.
func (c *Conn) claimLocked() (*wire.Buffer, error) {
	nb := c.W.Layout.NumBuffers
	for _, take := range []func(*wire.Buffer, int) bool{(*wire.Buffer).Claim, (*wire.Buffer).TakeOver} {
		for i := uint32(0); i < nb; i++ {
			idx := (c.nextBuf + i) % nb
			b := c.bufs[idx]
			if b == nil {
				var err error
				if b, err = c.W.Buffer(idx); err != nil {
					return nil, err
				}
				c.bufs[idx] = b
			}
			if !take(b, c.pid) {
				continue
			}
			b.SetState(wire.StateIdle)
			b.ResetCompletion()
			c.nextBuf = idx + 1
			c.held = append(c.held, b)
			return b, nil
		}
	}
	return nil, nil
}

// Put parks a buffer on the private free list.
func (c *Conn) Put(b *wire.Buffer) {
	c.mu.Lock()
	if b.Park(c.pid) {
		c.free = append(c.free, b)
	} else { // scribbled owner word: not ours any more
		c.held = slices.DeleteFunc(c.held, func(h *wire.Buffer) bool { return h == b })
	}
	c.inUse--
	c.mu.Unlock()
	c.cond.Broadcast()
}

// Call submits the request in b (req is written into the descriptor) on
// queue q and waits for its completion. It returns Ret, or ENOTCONN when
// the service is gone (the buffer is then abandoned, not reused), or EIO
// when queue q stays unusable (requeue.go).
func (c *Conn) Call(b *wire.Buffer, q uint32, req *wire.Request) (int64, error) {
	if c.dead.Load() {
		return 0, syscall.ENOTCONN
	}
	if q >= uint32(len(c.queues)) {
		q = 0
	}
	if h := c.queue(q); h != nil {
		if p, ok := h.q.(queue.EnqueuePrefetcher); ok {
			p.PrefetchEnqueue()
		}
	}
	b.WriteRequest(req)
	b.ResetCompletion()
	markSubmitted(b, q)
	owed, err := c.enqueue(q, b, c.lazy[q])
	if err != nil {
		if errors.Is(err, syscall.EIO) {
			// The queue stays broken. Should the item still be in it,
			// the service drops it: the buffer is no longer submitted.
			b.CASState(wire.StateSubmitted, wire.StateIdle)
			return 0, err
		}
		c.dead.Store(true)
		return 0, syscall.ENOTCONN
	}
	if err := c.await(b, q, req.Call, owed); err != nil {
		c.dead.Store(true)
		return 0, err
	}
	ret := b.Ret()
	b.SetState(wire.StateIdle)
	return ret, nil
}

// await waits until b, a request of call on queue q, is Completed: spin,
// then futex sleep with liveness checks. owed is the wake-up of the
// service thread a lazy enqueue left to the wait (adaptive.go).
func (c *Conn) await(b *wire.Buffer, q, call uint32, owed queue.Wake) error {
	if c.wait == queue.Adaptive {
		c.calls.Add(1)
		defer c.calls.Add(-1)
		return c.awaitAdaptive(b, c.stats[q], call, owed)
	}
	owed.Do() // only the adaptive wait enqueues lazily; kept for safety
	if b.Completed() {
		return nil
	}
	if c.wait != queue.Futex {
		// A plain poll: runtime.Gosched on a locked thread would cost a
		// futex round trip in the Go scheduler.
		start := wire.MonotonicNow()
		lastCheck := start
		for i := 1; ; i++ {
			if b.Completed() {
				if lastCheck != start {
					b.SetWaiter(0)
				}
				return nil
			}
			if i%256 == 0 {
				now := wire.MonotonicNow()
				if c.wait == queue.SpinFutex && int64(now-start) > c.spinFor {
					break
				}
				if now-start > yieldAfter {
					// Let a service thread that shares this CPU run
					// (an OS-level yield; the thread stays locked).
					unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
				}
				if now-lastCheck > uint64(100*time.Millisecond) {
					lastCheck = now
					// Say it waits past its enqueue, as a sleeper does:
					// the service answers a lost item only then
					// (fs/back/bufwatch.go).
					b.SetWaiter(1)
					if err := c.W.Alive(); err != nil {
						return fmt.Errorf("%w: %v", syscall.ENOTCONN, err)
					}
				}
			}
		}
	}
	return c.sleep(b)
}

// sleep waits for b's completion on the futex of its Done word, 100 ms at
// a time with a liveness check at every wake-up.
func (c *Conn) sleep(b *wire.Buffer) error {
	p := b.DonePtr()
	for {
		b.SetWaiter(1)
		if b.Completed() {
			b.SetWaiter(0)
			return nil
		}
		if err := shm.FutexWait(p, 0, 100*time.Millisecond); err != nil && !errors.Is(err, shm.ErrTimedOut) {
			return fmt.Errorf("%w: %v", syscall.ENOTCONN, err)
		}
		if b.Completed() {
			b.SetWaiter(0)
			return nil
		}
		if err := c.W.Alive(); err != nil {
			return fmt.Errorf("%w: %v", syscall.ENOTCONN, err)
		}
	}
}

// yieldAfter is how long a poll runs before it starts yielding the CPU
// between checks (an oversubscribed host may run the service thread on the
// polling thread's CPU).
const yieldAfter = uint64(20 * time.Microsecond)

// Dead reports whether the connection saw the service die.
func (c *Conn) Dead() bool { return c.dead.Load() }

// QueueOfCurrentCPU returns the queue of the core group the calling thread
// runs on (0 with a single queue).
func (c *Conn) QueueOfCurrentCPU() uint32 {
	if len(c.queues) <= 1 {
		return 0
	}
	var cpu, node uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptrOf(&cpu), uintptrOf(&node), 0); e != 0 {
		return 0
	}
	return c.W.QueueFor(int(cpu))
}

// NumQueues is the number of request queues.
func (c *Conn) NumQueues() int { return len(c.queues) }

// CPUsOfQueue lists the CPUs whose core group queue q serves.
func (c *Conn) CPUsOfQueue(q uint32) []int {
	var out []int
	for cpu, qq := range c.W.Layout.QueueOfCPU {
		if uint32(qq) == q {
			out = append(out, cpu)
		}
	}
	return out
}

// Close waits for the calls in progress (buffers not yet Put), frees the
// buffers it still has parked (unless the service died, when their state
// is unknown; not those another connection took over) and detaches the
// segment. Later calls get ENOTCONN.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.mu.Lock()
	for c.inUse > 0 {
		c.cond.Wait()
	}
	if !c.dead.Load() {
		for _, b := range c.free {
			b.Release(c.pid)
		}
	}
	c.free, c.held = nil, nil
	c.mu.Unlock()
	return c.seg.Detach()
}
