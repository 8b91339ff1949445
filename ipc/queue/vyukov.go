package queue

import (
	"fmt"
	"sync/atomic"
)

// vyukov is Dmitry Vyukov's bounded MPMC ring: each cell carries a sequence
// number that tells producers and consumers of a given lap whose turn it
// is; positions are claimed with CAS. Lock-free in the common case (a
// preempted producer between claim and publish blocks the consumers of that
// one cell), strictly FIFO, Shared.
//
// Blocking operations retry the try forms and wait on event counts
// (notEmpty, notFull) in shared memory, per Config.Wait.
//
// Layout: header (layout.go), 64 notEmpty seq/waiters uint32 and notFull
// seq/waiters, 128 enqueue position, 192 dequeue position, 256 cells of 16
// bytes (sequence uint64, item uint64).
type vyukov struct {
	cfg               Config
	mem               []byte
	mask, cap         uint64
	flags             *uint32
	enq, deq          *uint64
	notEmpty, notFull eventCount
	cells             []vyukovCell
}

type vyukovCell struct{ seq, data *uint64 }

const (
	vyukovMagic    = 0x56594b5631000001 // "VYKV1"
	vyukovOffEC    = 64
	vyukovOffEnq   = 128
	vyukovOffDeq   = 192
	vyukovOffCells = 256
)

func vyukovBytes(c uint64) uint64 { return vyukovOffCells + 16*c }

func init() {
	Register(Design{
		Name:   "vyukov",
		Shared: true,
		Size: func(cfg Config) int {
			c, err := ringCapacity(cfg)
			if err != nil {
				return 0
			}
			return int(vyukovBytes(c))
		},
		New: newVyukov,
	})
}

func newVyukov(mem []byte, cfg Config, init bool) (Queue, error) {
	c, err := openShared("vyukov", vyukovMagic, mem, cfg, init, vyukovBytes)
	if err != nil {
		return nil, err
	}
	q := &vyukov{cfg: cfg, mem: mem, mask: c - 1, cap: c, cells: make([]vyukovCell, c)}
	p := ptrs{r: regionOf(mem)}
	q.flags = p.u32(hdrOffFlags)
	q.notEmpty = eventCount{seq: p.u32(vyukovOffEC), waiters: p.u32(vyukovOffEC + 4)}
	q.notFull = eventCount{seq: p.u32(vyukovOffEC + 8), waiters: p.u32(vyukovOffEC + 12)}
	q.enq, q.deq = p.u64(vyukovOffEnq), p.u64(vyukovOffDeq)
	for i := range q.cells {
		off := vyukovOffCells + 16*uint64(i)
		q.cells[i] = vyukovCell{seq: p.u64(off), data: p.u64(off + 8)}
	}
	if p.err != nil {
		return nil, p.err
	}
	if init {
		for i := range q.cells {
			atomic.StoreUint64(q.cells[i].seq, uint64(i))
		}
		if err := publish(mem, vyukovMagic); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *vyukov) corrupt(what string, pos, seq uint64) error {
	return fmt.Errorf("%w: vyukov %s position %d, cell sequence %d", ErrCorrupt, what, pos, seq)
}

func (q *vyukov) TryEnqueue(v uint64) error {
	if atomic.LoadUint32(q.flags) != 0 {
		return ErrClosed
	}
	pos := atomic.LoadUint64(q.enq)
	for {
		c := &q.cells[pos&q.mask]
		seq := atomic.LoadUint64(c.seq)
		switch dif := int64(seq - pos); {
		case dif == 0:
			if atomic.CompareAndSwapUint64(q.enq, pos, pos+1) {
				atomic.StoreUint64(c.data, v)
				atomic.StoreUint64(c.seq, pos+1)
				q.notEmpty.signal()
				return nil
			}
			pos = atomic.LoadUint64(q.enq)
		case dif < 0:
			if dif >= -int64(q.cap) {
				return ErrFull // last lap's item still there (or being claimed)
			}
			np := atomic.LoadUint64(q.enq)
			if np == pos {
				return q.corrupt("enqueue", pos, seq)
			}
			pos = np
		default: // pos went stale: someone claimed it
			np := atomic.LoadUint64(q.enq)
			if np == pos {
				return q.corrupt("enqueue", pos, seq)
			}
			pos = np
		}
	}
}

func (q *vyukov) TryDequeue() (uint64, error) {
	pos := atomic.LoadUint64(q.deq)
	for {
		c := &q.cells[pos&q.mask]
		seq := atomic.LoadUint64(c.seq)
		switch dif := int64(seq - (pos + 1)); {
		case dif == 0:
			if atomic.CompareAndSwapUint64(q.deq, pos, pos+1) {
				v := atomic.LoadUint64(c.data)
				atomic.StoreUint64(c.seq, pos+q.cap)
				q.notFull.signal()
				return v, nil
			}
			pos = atomic.LoadUint64(q.deq)
		case dif < 0 && dif >= -int64(q.cap):
			if atomic.LoadUint32(q.flags) != 0 && atomic.LoadUint64(q.enq) == pos {
				return 0, ErrClosed // drained and no producer in flight
			}
			return 0, ErrEmpty
		default:
			np := atomic.LoadUint64(q.deq)
			if np == pos {
				return 0, q.corrupt("dequeue", pos, seq)
			}
			pos = np
		}
	}
}

func (q *vyukov) Enqueue(v uint64) error {
	ws := newWaitState(&q.cfg)
	return block(&ws, q.notFull, ErrFull, func() error { return q.TryEnqueue(v) })
}

func (q *vyukov) Dequeue() (uint64, error) {
	ws := newWaitState(&q.cfg)
	var v uint64
	err := block(&ws, q.notEmpty, ErrEmpty, func() (err error) {
		v, err = q.TryDequeue()
		return err
	})
	return v, err
}

func (q *vyukov) Close() error {
	atomic.OrUint32(q.flags, flagClosed)
	q.notEmpty.broadcast()
	q.notFull.broadcast()
	return nil
}

// Backlog implements Backlogger: positions claimed by producers and not
// yet by consumers, clamped to [0, capacity].
func (q *vyukov) Backlog() int {
	return clampBacklog(atomic.LoadUint64(q.enq), atomic.LoadUint64(q.deq), q.cap)
}
