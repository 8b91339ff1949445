package ipcbench

import (
	"errors"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"polytropon/ipc/queue"
)

// testRing is a bounded MPMC ring (Vyukov's sequence-per-slot scheme) over
// caller memory: a Shared design that exists only in this test binary, so
// the harness is tested independently of the designs in ipc/queue. Every
// wait strategy spins and yields; it never sleeps on a futex.
//
// Layout: enqueue position, dequeue position, closed flag and mask on
// separate cache lines, then cap slots of {seq, value}.
type testRing struct {
	enq, deq, closed, mask *atomic.Uint64
	slots                  []ringSlot
	timeout                time.Duration
}

type ringSlot struct{ seq, val atomic.Uint64 }

const ringHeader = 256

func ringCap(cfg queue.Config) int {
	return 1 << bits.Len(uint(max(cfg.Capacity, 2)-1))
}

func ringSize(cfg queue.Config) int { return ringHeader + ringCap(cfg)*16 }

func newTestRing(mem []byte, cfg queue.Config, init bool) (queue.Queue, error) {
	n := ringCap(cfg)
	if len(mem) < ringSize(cfg) || uintptr(unsafe.Pointer(&mem[0]))%64 != 0 {
		return nil, errors.New("test ring: memory too small or misaligned")
	}
	word := func(off int) *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(&mem[off])) }
	r := &testRing{enq: word(0), deq: word(64), closed: word(128), mask: word(192), timeout: cfg.Timeout}
	r.slots = unsafe.Slice((*ringSlot)(unsafe.Pointer(&mem[ringHeader])), n)
	if init {
		for i := range r.slots {
			r.slots[i].seq.Store(uint64(i))
		}
		r.mask.Store(uint64(n - 1))
	} else if r.mask.Load() != uint64(n-1) {
		return nil, errors.New("test ring: attached ring has another capacity")
	}
	return r, nil
}

func (r *testRing) TryEnqueue(v uint64) error {
	if r.closed.Load() != 0 {
		return queue.ErrClosed
	}
	pos := r.enq.Load()
	for {
		s := &r.slots[pos&r.mask.Load()]
		seq := s.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if r.enq.CompareAndSwap(pos, pos+1) {
				s.val.Store(v)
				s.seq.Store(pos + 1)
				return nil
			}
			pos = r.enq.Load()
		case dif < 0:
			return queue.ErrFull
		default:
			pos = r.enq.Load()
		}
	}
}

func (r *testRing) TryDequeue() (uint64, error) {
	pos := r.deq.Load()
	for {
		s := &r.slots[pos&r.mask.Load()]
		seq := s.seq.Load()
		switch dif := int64(seq - (pos + 1)); {
		case dif == 0:
			if r.deq.CompareAndSwap(pos, pos+1) {
				v := s.val.Load()
				s.seq.Store(pos + r.mask.Load() + 1)
				return v, nil
			}
			pos = r.deq.Load()
		case dif < 0:
			if r.closed.Load() != 0 {
				return 0, queue.ErrClosed
			}
			return 0, queue.ErrEmpty
		default:
			pos = r.deq.Load()
		}
	}
}

// wait retries op until it stops saying again, spinning then yielding.
func (r *testRing) wait(again error, op func() error) error {
	var deadline time.Time
	for i := 0; ; i++ {
		err := op()
		if !errors.Is(err, again) {
			return err
		}
		if i > 100 {
			runtime.Gosched()
		}
		if r.timeout > 0 && i%1024 == 1023 {
			if deadline.IsZero() {
				deadline = time.Now().Add(r.timeout)
			} else if time.Now().After(deadline) {
				return queue.ErrTimeout
			}
		}
	}
}

func (r *testRing) Enqueue(v uint64) error {
	return r.wait(queue.ErrFull, func() error { return r.TryEnqueue(v) })
}

func (r *testRing) Dequeue() (uint64, error) {
	var v uint64
	err := r.wait(queue.ErrEmpty, func() (err error) { v, err = r.TryDequeue(); return err })
	return v, err
}

func (r *testRing) Close() error { r.closed.Store(1); return nil }

// testChan is an in-process design (no Size): a Go channel.
type testChan struct {
	c       chan uint64
	done    chan struct{}
	closed  atomic.Bool
	timeout time.Duration
}

func (q *testChan) Enqueue(v uint64) error {
	if q.closed.Load() {
		return queue.ErrClosed
	}
	select {
	case q.c <- v:
		return nil
	case <-q.done:
		return queue.ErrClosed
	}
}

func (q *testChan) Dequeue() (uint64, error) {
	select {
	case v := <-q.c:
		return v, nil
	case <-q.done:
		select {
		case v := <-q.c:
			return v, nil
		default:
			return 0, queue.ErrClosed
		}
	}
}

func (q *testChan) TryEnqueue(v uint64) error {
	select {
	case q.c <- v:
		return nil
	default:
		return queue.ErrFull
	}
}

func (q *testChan) TryDequeue() (uint64, error) {
	select {
	case v := <-q.c:
		return v, nil
	default:
		return 0, queue.ErrEmpty
	}
}

func (q *testChan) Close() error {
	if q.closed.CompareAndSwap(false, true) {
		close(q.done)
	}
	return nil
}

func init() {
	queue.Register(queue.Design{Name: "test-ring", Shared: true, Size: ringSize, New: newTestRing})
	queue.Register(queue.Design{Name: "test-chan", New: func(_ []byte, cfg queue.Config, _ bool) (queue.Queue, error) {
		return &testChan{c: make(chan uint64, max(cfg.Capacity, 1)), done: make(chan struct{}), timeout: cfg.Timeout}, nil
	}})
}
