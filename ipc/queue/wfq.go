package queue

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// wfq is Yang and Mellor-Crummey's wait-free queue (PPoPP 2016), in a
// simplified form. Items live in an unbounded array of cells, a linked list
// of segments, indexed by fetch-and-add on T (enqueuers) and H
// (dequeuers). Fast path: an enqueuer claims cell T++ and CASes its value
// in; a dequeuer claims cell H++ and either takes the value or marks the
// cell unusable (⊤). After `wfqPatience` failed fast-path attempts an
// enqueuer publishes a request and keeps claiming cells, offering the
// request to each; dequeuers that find a cell unusable help a pending
// request into it (help_enq), so a slow enqueuer finishes within a bounded
// number of dequeues. Linearizable (strict FIFO), unbounded (Capacity is
// only validated), in-process (Shared=false).
//
// Simplified (docs/queues.md): no dequeue slow path and no dequeue helping
// (help_deq), so Dequeue is lock-free rather than wait-free; no per-thread
// handles: enqueue requests sit in a fixed table of wfqRequests slots and
// helpers visit them round-robin through a shared cursor; segments are
// reclaimed by the garbage collector (operations read a segment hint
// before their fetch-and-add, so they can always walk forward to their
// cell). Cells store item+1 so that 0 (⊥) and 2^64-1 (⊤) stay free: items
// 2^64-2 and 2^64-1 are refused.
type wfq struct {
	cfg       Config
	t         atomic.Uint64
	_         [56]byte
	h         atomic.Uint64
	_         [56]byte
	tailSeg   atomic.Pointer[wfqSegment] // hints, only move forward
	headSeg   atomic.Pointer[wfqSegment]
	cursor    atomic.Uint64 // helpers' round-robin over requests
	requests  [wfqRequests]wfqRequest
	unbounded // closed flag, notEmpty
}

const (
	wfqSegCells = 1024
	wfqPatience = 10
	wfqRequests = 64
	wfqSpin     = 100 // loads of a cell's value before a dequeuer gives up on it
	wfqBot      = 0
	wfqTop      = ^uint64(0)
)

type wfqCell struct {
	val atomic.Uint64 // wfqBot, wfqTop or item+1
	enq atomic.Pointer[wfqRequest]
	deq atomic.Uint32 // 1: taken
}

type wfqSegment struct {
	id    uint64
	next  atomic.Pointer[wfqSegment]
	cells [wfqSegCells]wfqCell
}

// wfqRequest is a slow-path enqueue: id > 0 pending since cell id,
// id = -i: claimed for cell i; busy: the slot is in use.
type wfqRequest struct {
	busy atomic.Uint32
	val  atomic.Uint64
	id   atomic.Int64
}

// wfqTopRequest marks a cell whose enq field may no longer take a request.
var wfqTopRequest = &wfqRequest{}

func init() {
	Register(Design{Name: "wfq", Size: inProcessSize, New: newWFQ})
}

func newWFQ(_ []byte, cfg Config, init bool) (Queue, error) {
	if _, err := newUnbounded("wfq", cfg, init); err != nil {
		return nil, err
	}
	q := &wfq{cfg: cfg}
	s := &wfqSegment{}
	q.tailSeg.Store(s)
	q.headSeg.Store(s)
	q.t.Store(1) // request ids must be > 0, so cell 0 stays unused
	q.h.Store(1)
	return q, nil
}

// findCell walks from segment s (whose id is <= i's) to cell i, appending
// segments as needed, and moves hint forward.
func findCell(hint *atomic.Pointer[wfqSegment], s *wfqSegment, i uint64) *wfqCell {
	want := i / wfqSegCells
	for s.id < want {
		next := s.next.Load()
		if next == nil {
			n := &wfqSegment{id: s.id + 1}
			if !s.next.CompareAndSwap(nil, n) {
				n = s.next.Load()
			}
			next = n
		}
		s = next
	}
	for {
		h := hint.Load()
		if h.id >= s.id || hint.CompareAndSwap(h, s) {
			break
		}
	}
	return &s.cells[i%wfqSegCells]
}

func (q *wfq) closed() bool { return atomic.LoadUint32(&q.flags) != 0 }

// raiseT makes T exceed i, so that a value committed into cell i is seen
// by every later dequeuer (the paper's advance-end-for-linearizability).
func (q *wfq) raiseT(i uint64) {
	for t := q.t.Load(); t <= i && !q.t.CompareAndSwap(t, i+1); t = q.t.Load() {
	}
}

