package front

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// attachedQueue is this process's handle on one request queue, made at
// generation gen of the queue (wire.QueueStats.Gen). The service formats
// a corrupted queue anew under the next generation; a handle of an older
// one is replaced before the next enqueue (its process-local view, e.g.
// the largest head it saw, belongs to the old memory).
type attachedQueue struct {
	q   queue.Queue
	gen uint32
}

// requeueWait is how long a call whose queue failed waits for the service
// to rebuild it before the call fails with EIO.
const requeueWait = time.Second

// attachQueue makes a handle on queue i at its current generation.
func (c *Conn) attachQueue(i uint32) (*attachedQueue, error) {
	mem, st, err := c.W.QueueMem(i)
	if err != nil {
		return nil, err
	}
	gen := st.Generation()
	q, err := c.design.New(mem, c.qcfg, false)
	if err != nil {
		return nil, err
	}
	return &attachedQueue{q: q, gen: gen}, nil
}

// queue returns the handle on queue i, attached again when the service
// rebuilt the queue since the handle was made (nil when it cannot be
// attached now, also at Attach: the enqueue then waits for a rebuild).
func (c *Conn) queue(i uint32) *attachedQueue {
	h := c.queues[i].Load()
	if h != nil && h.gen == c.stats[i].Generation() {
		return h
	}
	nh, err := c.attachQueue(i)
	if err != nil {
		return nil // the enqueue waits for a rebuild
	}
	c.queues[i].CompareAndSwap(h, nh)
	return c.queues[i].Load()
}

// enqueue puts buffer idx on queue i. A queue that fails (corrupted,
// or closed while the service lives) is waited for, up to requeueWait,
// until the service has rebuilt it under a new generation, then the
// enqueue is retried on it: ENOTCONN when the service is gone, EIO when
// the queue stays unusable.
func (c *Conn) enqueue(i uint32, idx uint64) error {
	for {
		h := c.queue(i)
		var err error
		if h == nil {
			err = fmt.Errorf("%w: queue %d cannot be attached", queue.ErrCorrupt, i)
		} else if err = h.q.Enqueue(idx); err == nil {
			return nil
		}
		if c.W.Alive() != nil {
			return syscall.ENOTCONN
		}
		if errors.Is(err, queue.ErrTimeout) {
			continue
		}
		var gen uint32
		if h != nil {
			gen = h.gen
		}
		if !c.awaitRebuild(i, gen) {
			return fmt.Errorf("%w: queue %d: %v", syscall.EIO, i, err)
		}
	}
}

// awaitRebuild waits until queue i's generation differs from gen.
func (c *Conn) awaitRebuild(i, gen uint32) bool {
	deadline := time.Now().Add(requeueWait)
	for c.stats[i].Generation() == gen {
		if time.Now().After(deadline) || c.W.Alive() != nil {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// markSubmitted records the queue in b's descriptor and submits it.
func markSubmitted(b *wire.Buffer, q uint32) {
	b.SetQueue(q)
	b.SetState(wire.StateSubmitted)
}
