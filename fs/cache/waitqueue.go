package cache

import (
	"sync"

	"polytropon/internal/wfq"
)

// gate admits at most slots holders; further callers wait in a queue
// ordered FIFO or by weight, with or without aging (package wfq).
type gate struct {
	mu    sync.Mutex
	free  int
	q     wfq.Queue[chan struct{}]
	grant map[any]int64 // grants per key, for statistics
}

func newGate(slots int, weighted, aging bool) *gate {
	return &gate{free: slots, q: wfq.Queue[chan struct{}]{Weighted: weighted, Aging: aging}, grant: map[any]int64{}}
}

// acquire blocks until key holds a slot.
func (g *gate) acquire(key any, weight int) {
	g.mu.Lock()
	if g.free > 0 && g.q.Len() == 0 {
		g.free--
		g.grant[key]++
		g.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	g.q.Push(key, weight, ch)
	g.mu.Unlock()
	<-ch
}

// release returns a slot, handing it to the next waiter if there is one.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if key, ch, ok := g.q.Pop(); ok {
		g.grant[key]++
		close(ch)
		return
	}
	g.free++
}

func (g *gate) grants(key any) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.grant[key]
}