func (q *wfq) TryEnqueue(v uint64) error {
	if q.closed() {
		return ErrClosed
	}
	if v >= wfqTop-1 {
		return fmt.Errorf("queue: wfq cannot carry item %#x (the two largest values are reserved)", v)
	}
	val := v + 1
	var i uint64
	for p := 0; p <= wfqPatience; p++ {
		s := q.tailSeg.Load()
		i = q.t.Add(1) - 1
		if findCell(&q.tailSeg, s, i).val.CompareAndSwap(wfqBot, val) {
			q.notEmpty().signal()
			return nil
		}
	}
	q.enqueueSlow(val, i)
	q.notEmpty().signal()
	return nil
}

// enqueueSlow publishes a request pending since cell id and offers it to
// fresh cells until it is claimed (by us or by a helping dequeuer), then
// commits the value into the claimed cell.
func (q *wfq) enqueueSlow(val, id uint64) {
	seg := q.tailSeg.Load() // before any of our cells: we can walk to all of them
	var r *wfqRequest
	for r == nil {
		for k := range q.requests {
			if q.requests[k].busy.CompareAndSwap(0, 1) {
				r = &q.requests[k]
				break
			}
		}
		if r == nil {
			runtime.Gosched() // more than wfqRequests slow enqueuers at once
		}
	}
	r.val.Store(val)
	r.id.Store(int64(id))
	for r.id.Load() > 0 {
		i := q.t.Add(1) - 1
		c := findCell(&q.tailSeg, seg, i)
		if c.enq.CompareAndSwap(nil, r) && c.val.Load() != wfqTop {
			r.id.CompareAndSwap(int64(id), -int64(i)) // fails if a helper claimed it first
			break
		}
	}
	claimed := uint64(-r.id.Load())
	c := findCell(&q.tailSeg, seg, claimed)
	q.raiseT(claimed)
	c.val.Store(val) // helpers may have stored the same value already
	r.id.Store(0)
	r.busy.Store(0)
}

// helpEnqueue returns the value of cell i: an item (+1), wfqTop if the cell
// is unusable, or wfqBot if no enqueuer will ever fill it (queue empty).
func (q *wfq) helpEnqueue(c *wfqCell, i uint64) uint64 {
	v := c.val.Load()
	for n := 0; v == wfqBot && n < wfqSpin; n++ {
		v = c.val.Load()
	}
	if v != wfqBot && v != wfqTop {
		return v
	}
	if v == wfqBot && !c.val.CompareAndSwap(wfqBot, wfqTop) {
		if v = c.val.Load(); v != wfqTop {
			return v
		}
	}
	// The cell is ⊤: offer it to a pending slow-path enqueue.
	e := c.enq.Load()
	if e == nil {
		r := &q.requests[q.cursor.Add(1)%wfqRequests]
		if s := r.id.Load(); s > 0 && uint64(s) <= i {
			c.enq.CompareAndSwap(nil, r)
		}
		c.enq.CompareAndSwap(nil, wfqTopRequest)
		e = c.enq.Load()
	}
	if e == wfqTopRequest {
		if q.t.Load() <= i {
			return wfqBot
		}
		return wfqTop
	}
	ei, ev := e.id.Load(), e.val.Load()
	if ei > int64(i) { // the request is pending since a later cell: not ours
		if c.val.Load() == wfqTop && q.t.Load() <= i {
			return wfqBot
		}
	} else if (ei > 0 && e.id.CompareAndSwap(ei, -int64(i))) || (ei == -int64(i) && c.val.Load() == wfqTop) {
		if e.id.Load() == -int64(i) { // still our claim: the value read belongs to it
			q.raiseT(i)
			c.val.Store(ev)
		}
	}
	return c.val.Load()
}

func (q *wfq) TryDequeue() (uint64, error) {
	for {
		if q.h.Load() >= q.t.Load() { // nothing enqueued that no dequeuer owns
			if !q.closed() {
				return 0, ErrEmpty
			}
			// Closed after the look: items enqueued before the
			// Close are counted now.
			if q.h.Load() >= q.t.Load() {
				return 0, ErrClosed
			}
			continue
		}
		s := q.headSeg.Load()
		i := q.h.Add(1) - 1
		c := findCell(&q.headSeg, s, i)
		v := q.helpEnqueue(c, i)
		if v == wfqBot {
			continue // re-check emptiness
		}
		if v != wfqTop && c.deq.CompareAndSwap(0, 1) {
			return v - 1, nil
		}
	}
}

// Enqueue never waits: the queue is unbounded.
func (q *wfq) Enqueue(v uint64) error { return q.TryEnqueue(v) }

func (q *wfq) Dequeue() (uint64, error) { return q.dequeue(&q.cfg, q.TryDequeue) }
