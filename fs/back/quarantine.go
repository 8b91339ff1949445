package back

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// Quarantine: the service never trusts the queues it shares with its
// tenant. A queue whose operations report corruption, that a service
// thread cannot attach, that is closed while the driver is not stopping,
// or whose periodic Check fails, is quarantined by its main thread: its
// memory is formatted anew, its generation (wire.QueueStats.Gen) is
// bumped so clients re-attach, and the requests submitted on it are
// answered with EIO. Other queues keep serving meanwhile; the service
// does not restart. Each queue's quarantines are logged through
// Incidents: once with the cause, then at most once per LogEvery, with a
// count.

// queueGuard is the quarantine state of one queue.
type queueGuard struct {
	mu        sync.Mutex    // held while the queue is rebuilt
	gen       atomic.Uint32 // the generation; mirrored in QueueStats.Gen
	repairing atomic.Bool   // no extra thread starts meanwhile
	suspect   atomic.Pointer[error]
	count     atomic.Uint64 // quarantines

	// The stall Check saw last and since when (under mu).
	stallKey   uint64
	stallSince time.Time
}

// stallLimit is how long a state that legitimately lasts microseconds (a
// ticket never filled, an item behind head) may persist before the queue
// is quarantined: well below the service threads' one-second give-up,
// which a scribbled tail would make them pay once per phantom ticket.
const stallLimit = 300 * time.Millisecond

// stalled reports a stall of the queue that persisted past stallLimit.
// Preconditions: g.mu held.
func (g *queueGuard) stalled(c queue.Checker) error {
	key, why, ok := c.Stall()
	if !ok {
		g.stallSince = time.Time{}
		return nil
	}
	if g.stallSince.IsZero() || key != g.stallKey {
		g.stallKey, g.stallSince = key, time.Now()
		return nil
	}
	if d := time.Since(g.stallSince); d > stallLimit {
		g.stallSince = time.Time{}
		return fmt.Errorf("%w: stalled for %v: %s", queue.ErrCorrupt, d.Round(time.Millisecond), why)
	}
	return nil
}

// Quarantines is the number of times queue q was quarantined and rebuilt.
func (d *Driver) Quarantines(q uint32) uint64 { return d.guards[q].count.Load() }

// Generation is queue q's current generation.
func (d *Driver) Generation(q uint32) uint32 { return d.guards[q].gen.Load() }

// Check validates every queue's shared state (designs implementing
// queue.Checker) and the generation words, then the request descriptors
// (bufwatch.go). A queue found corrupted is marked and closed, which
// wakes its service threads: the main one then rebuilds it. The service
// calls Check periodically.
func (d *Driver) Check() {
	if d.stopping.Load() {
		return
	}
	for qi := range d.queues {
		g := &d.guards[qi]
		if !g.mu.TryLock() {
			continue // being rebuilt
		}
		if gen := g.gen.Load(); atomic.LoadUint32(d.stats[qi].Gen) != gen {
			atomic.StoreUint32(d.stats[qi].Gen, gen) // scribbled: clients re-attach, no harm
		}
		var err error
		if c, ok := d.queues[qi].(queue.Checker); ok && g.suspect.Load() == nil {
			if err = c.Check(); err == nil {
				err = g.stalled(c)
			}
			// Closed is a legitimate state of a queue, but only the driver
			// closes its queues, when it stops: a closed flag now is a
			// tenant's, and a service thread asleep in Dequeue would see it
			// only at its timeout.
			if cl, ok := c.(interface{ Closed() bool }); ok && err == nil && cl.Closed() {
				err = fmt.Errorf("%w: closed while the service runs", queue.ErrCorrupt)
			}
		}
		g.mu.Unlock()
		if err != nil && !d.stopping.Load() {
			g.suspect.Store(&err)
			d.breakQueue(uint32(qi)) // its threads fail at once; the rebuild clears the flag
		}
	}
	d.checkBuffers()
}

