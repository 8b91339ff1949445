package queue

import "sync/atomic"

// unbounded is what the unbounded in-process designs (bq, lcrq, wfq)
// share: the closed flag and the event count consumers sleep on while the
// queue is empty. Each design embeds it where its own layout puts them
// (after the head and tail lines).
type unbounded struct {
	flags uint32
	ec    [2]uint32 // notEmpty: seq, waiters
}

// newUnbounded checks what New of an unbounded in-process design needs and
// returns the ring capacity cfg asks for.
func newUnbounded(design string, cfg Config, init bool) (uint64, error) {
	if !init {
		return 0, errInProcess(design)
	}
	if err := checkWait(cfg); err != nil {
		return 0, err
	}
	return ringCapacity(cfg)
}

func (u *unbounded) notEmpty() eventCount { return eventCount{seq: &u.ec[0], waiters: &u.ec[1]} }

// dequeue waits in try (the design's TryDequeue) until it yields an item
// or the queue is closed and empty.
func (u *unbounded) dequeue(cfg *Config, try func() (uint64, error)) (uint64, error) {
	ws := newWaitState(cfg)
	var v uint64
	err := block(&ws, u.notEmpty(), ErrEmpty, func() (err error) {
		v, err = try()
		return err
	})
	return v, err
}

// Close marks the queue closed and wakes every sleeping consumer.
func (u *unbounded) Close() error {
	atomic.OrUint32(&u.flags, flagClosed)
	u.notEmpty().broadcast()
	return nil
}
