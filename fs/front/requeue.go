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

// requeueWait is how long, in all, a call whose queue fails waits for the
// service to rebuild the queue (or to answer the call: the service
// answers the requests of a queue it quarantines at once) before the call
// fails with EIO. It is one of the budgets of docs/service.md: with the
// service's detection and the buffer watch, a call through a damaged
// queue ends well within a second.
const requeueWait = 150 * time.Millisecond

// enqueueTimeout bounds one enqueue: a ticket whose slot stays stuck that
// long is given up (recorded in the slot) and the enqueue retried with a
// new ticket.
const enqueueTimeout = 100 * time.Millisecond

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

// enqueue puts the submitted buffer b on queue i. A queue that fails
// (corrupted, or closed while the service lives) is waited for until the
// service has rebuilt it under a new generation, then the enqueue is
// retried on it; the waits of one call are bounded by requeueWait in all.
// It returns nil also when the service answered b meanwhile (its queue
// was quarantined: the answer is EIO), ENOTCONN when the service is gone,
// EIO when the queue stays unusable.
func (c *Conn) enqueue(i uint32, b *wire.Buffer, lazy bool) (queue.Wake, error) {
	var deadline time.Time // set at the first failure
	for {
		h := c.queue(i)
		var err error
		var owed queue.Wake
		if h == nil {
			err = fmt.Errorf("%w: queue %d cannot be attached", queue.ErrCorrupt, i)
		} else if l, ok := h.q.(queue.LazyEnqueuer); ok && lazy {
			owed, err = l.EnqueueLazy(uint64(b.Index))
		} else {
			err = h.q.Enqueue(uint64(b.Index))
		}
		if err == nil {
			return owed, nil
		}
		if c.W.Alive() != nil {
			return queue.Wake{}, syscall.ENOTCONN
		}
		if errors.Is(err, queue.ErrTimeout) {
			// The queue holds twice the buffers, so it is never full:
			// the ticket's slot was stuck (a descheduled service thread
			// or a scribbled slot word); the retry takes another ticket,
			// unless the service answered meanwhile (a quarantine).
			if b.Completed() {
				return queue.Wake{}, nil
			}
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(requeueWait)
		}
		var gen uint32
		if h != nil {
			gen = h.gen
		}
		switch c.awaitRebuild(i, gen, b, deadline) {
		case rebuildAnswered:
			return queue.Wake{}, nil
		case rebuildTimedOut:
			return queue.Wake{}, fmt.Errorf("%w: queue %d: %v", syscall.EIO, i, err)
		}
	}
}

// Outcomes of awaitRebuild.
const (
	rebuildDone = iota
	rebuildAnswered
	rebuildTimedOut
)

// awaitRebuild waits until queue i's generation differs from gen, or the
// service answered b, up to deadline (or the service's death).
func (c *Conn) awaitRebuild(i, gen uint32, b *wire.Buffer, deadline time.Time) int {
	for c.stats[i].Generation() == gen {
		if b.Completed() {
			return rebuildAnswered
		}
		if time.Now().After(deadline) || c.W.Alive() != nil {
			return rebuildTimedOut
		}
		time.Sleep(time.Millisecond)
	}
	return rebuildDone
}

// markSubmitted records the queue in b's descriptor and submits it.
func markSubmitted(b *wire.Buffer, q uint32) {
	b.SetQueue(q)
	b.SetState(wire.StateSubmitted)
}
