package queue

import (
	"sync/atomic"
)

// lcrq is Morrison and Afek's LCRQ (PPoPP 2013): a linked list of CRQs,
// each a ring of cells updated with a double-word CAS (CMPXCHG16B on amd64,
// cas128_amd64.s) and indexed by fetch-and-add on head and tail. A CRQ that
// fills up or whose enqueuers starve is closed and a new one appended.
// Lock-free, linearizable (strict FIFO), unbounded: Capacity is the ring
// size of each CRQ, not a bound, so TryEnqueue never reports ErrFull and
// Enqueue never waits.
//
// In-process only (Shared=false): the CRQ list is made of Go pointers and
// memory is reclaimed by the garbage collector instead of hazard pointers.
// Blocking Dequeue waits on an event count per Config.Wait.
type lcrq struct {
	cfg       Config
	ring      uint64
	head      atomic.Pointer[crq]
	_         [56]byte
	tail      atomic.Pointer[crq]
	_         [56]byte
	unbounded // closed flag, notEmpty
}

// Cell word 0: index (62 bits) | full flag | unsafe flag; word 1: item.
const (
	crqUnsafe     = 1 << 63
	crqFull       = 1 << 62
	crqIdxMask    = crqFull - 1
	crqTailClosed = 1 << 63
	crqStarving   = 1 << 10 // enqueue attempts before a CRQ is closed
)

type crq struct {
	head  atomic.Uint64
	_     [56]byte
	tail  atomic.Uint64 // bit 63: closed
	_     [56]byte
	next  atomic.Pointer[crq]
	mask  uint64
	cells [][2]uint64
}

func init() {
	Register(Design{Name: "lcrq", Size: inProcessSize, New: newLCRQ})
}

func newLCRQ(_ []byte, cfg Config, init bool) (Queue, error) {
	r, err := newUnbounded("lcrq", cfg, init)
	if err != nil {
		return nil, err
	}
	q := &lcrq{cfg: cfg, ring: r}
	c := newCRQ(r)
	q.head.Store(c)
	q.tail.Store(c)
	return q, nil
}

func newCRQ(r uint64) *crq {
	c := &crq{mask: r - 1, cells: alignedCells(int(r))}
	for i := range c.cells {
		c.cells[i][0] = uint64(i) // safe, empty, index i
	}
	return c
}

// enqueue reports false when the CRQ is (or gets) closed.
func (c *crq) enqueue(v uint64) bool {
	size := c.mask + 1
	for tries := 0; ; tries++ {
		t := c.tail.Add(1) - 1
		if t&crqTailClosed != 0 {
			return false
		}
		cell := &c.cells[t&c.mask]
		w0, w1 := atomic.LoadUint64(&cell[0]), atomic.LoadUint64(&cell[1])
		if w0&crqFull == 0 && w0&crqIdxMask <= t && (w0&crqUnsafe == 0 || c.head.Load() <= t) {
			if cas128(cell, w0, w1, t|crqFull, v) {
				return true
			}
		}
		if h := c.head.Load(); int64(t-h) >= int64(size) || tries >= crqStarving {
			c.tail.Or(crqTailClosed)
			return false
		}
	}
}

// dequeue reports false when the CRQ is empty.
func (c *crq) dequeue() (uint64, bool) {
	size := c.mask + 1
	for {
		h := c.head.Add(1) - 1
		cell := &c.cells[h&c.mask]
		for {
			w0, w1 := atomic.LoadUint64(&cell[0]), atomic.LoadUint64(&cell[1])
			idx, unsafeBit := w0&crqIdxMask, w0&crqUnsafe
			if idx > h {
				break
			}
			if w0&crqFull != 0 {
				if idx == h { // our item
					if cas128(cell, w0, w1, unsafeBit|(h+size), 0) {
						return w1, true
					}
				} else if cas128(cell, w0, w1, w0|crqUnsafe, w1) { // an older lap's item: mark unsafe
					break
				}
			} else if cas128(cell, w0, w1, unsafeBit|(h+size), w1) { // empty: move it past h
				break
			}
		}
		if t := c.tail.Load() &^ crqTailClosed; t <= h+1 {
			c.fixState()
			return 0, false
		}
	}
}

// fixState pulls tail up to head after dequeuers overtook it.
func (c *crq) fixState() {
	for {
		t := c.tail.Load()
		h := c.head.Load()
		if c.tail.Load() != t {
			continue
		}
		if h <= t { // includes a closed tail
			return
		}
		if c.tail.CompareAndSwap(t, h) {
			return
		}
	}
}

func (q *lcrq) TryEnqueue(v uint64) error {
	if atomic.LoadUint32(&q.flags) != 0 {
		return ErrClosed
	}
	for {
		c := q.tail.Load()
		if n := c.next.Load(); n != nil {
			q.tail.CompareAndSwap(c, n)
			continue
		}
		if c.enqueue(v) {
			q.notEmpty().signal()
			return nil
		}
		nc := newCRQ(q.ring)
		nc.cells[0] = [2]uint64{crqFull, v} // index 0, full
		nc.tail.Store(1)
		if c.next.CompareAndSwap(nil, nc) {
			q.tail.CompareAndSwap(c, nc)
			q.notEmpty().signal()
			return nil
		}
	}
}

func (q *lcrq) TryDequeue() (uint64, error) {
	for {
		c := q.head.Load()
		if v, ok := c.dequeue(); ok {
			return v, nil
		}
		next := c.next.Load()
		if next == nil {
			if atomic.LoadUint32(&q.flags) == 0 {
				return 0, ErrEmpty
			}
			// Closed after the looks: items enqueued before the
			// Close are in the ring (or a ring after it) now.
			if v, ok := c.dequeue(); ok {
				return v, nil
			}
			if c.next.Load() == nil {
				return 0, ErrClosed
			}
			continue
		}
		if v, ok := c.dequeue(); ok { // items enqueued before the CRQ closed
			return v, nil
		}
		q.head.CompareAndSwap(c, next)
	}
}

// Enqueue never waits: the queue is unbounded.
func (q *lcrq) Enqueue(v uint64) error { return q.TryEnqueue(v) }

func (q *lcrq) Dequeue() (uint64, error) { return q.dequeue(&q.cfg, q.TryDequeue) }
