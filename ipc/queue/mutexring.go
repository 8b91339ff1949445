package queue

import (
	"fmt"
	"sync/atomic"

	"polytropon/ipc/shm"
)

// mutexRing is the textbook baseline: a ring whose head and tail are
// guarded by one futex-based mutex in shared memory (Drepper's three-state
// lock: 0 free, 1 held, 2 held with sleepers), with condition waits on
// event counts (notEmpty, notFull) that are futex words too. Strictly FIFO,
// blocking, Shared.
//
// A peer killed while it holds the lock leaves it held: survivors then fail
// with ErrTimeout when Timeout > 0 (the try forms too, since they take the
// lock) and wait forever otherwise.
//
// Layout: header (layout.go), 64 lock uint32, 72 notEmpty seq/waiters,
// 80 notFull seq/waiters, 96 head uint64, 104 tail uint64, 192 items.
type mutexRing struct {
	cfg               Config
	mem               []byte
	mask, cap         uint64
	flags, lockWord   *uint32
	notEmpty, notFull eventCount
	head, tail        *uint64
	items             []*uint64
}

const (
	mutexRingMagic    = 0x4d5852474e000001 // "MXRNG"
	mutexRingOffLock  = 64
	mutexRingOffEC    = 72
	mutexRingOffHead  = 96
	mutexRingOffTail  = 104
	mutexRingOffItems = 192
)

func mutexRingBytes(c uint64) uint64 { return mutexRingOffItems + 8*c }

func init() {
	Register(Design{
		Name:   "mutex-ring",
		Shared: true,
		Size: func(cfg Config) int {
			c, err := ringCapacity(cfg)
			if err != nil {
				return 0
			}
			return int(mutexRingBytes(c))
		},
		New: newMutexRing,
	})
}

func newMutexRing(mem []byte, cfg Config, init bool) (Queue, error) {
	c, err := openShared("mutex-ring", mutexRingMagic, mem, cfg, init, mutexRingBytes)
	if err != nil {
		return nil, err
	}
	q := &mutexRing{cfg: cfg, mem: mem, mask: c - 1, cap: c, items: make([]*uint64, c)}
	p := ptrs{r: shm.NewRegion(mem)}
	q.flags, q.lockWord = p.u32(hdrOffFlags), p.u32(mutexRingOffLock)
	q.notEmpty = eventCount{seq: p.u32(mutexRingOffEC), waiters: p.u32(mutexRingOffEC + 4)}
	q.notFull = eventCount{seq: p.u32(mutexRingOffEC + 8), waiters: p.u32(mutexRingOffEC + 12)}
	q.head, q.tail = p.u64(mutexRingOffHead), p.u64(mutexRingOffTail)
	for i := range q.items {
		q.items[i] = p.u64(mutexRingOffItems + 8*uint64(i))
	}
	if p.err != nil {
		return nil, p.err
	}
	if init {
		if err := publish(mem, mutexRingMagic); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *mutexRing) lock(ws *waitState) error {
	if atomic.CompareAndSwapUint32(q.lockWord, 0, 1) {
		return nil
	}
	for {
		if ws.expired() {
			return ErrTimeout
		}
		if ws.spin() {
			if atomic.CompareAndSwapUint32(q.lockWord, 0, 1) {
				return nil
			}
			continue
		}
		if atomic.SwapUint32(q.lockWord, 2) == 0 {
			return nil
		}
		if err := ws.futexSleep(q.lockWord, 2); err != nil {
			return err
		}
	}
}

func (q *mutexRing) unlock() {
	if atomic.SwapUint32(q.lockWord, 0) == 2 {
		shm.FutexWake(q.lockWord, 1)
	}
}

// length returns tail-head under the lock, validated against capacity.
func (q *mutexRing) length() (uint64, uint64, uint64, error) {
	h, t := atomic.LoadUint64(q.head), atomic.LoadUint64(q.tail)
	if n := t - h; n <= q.cap {
		return h, t, n, nil
	}
	return 0, 0, 0, fmt.Errorf("%w: mutex-ring head %d tail %d for capacity %d", ErrCorrupt, h, t, q.cap)
}

func (q *mutexRing) tryEnqueue(v uint64, ws *waitState) error {
	if atomic.LoadUint32(q.flags) != 0 {
		return ErrClosed
	}
	if err := q.lock(ws); err != nil {
		return err
	}
	_, t, n, err := q.length()
	if err == nil && n == q.cap {
		err = ErrFull
	}
	if err == nil {
		atomic.StoreUint64(q.items[t&q.mask], v)
		atomic.StoreUint64(q.tail, t+1)
	}
	q.unlock()
	if err == nil {
		q.notEmpty.signal()
	}
	return err
}

func (q *mutexRing) tryDequeue(ws *waitState) (uint64, error) {
	if err := q.lock(ws); err != nil {
		return 0, err
	}
	h, _, n, err := q.length()
	var v uint64
	if err == nil && n == 0 {
		err = ErrEmpty
		if atomic.LoadUint32(q.flags) != 0 {
			err = ErrClosed
		}
	}
	if err == nil {
		v = atomic.LoadUint64(q.items[h&q.mask])
		atomic.StoreUint64(q.head, h+1)
	}
	q.unlock()
	if err == nil {
		q.notFull.signal()
	}
	return v, err
}

func (q *mutexRing) TryEnqueue(v uint64) error {
	ws := newWaitState(&q.cfg)
	return q.tryEnqueue(v, &ws)
}

func (q *mutexRing) TryDequeue() (uint64, error) {
	ws := newWaitState(&q.cfg)
	return q.tryDequeue(&ws)
}

func (q *mutexRing) Enqueue(v uint64) error {
	ws := newWaitState(&q.cfg)
	return block(&ws, q.notFull, ErrFull, func() error { return q.tryEnqueue(v, &ws) })
}

func (q *mutexRing) Dequeue() (uint64, error) {
	ws := newWaitState(&q.cfg)
	var v uint64
	err := block(&ws, q.notEmpty, ErrEmpty, func() (err error) {
		v, err = q.tryDequeue(&ws)
		return err
	})
	return v, err
}

func (q *mutexRing) Close() error {
	atomic.OrUint32(q.flags, flagClosed)
	q.notEmpty.broadcast()
	q.notFull.broadcast()
	return nil
}

// Backlog implements Backlogger (read without the lock: a snapshot).
func (q *mutexRing) Backlog() int {
	return clampBacklog(atomic.LoadUint64(q.tail), atomic.LoadUint64(q.head), q.cap)
}
