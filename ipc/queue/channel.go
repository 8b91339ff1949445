package queue

import (
	"sync"
	"time"
)

// channel is the Go baseline: a buffered channel of Capacity items.
// In-process only, strictly FIFO, blocking. Spin polls with non-blocking
// selects; SpinFutex polls SpinBudget times and then parks; Futex parks at
// once (the Go runtime parks goroutines on futexes underneath).
type channel struct {
	cfg       Config
	ch        chan uint64
	done      chan struct{}
	closeOnce sync.Once
}

func init() {
	Register(Design{Name: "channel", Size: inProcessSize, New: newChannel})
}

func newChannel(_ []byte, cfg Config, init bool) (Queue, error) {
	if !init {
		return nil, errInProcess("channel")
	}
	if err := checkWait(cfg); err != nil {
		return nil, err
	}
	c, err := ringCapacity(cfg)
	if err != nil {
		return nil, err
	}
	return &channel{cfg: cfg, ch: make(chan uint64, c), done: make(chan struct{})}, nil
}

func (q *channel) closed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

func (q *channel) TryEnqueue(v uint64) error {
	if q.closed() {
		return ErrClosed
	}
	select {
	case q.ch <- v:
		return nil
	default:
		return ErrFull
	}
}

func (q *channel) TryDequeue() (uint64, error) {
	select {
	case v := <-q.ch:
		return v, nil
	default:
	}
	if emptyGap != nil {
		emptyGap(q)
	}
	if !q.closed() {
		return 0, ErrEmpty
	}
	// Items enqueued after the look above and before Close are there
	// now: Close follows every Enqueue that returned.
	select {
	case v := <-q.ch:
		return v, nil
	default:
		return 0, ErrClosed
	}
}

// emptyGap, set by tests, runs in TryDequeue between finding the channel
// empty and looking whether the queue is closed.
var emptyGap func(*channel)

// timer returns the timeout channel of a parked operation (nil: none).
func (q *channel) timer(ws *waitState) (<-chan time.Time, func()) {
	if ws.timeout <= 0 {
		return nil, func() {}
	}
	ws.expired() // starts the clock if polling did not
	t := time.NewTimer(time.Until(ws.deadline))
	return t.C, func() { t.Stop() }
}

func (q *channel) Enqueue(v uint64) error {
	ws := newWaitState(&q.cfg)
	for {
		if err := q.TryEnqueue(v); err != ErrFull {
			return err
		}
		if ws.expired() {
			return ErrTimeout
		}
		if !ws.spin() {
			break
		}
	}
	expire, stop := q.timer(&ws)
	defer stop()
	select {
	case q.ch <- v:
		return nil
	case <-q.done:
		return ErrClosed
	case <-expire:
		return ErrTimeout
	}
}

func (q *channel) Dequeue() (uint64, error) {
	ws := newWaitState(&q.cfg)
	for {
		v, err := q.TryDequeue()
		if err != ErrEmpty {
			return v, err
		}
		if ws.expired() {
			return 0, ErrTimeout
		}
		if !ws.spin() {
			break
		}
	}
	expire, stop := q.timer(&ws)
	defer stop()
	select {
	case v := <-q.ch:
		return v, nil
	case <-q.done:
		return q.TryDequeue() // drain what is left, else ErrClosed
	case <-expire:
		return 0, ErrTimeout
	}
}

func (q *channel) Close() error {
	q.closeOnce.Do(func() { close(q.done) })
	return nil
}
