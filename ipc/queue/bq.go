package queue

import (
	"sync"
	"sync/atomic"
)

// Batcher is an optional capability: apply a batch of operations at once.
// Batch enqueues items (in order) and then performs up to dequeues
// dequeues, as one atomic step; it returns the dequeued items, fewer than
// dequeues when the queue ran empty.
type Batcher interface {
	Batch(items []uint64, dequeues int) ([]uint64, error)
}

var _ Batcher = (*bq)(nil)

// bq is Milman, Kogan, Lev, Luchangco and Petrank's BQ (SPAA 2018), a
// Michael-Scott-style linked queue whose head may hold an announcement of a
// pending batch instead of a node. A batching thread links its enqueued
// nodes into a private list, announces the batch (request + the head it
// saw) by CAS on the head, and every thread that meets the announcement
// helps execute it: link the list after the current last node (recording
// that node as the batch's old tail), swing the tail to the batch's last
// node, then compute from the node counters how many of the batch's
// dequeues succeed and swing the head past that many nodes, which removes
// the announcement. Single operations outside batches run the plain
// Michael-Scott algorithm, helping any announcement they meet. Lock-free,
// linearizable (strict FIFO), unbounded (Capacity is ignored beyond
// validation), in-process (Shared=false; Go pointers, garbage-collected
// nodes).
//
// Simplifications (docs/queues.md): the paper defers operations into
// per-thread futures and batches them implicitly when a future is
// evaluated; here a batch is explicit (Batcher) and has the fixed shape
// "enqueues, then dequeues" instead of an arbitrary interleaving (the
// paper shows any batch is equivalent to that shape plus a count of
// "excess" dequeues that hit an empty queue, which we compute the same way).
// A dequeue-only batch takes the nodes with one CAS on the head, without
// an announcement. Node counters live in the nodes, so no double-width CAS
// is needed for (pointer, counter) pairs.
type bq struct {
	cfg       Config
	head      atomic.Pointer[bqNode]
	_         [56]byte
	tail      atomic.Pointer[bqNode]
	_         [56]byte
	unbounded // closed flag, notEmpty

	// linkMu serializes the helpers that link a batch into the list. A
	// lock-free link let a helper with a stale view (it saw the batch
	// unlinked, then stalled while another helper linked and finished it
	// and the list grew) link the batch's first node a second time at the
	// new end, closing a cycle that every thread then chased forever
	// (TestBQBatch under -race). Single enqueues and dequeues stay
	// lock-free; only the link step of a batch takes the lock.
	linkMu sync.Mutex
}

type bqNode struct {
	item uint64
	next atomic.Pointer[bqNode]
	cnt  atomic.Uint64 // number of enqueues up to and including this node
	ann  *bqAnn        // non-nil: this is an announcement standing in the head
}

type bqAnn struct {
	first, last *bqNode // the batch's private list
	enqs, deqs  uint64
	oldHead     *bqNode                // the head the batch replaced (set before publication)
	oldTail     atomic.Pointer[bqNode] // the node the batch was linked after
	node        *bqNode                // the announcement node itself
}

func init() {
	Register(Design{Name: "bq", Size: inProcessSize, New: newBQ})
}

func newBQ(_ []byte, cfg Config, init bool) (Queue, error) {
	if _, err := newUnbounded("bq", cfg, init); err != nil {
		return nil, err
	}
	q := &bq{cfg: cfg}
	dummy := &bqNode{}
	q.head.Store(dummy)
	q.tail.Store(dummy)
	return q, nil
}

func (q *bq) closed() bool { return atomic.LoadUint32(&q.flags) != 0 }