// breakQueue makes every operation on queue q fail at once (a design
// that cannot be marked broken is closed: its operations drain, then
// fail). The handle's pointers were fixed at New: valid whatever the
// memory holds.
func (d *Driver) breakQueue(q uint32) {
	if c, ok := d.queues[q].(queue.Checker); ok {
		c.Break()
	} else {
		d.queues[q].Close()
	}
}

// suspect reports whether Check found queue q corrupted.
func (d *Driver) suspect(q uint32) bool { return d.guards[q].suspect.Load() != nil }

// attachQueue attaches queue qi for a service thread, rebuilding it when
// it cannot be attached (main threads; an extra thread gives up: nil).
func (d *Driver) attachQueue(qi uint32, qcfg queue.Config, extra bool) (queue.Queue, uint32) {
	for !d.stopping.Load() {
		gen := d.guards[qi].gen.Load()
		mem, _, _ := d.w.QueueMem(qi)
		q, err := d.cfg.Design.New(mem, qcfg, false)
		if err == nil {
			return q, gen
		}
		if extra {
			return nil, 0
		}
		d.rebuild(qi, gen, fmt.Errorf("attaching: %w", err))
	}
	return nil, 0
}

// recoverQueue handles an error of queue qi other than a timeout or the
// driver's own Close: the main thread rebuilds the queue (unless another
// thread already did since generation gen) and attaches it again; an
// extra thread leaves (nil).
func (d *Driver) recoverQueue(qi uint32, qcfg queue.Config, gen uint32, extra bool, err error) (queue.Queue, uint32) {
	if extra || d.stopping.Load() {
		return nil, 0
	}
	if p := d.guards[qi].suspect.Load(); p != nil && (errors.Is(err, queue.ErrClosed) || errors.Is(err, queue.ErrTimeout)) {
		err = *p // the cause Check found, not the close it used to wake us
	}
	d.rebuild(qi, gen, err)
	return d.attachQueue(qi, qcfg, false)
}

// rebuild quarantines queue qi at generation gen: it closes the old
// memory (waking every waiter), lets the extra threads leave, formats the
// memory anew, publishes the next generation and fails the requests
// submitted on the queue with EIO. Nothing happens when the generation
// moved on already (another thread rebuilt it).
func (d *Driver) rebuild(qi uint32, gen uint32, cause error) {
	g := &d.guards[qi]
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gen.Load() != gen || d.stopping.Load() {
		return
	}
	g.repairing.Store(true)
	defer g.repairing.Store(false)
	d.breakQueue(qi)
	for deadline := time.Now().Add(2 * time.Second); d.extra[qi].Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	mem, _, _ := d.w.QueueMem(qi)
	fcfg := d.cfg.Queue
	fcfg.Timeout = 0
	if _, err := d.cfg.Design.New(mem, fcfg, true); err != nil {
		// The memory and parameters are those New formatted at start.
		d.logf("back: queue %d: formatting it again: %v", qi, err)
		time.Sleep(time.Second)
		return
	}
	if d.stopping.Load() {
		d.queues[qi].Close() // Stop's close went with the old memory
	}
	next := g.gen.Add(1)
	atomic.StoreUint32(d.stats[qi].Gen, next)
	g.suspect.Store(nil)
	failed := d.failSubmitted(qi)
	g.count.Add(1)
	d.incidents.Add(fmt.Sprintf("back: queue %d", qi), fmt.Sprintf(
		"%v; quarantined: formatted anew as generation %d, %d in-flight request(s) failed with EIO", cause, next, failed))
}

// failSubmitted answers EIO to every request submitted on queue qi (its
// item may be lost with the old memory); the CAS Submitted -> Busy makes
// each request answered once, by this or by a service thread.
func (d *Driver) failSubmitted(qi uint32) uint64 {
	var n uint64
	for _, b := range d.bufs {
		if b.State() == wire.StateSubmitted && b.Queue() == qi && b.CASState(wire.StateSubmitted, wire.StateBusy) {
			b.Complete(-int64(syscall.EIO))
			n++
		}
	}
	return n
}
