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
// or whose periodic Check fails (on proof of a scribble: a stall counts
// only when no honest party can cause it, stalled), is quarantined: it is
// marked broken (every operation on it fails at once), the requests
// submitted on it are answered EIO at once, and its main thread formats
// its memory anew and bumps its generation (wire.QueueStats.Gen) so
// clients re-attach. Other queues keep serving meanwhile; the service
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
	failed    atomic.Uint64 // requests failed when the queue was broken, not yet logged

	items atomic.Uint64 // items the service threads took (claimed or dropped)

	tidMu       sync.Mutex
	tids        []int  // the OS threads serving the queue (threads.go)
	threadsSeen uint64 // threads that ever served it

	stall stallWatch // Check's (under mu)
}

// Budgets of the path of a request through a damaged queue (the sum is
// written out in docs/service.md, "Budgets"): every one is far below
// the 1 s in which a legitimate request gets its answer or EIO.
const (
	// serviceWait bounds every wait of a main service thread in Dequeue:
	// the idle sleep (it then looks at head and tail again, so a queue
	// scribbled while it slept is noticed) and the wait of a ticket for
	// its enqueuer, after which the round is skipped (an enqueuer that
	// was only slow, descheduled or stopped, finds its round skipped and
	// enqueues again with a new ticket: nothing is lost or failed).
	serviceWait = 40 * time.Millisecond
	// stallLimit is how long the queue may show one of the stalls of
	// queue.Checker (a ticket whose slot stays empty, an item behind
	// head) before the stall proves a scribble and the queue is
	// quarantined; see stallWatch for the evidence besides time.
	stallLimit = 150 * time.Millisecond
	// phantomTickets is how many distinct tickets in a row must have
	// stalled, each skipped by the service after serviceWait, before the
	// tickets are taken as phantoms (a tail moved by someone else).
	phantomTickets = 3
)

// stallWatch is what Check saw of a queue's stalls.
type stallWatch struct {
	since time.Time // zero: no stall being watched
	key   uint64
	keys  int       // distinct stalled tickets in a row (empty-slot stalls)
	items uint64    // queueGuard.items when the watch started
	taker takerMark // for an item behind head
	quiet bool      // the last Check saw no stall
}

// Stall keys (queue.Checker) with the high bit set name an item behind
// head; the others a ticket whose slot stays empty.
const stallBehindHead = 1 << 63

// stalled judges the stall of queue q that Check sees now. A stall proves
// a scribble only when no honest party can be its cause:
//   - A ticket whose slot stays empty belongs to an enqueuer that took it
//     and did not fill it yet: an honest one that is descheduled or
//     stopped for a while costs its round (the service skips it after
//     serviceWait) and no more. Only phantomTickets such tickets in a
//     row, with no item taken from the queue meanwhile, stalled for
//     stallLimit (a Check falling between two of them may see no stall
//     once), mean tickets nobody holds: a tail moved forward. A stall
//     that stays on one ticket means that the service thread did not run
//     to skip it: not a fault.
//   - An item at a ticket behind head belongs to the service thread that
//     took the ticket and has not taken the item yet: descheduled, so
//     runnable. It is stranded only when, after stallLimit on the same
//     item, no service thread can be holding it (noTaker: they all
//     sleep, or the only one took other items since) and the item is
//     still there after that was read.
//
// Preconditions: g.mu held.
func (g *queueGuard) stalled(c queue.Checker) error {
	key, why, ok := c.Stall()
	w := &g.stall
	items := g.items.Load()
	switch {
	case !ok && (w.quiet || w.since.IsZero() || w.key&stallBehindHead != 0):
		*w = stallWatch{}
		return nil
	case !ok:
		w.quiet = true
		return nil
	case w.since.IsZero() || (key^w.key)&stallBehindHead != 0 || (key != w.key && key&stallBehindHead != 0) ||
		(w.items != items && key&stallBehindHead == 0):
		*w = stallWatch{since: time.Now(), key: key, keys: 1, items: items}
		if key&stallBehindHead != 0 {
			w.taker = g.mark()
		}
		return nil
	case key != w.key:
		w.key, w.keys = key, w.keys+1
	}
	w.quiet = false
	d := time.Since(w.since)
	if d <= stallLimit {
		return nil
	}
	if key&stallBehindHead == 0 {
		if w.keys < phantomTickets {
			return nil
		}
		n := w.keys
		*w = stallWatch{}
		return fmt.Errorf("%w: %d tickets in a row nobody filled, for %v (a tail moved by someone else): %s",
			queue.ErrCorrupt, n, d.Round(time.Millisecond), why)
	}
	if !g.noTaker(w.taker) {
		return nil
	}
	if again, _, ok := c.Stall(); !ok || again != key {
		return nil // taken after all
	}
	*w = stallWatch{}
	return fmt.Errorf("%w: stranded for %v with no service thread taking it: %s", queue.ErrCorrupt, d.Round(time.Millisecond), why)
}

// patientQueue is a main service thread's handle on its queue: Dequeue
// waits until an item comes or the queue fails, each wait of the queue
// bounded by serviceWait (its Timeout), so that the thread reads head and
// tail again and gives up a ticket's wait for its enqueuer that often,
// while an idle thread does not go back to polling after each wait.
type patientQueue struct {
	queue.Queue
	d  *Driver
	qi uint32
}

func (p patientQueue) Dequeue() (uint64, error) {
	for {
		v, err := p.Queue.Dequeue()
		if !errors.Is(err, queue.ErrTimeout) || p.d.suspect(p.qi) || p.d.stopping.Load() {
			return v, err
		}
	}
}

// tookItem counts an item a service thread took from queue q (claim
// calls it, whatever it makes of the item): progress, for stalled.
func (d *Driver) tookItem(q uint32) { d.guards[q].items.Add(1) }

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
		// Still under g.mu: a rebuild that a service thread started
		// meanwhile must not see its new memory broken and its new
		// requests failed for what the old memory held.
		if err != nil && !d.stopping.Load() {
			g.suspect.Store(&err)
			d.breakQueue(uint32(qi)) // its threads fail at once; the rebuild clears the flag
			// Its requests are answered now, not after the rebuild: a
			// service thread busy with a long request rebuilds later.
			g.failed.Add(d.failSubmitted(uint32(qi)))
		}
		g.mu.Unlock()
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
			d.threadOf(qi) // this service thread serves qi (threads.go)
			if !extra {
				q = patientQueue{q, d, qi}
			}
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
	if p := d.guards[qi].suspect.Load(); p != nil {
		err = *p // the cause Check found, not the break it used to wake us
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
	g.failed.Add(d.failSubmitted(qi)) // at once, before the extra threads leave
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
	g.stall = stallWatch{}
	// Requests submitted meanwhile are failed before the generation is
	// published: a client that saw the new one enqueues on the new
	// memory, and its request must not be failed.
	failed := g.failed.Swap(0) + d.failSubmitted(qi)
	next := g.gen.Add(1)
	atomic.StoreUint32(d.stats[qi].Gen, next)
	g.suspect.Store(nil)
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