// execute carries a published announcement to its end; any thread may call
// it, any number of times.
func (q *bq) execute(a *bqAnn) {
	if a.oldTail.Load() == nil {
		q.linkMu.Lock()
		for a.oldTail.Load() == nil { // link the batch after the last node
			t := q.tail.Load()
			next := t.next.Load()
			if next == nil {
				t.next.CompareAndSwap(nil, a.first)
				next = t.next.Load()
			}
			if next == a.first {
				a.oldTail.CompareAndSwap(nil, t)
				break
			}
			q.tail.CompareAndSwap(t, next) // finish a single enqueue first
		}
		q.linkMu.Unlock()
	}
	ot := a.oldTail.Load()
	base := ot.cnt.Load()
	i := uint64(1)
	for n := a.first; ; n = n.next.Load() {
		n.cnt.Store(base + i) // same value from every helper
		if n == a.last {
			break
		}
		i++
	}
	q.tail.CompareAndSwap(ot, a.last)

	if q.head.Load() != a.node {
		return // someone finished it
	}
	newHead := a.oldHead
	for k := a.successfulDequeues(); k > 0; k-- {
		newHead = newHead.next.Load()
	}
	q.head.CompareAndSwap(a.node, newHead)
}

// successfulDequeues: the batch's dequeues beyond the items present at its
// linearization point plus its own enqueues are "excess" and find the
// queue empty.
func (a *bqAnn) successfulDequeues() uint64 {
	size := a.oldTail.Load().cnt.Load() - a.oldHead.cnt.Load() + a.enqs
	return min(a.deqs, size)
}

func (q *bq) Batch(items []uint64, dequeues int) ([]uint64, error) {
	if q.closed() {
		return nil, ErrClosed
	}
	if dequeues < 0 {
		dequeues = 0
	}
	if len(items) == 0 {
		return q.dequeueBatch(dequeues), nil
	}
	a := &bqAnn{enqs: uint64(len(items)), deqs: uint64(dequeues)}
	for _, v := range items {
		n := &bqNode{item: v}
		if a.last == nil {
			a.first = n
		} else {
			a.last.next.Store(n)
		}
		a.last = n
	}
	a.node = &bqNode{ann: a}
	for {
		h := q.head.Load()
		if h.ann != nil {
			q.execute(h.ann)
			continue
		}
		a.oldHead = h
		if q.head.CompareAndSwap(h, a.node) {
			break
		}
	}
	q.execute(a)
	out := make([]uint64, 0, dequeues)
	n := a.oldHead
	for k := a.successfulDequeues(); k > 0; k-- {
		n = n.next.Load()
		out = append(out, n.item)
	}
	q.notEmpty().signal()
	return out, nil
}

// dequeueBatch takes up to k items with one CAS on the head.
func (q *bq) dequeueBatch(k int) []uint64 {
	for {
		h := q.head.Load()
		if h.ann != nil {
			q.execute(h.ann)
			continue
		}
		var out []uint64
		n := h
		for len(out) < k {
			next := n.next.Load()
			if next == nil {
				break
			}
			out = append(out, next.item)
			n = next
		}
		if len(out) == 0 || q.head.CompareAndSwap(h, n) {
			return out
		}
	}
}

func (q *bq) TryEnqueue(v uint64) error {
	if q.closed() {
		return ErrClosed
	}
	n := &bqNode{item: v}
	for {
		t := q.tail.Load()
		next := t.next.Load()
		if next == nil {
			n.cnt.Store(t.cnt.Load() + 1)
			if t.next.CompareAndSwap(nil, n) {
				q.tail.CompareAndSwap(t, n)
				q.notEmpty().signal()
				return nil
			}
			continue
		}
		if h := q.head.Load(); h.ann != nil {
			q.execute(h.ann) // next may be a batch being linked
			continue
		}
		q.tail.CompareAndSwap(t, next)
	}
}

func (q *bq) TryDequeue() (uint64, error) {
	for {
		h := q.head.Load()
		if h.ann != nil {
			q.execute(h.ann)
			continue
		}
		next := h.next.Load()
		if next == nil {
			if !q.closed() {
				return 0, ErrEmpty
			}
			// Closed after the look: items enqueued before the
			// Close are linked now.
			if h.next.Load() == nil {
				return 0, ErrClosed
			}
			continue
		}
		if q.head.CompareAndSwap(h, next) {
			return next.item, nil
		}
	}
}

// Enqueue never waits: the queue is unbounded.
func (q *bq) Enqueue(v uint64) error { return q.TryEnqueue(v) }

func (q *bq) Dequeue() (uint64, error) { return q.dequeue(&q.cfg, q.TryDequeue) }
