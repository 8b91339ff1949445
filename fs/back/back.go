// Package back is the back driver of the user-level I/O path: the service
// side of the shared-memory protocol of package fs/wire. It formats the
// request queues of a service segment and runs the service threads: one per
// queue (one queue per core group), locked to its OS thread and pinned to a
// core of its group, plus extra threads while a queue's backlog stays
// above a threshold. A thread dequeues a buffer index, takes the request
// by moving its state Submitted -> Busy (CAS), hands it to the Handler and
// publishes the result on the descriptor's completion line
// (Buffer.Complete: Done = 1, futex wake only when the client sleeps).
//
// Items that are not a valid buffer index, or name a buffer that is not
// submitted (stale, forged, or a dead client's), are logged (rate limited)
// and dropped; a queue that reports corruption is quarantined and rebuilt
// under a new generation (quarantine.go). The driver never stops serving
// because of what it reads from shared memory.
package back

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// Handler serves one request. It must validate everything in req (it comes
// from shared memory) and return the result: >= 0, or -errno. It runs on
// many service threads at once.
type Handler interface {
	Serve(b *wire.Buffer, req *wire.Request) int64
}

// Config tunes the driver.
type Config struct {
	Design queue.Design
	Queue  queue.Config // Capacity and Wait of every queue
	// SpinFor is how long an idle service thread polls its queue before
	// it sleeps, with the spin-futex strategy (0: 1ms).
	SpinFor time.Duration
	// Pin pins each queue's threads to the CPUs of its core group (the
	// main thread to the group's first CPU).
	Pin bool
	// ExtraThreshold adds a service thread to a queue when its backlog
	// exceeds it (0: 8); MaxExtra bounds the extra threads per queue
	// (0: 1; negative: none).
	ExtraThreshold int
	MaxExtra       int
	// Nice is the nice value of the service threads (-20..19; 0 leaves
	// the process's), so clients sharing their core do not starve them.
	Nice int
	// Policy is the Adaptive strategy's policy for the idle poll (its
	// zero fields take the defaults, Max: SpinFor, CPUs: the process's).
	Policy queue.SpinPolicy
	// Logf reports dropped items and queue errors (nil: discard).
	Logf func(format string, args ...any)
	// Dispatch orders waiting requests by their tenants' weights
	// (dispatch.go); its zero value serves them as they are dequeued.
	Dispatch Dispatch
	// LogEvery bounds how often the incidents of one structure (a
	// quarantined queue, a stuck buffer, dropped items) are logged after
	// the first ones (0: 10s; Incidents).
	LogEvery time.Duration
}

// Driver runs the service threads of one segment.
type Driver struct {
	w      *wire.Seg
	cfg    Config
	h      Handler
	queues []queue.Queue
	stats  []wire.QueueStatsView
	bufs   []*wire.Buffer
	groups [][]int     // CPUs per queue
	disp   *dispatcher // weight-aware dispatch; nil: none

	startMu  sync.Mutex // orders starting threads against Stop
	threads  atomic.Int64
	dropped  atomic.Uint64
	served   atomic.Uint64
	stopping atomic.Bool
	wg       sync.WaitGroup
	extra    []atomic.Int32

	idle []*idleShare // per queue: the Adaptive idle poll's policy and estimator (idle.go)

	guards    []queueGuard // per queue (quarantine.go)
	watch     []bufWatch   // per buffer (bufwatch.go)
	watchMu   sync.Mutex
	incidents *Incidents // damaged structures (quarantine.go, bufwatch.go)
	notes     *Incidents // dropped items and other errors: 20 lines, then counts
}

// New formats the queues of w (the header must already be written) and
// returns a driver; Start runs it.
func New(w *wire.Seg, cfg Config, h Handler) (*Driver, error) {
	if !cfg.Design.Shared {
		return nil, fmt.Errorf("back: queue design %q cannot live in shared memory", cfg.Design.Name)
	}
	if cfg.ExtraThreshold <= 0 {
		cfg.ExtraThreshold = 8
	}
	if cfg.MaxExtra == 0 {
		cfg.MaxExtra = 1
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	l := w.Layout
	if cfg.Dispatch.Weighted {
		if _, ok := h.(Classifier); !ok {
			return nil, fmt.Errorf("back: weighted dispatch needs a handler that classifies requests (Classifier)")
		}
	}
	d := &Driver{w: w, cfg: cfg, h: h, bufs: make([]*wire.Buffer, l.NumBuffers), extra: make([]atomic.Int32, l.NumQueues),
		disp:   newDispatcher(cfg.Dispatch, h),
		guards: make([]queueGuard, l.NumQueues), watch: make([]bufWatch, l.NumBuffers), incidents: &Incidents{Every: cfg.LogEvery, Logf: cfg.Logf},
		notes: &Incidents{Every: cfg.LogEvery, Burst: 20, Logf: cfg.Logf}}
	for i := range d.bufs {
		b, err := w.Buffer(uint32(i))
		if err != nil {
			return nil, err
		}
		d.bufs[i] = b
	}
	d.groups = make([][]int, l.NumQueues)
	for cpu, q := range l.QueueOfCPU {
		d.groups[q] = append(d.groups[q], cpu)
	}
	d.idle = idleShares(cfg, d.groups)
	qcfg := cfg.Queue
	qcfg.Timeout = 0
	for i := uint32(0); i < l.NumQueues; i++ {
		mem, st, err := w.QueueMem(i)
		if err != nil {
			return nil, err
		}
		q, err := cfg.Design.New(mem, qcfg, true)
		if err != nil {
			return nil, fmt.Errorf("back: formatting queue %d: %w", i, err)
		}
		d.queues = append(d.queues, q)
		d.stats = append(d.stats, st)
	}
	return d, nil
}

// Start launches one service thread per queue.
func (d *Driver) Start() {
	ensureProcs(len(d.queues) * (1 + max(d.cfg.MaxExtra, 0)))
	for i := range d.queues {
		d.startThread(uint32(i), false)
	}
}

// Threads is the number of service threads running.
func (d *Driver) Threads() int { return int(d.threads.Load()) }

// Dropped is the number of queue items dropped (bad index, not submitted).
func (d *Driver) Dropped() uint64 { return d.dropped.Load() }

// Served is the number of requests handed to the handler.
func (d *Driver) Served() uint64 { return d.served.Load() }

// Stop closes the queues (waking every service thread) and waits for the
// threads to finish their current request.
func (d *Driver) Stop() {
	d.startMu.Lock()
	already := d.stopping.Swap(true)
	d.startMu.Unlock()
	if already {
		d.wg.Wait()
		return
	}
	for _, q := range d.queues {
		q.Close()
	}
	d.wg.Wait()
	d.incidents.Flush()
	d.notes.Flush()
}

// Balance adds an extra service thread to every queue whose backlog
// exceeds the threshold (the service calls it periodically, so a queue
// whose threads are all stuck in long requests still gets help).
func (d *Driver) Balance() {
	if d.stopping.Load() || d.cfg.MaxExtra <= 0 {
		return
	}
	for qi := range d.queues {
		if d.Backlog(uint32(qi)) > d.cfg.ExtraThreshold {
			d.addExtra(uint32(qi))
		}
	}
}

// Backlog is the number of requests queued on queue q and not yet taken
// by a service thread (0 for designs that cannot tell: they get no extra
// threads).
func (d *Driver) Backlog(q uint32) int {
	if b, ok := d.queues[q].(queue.Backlogger); ok {
		return b.Backlog()
	}
	return 0
}

// backlogEvery is how many requests a main service thread serves between
// two looks at its queue's backlog: the look reads the clients' tail line,
// which is not worth a cache-line transfer per request.
const backlogEvery = 32

// addExtra starts an extra thread on queue q unless it has MaxExtra
// already or the driver is stopping.
func (d *Driver) addExtra(q uint32) {
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if d.stopping.Load() || d.extra[q].Load() >= int32(d.cfg.MaxExtra) || d.guards[q].repairing.Load() {
		return
	}
	d.extra[q].Add(1)
	d.startThread(q, true)
}

func (d *Driver) startThread(q uint32, extra bool) {
	d.wg.Add(1)
	d.threads.Add(1)
	atomic.AddUint32(d.stats[q].Threads, 1)
	go func() {
		defer d.wg.Done()
		defer d.threads.Add(-1)
		defer atomic.AddUint32(d.stats[q].Threads, ^uint32(0))
		if extra {
			defer d.extra[q].Add(-1)
		}
		runtime.LockOSThread() // the thread stays pinned; it exits with the goroutine
		d.pin(q, extra)
		d.setNice()
		nameThread(q, extra)
		d.serve(q, extra)
	}()
}

func (d *Driver) pin(q uint32, extra bool) {
	if !d.cfg.Pin || len(d.groups[q]) == 0 {
		return
	}
	var set unix.CPUSet
	if extra {
		for _, c := range d.groups[q] {
			set.Set(c)
		}
	} else {
		set.Set(d.groups[q][0])
	}
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		d.logf("back: pinning a thread of queue %d to CPUs %v: %v", q, d.groups[q], err)
	}
}

func (d *Driver) logf(format string, args ...any) {
	d.notes.Add("back", strings.TrimPrefix(fmt.Sprintf(format, args...), "back: "))
}

// serve is the loop of one service thread. It polls the queue with
// TryDequeue while the wait strategy says to spin (runtime.Gosched on a
// locked thread costs a futex round trip in the Go scheduler, so the spin is
// a plain poll), then blocks in Dequeue on a handle that sleeps on the futex
// at once. Main threads block until an item comes, each wait bounded so
// that a ticket stuck behind a dead client is given up (patientQueue);
// extra threads exit once idle.
func (d *Driver) serve(qi uint32, extra bool) {
	qcfg := d.cfg.Queue
	spinFor := d.cfg.SpinFor
	if spinFor <= 0 {
		spinFor = time.Millisecond
	}
	wait := qcfg.Wait
	qcfg.Wait = queue.Futex
	qcfg.Timeout = serviceWait // quarantine.go
	qcfg.OnItem = d.prefetchRequest
	idle := time.Duration(0)
	if extra {
		qcfg.Timeout = 100 * time.Millisecond
		idle = 100 * time.Millisecond
	}
	q, gen := d.attachQueue(qi, qcfg, extra)
	if q == nil {
		return
	}
	spins, served := 0, 0
	var idleSince uint64 // wire.MonotonicNow when the poll started
	iw := idleWait{s: d.idle[qi], st: d.stats[qi]}
	iw.begin()
	defer iw.end()
	for !d.stopping.Load() {
		idx, err := q.TryDequeue()
		if err == queue.ErrEmpty && wait == queue.Adaptive {
			if iw.empty() {
				continue
			}
		} else if err == queue.ErrEmpty && wait != queue.Futex { // sentinel, unwrapped
			spins++
			if spins&255 != 0 {
				continue
			}
			now := wire.MonotonicNow()
			if idleSince == 0 {
				idleSince = now
			}
			polled := time.Duration(now - idleSince)
			if idle > 0 && polled > idle {
				return
			}
			if polled > 20*time.Microsecond {
				// Let a client thread that shares this CPU run.
				unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
			if wait == queue.Spin || polled < spinFor {
				continue
			}
		}
		slept := err == queue.ErrEmpty
		if slept {
			iw.sleep()
			idx, err = q.Dequeue()
		}
		iw.got(slept)
		spins, idleSince = 0, 0
		if err != nil {
			switch {
			case errors.Is(err, queue.ErrClosed) && d.stopping.Load():
				return
			case errors.Is(err, queue.ErrTimeout) && !d.suspect(qi):
				if extra {
					return
				}
			default: // corrupted, or closed by Check or a tenant
				if q, gen = d.recoverQueue(qi, qcfg, gen, extra, err); q == nil {
					return
				}
			}
			continue
		}
		if served++; !extra && served%backlogEvery == 0 && d.cfg.MaxExtra > 0 &&
			d.extra[qi].Load() < int32(d.cfg.MaxExtra) && d.Backlog(qi) > d.cfg.ExtraThreshold {
			d.addExtra(qi)
		}
		d.serveOne(qi, idx, q)
	}
}

// prefetchRequest starts fetching the descriptor of buffer idx, so the
// fetch overlaps the queue's own completion of the dequeue.
func (d *Driver) prefetchRequest(idx uint64) {
	if idx < uint64(len(d.bufs)) {
		d.bufs[idx].Prefetch()
	}
}

// serveOne serves the request of item idx, which handle h took from
// queue q (with weighted dispatch, and the requests waiting with it).
func (d *Driver) serveOne(q uint32, idx uint64, h queue.Queue) {
	b := d.claim(q, idx)
	if b == nil {
		return
	}
	if d.disp != nil {
		d.disp.serve(d, q, h, claimed{idx, b})
		return
	}
	d.serveClaimed(claimed{idx, b})
}

// claimed is a buffer claim took, with its index.
type claimed struct {
	idx uint64
	b   *wire.Buffer
}

// serveClaimed serves the request of a buffer claim took.
func (d *Driver) serveClaimed(c claimed) {
	d.served.Add(1)
	req := c.b.ReadRequest()
	c.b.Complete(d.h.Serve(c.b, &req))
	d.endServe(c.idx)
}

// claim takes the buffer of item idx of queue q for serving (Submitted ->
// Busy); nil, logged and counted as dropped, for an item that is no
// buffer index or names a buffer that is not submitted.
func (d *Driver) claim(q uint32, idx uint64) *wire.Buffer {
	defer d.tookItem(q) // quarantine.go
	if idx >= uint64(len(d.bufs)) {
		d.dropped.Add(1)
		d.logf("back: queue %d: dropped item %#x: not a buffer index (have %d buffers)", q, idx, len(d.bufs))
		return nil
	}
	b := d.bufs[idx]
	// From the claim the buffer is the service's until it completes: the
	// buffer watch must not take a request waiting in the dispatcher (or
	// a thread descheduled right after the claim) for one whose
	// completion a client cleared.
	d.beginServe(idx)
	if !b.CASState(wire.StateSubmitted, wire.StateBusy) {
		d.endServe(idx)
		d.dropped.Add(1)
		d.logf("back: queue %d: dropped item %d: buffer state %d is not submitted (stale, duplicate or forged)", q, idx, b.State())
		return nil
	}
	return b
}
