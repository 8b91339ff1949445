package cache

import "sync"

// waitQueue orders the waiters of the allocation gate. Waiters are grouped
// into flows, one per tenant, each FIFO inside.
//
//   - FIFO order (conventional): the flow whose head waiter came first.
//   - Weight order without aging: the flow with the highest weight (ties:
//     the flow that has waited longest). A light flow waits as long as any
//     heavier flow waits.
//   - Weight order with aging: at every grant each waiting flow's priority
//     grows by its weight (a flow passed over keeps what it gained); the
//     flow with the highest priority is served and pays the sum of the
//     waiting flows' weights (smooth weighted round robin). Flows that
//     always wait are then served exactly in proportion to their weights,
//     and a waiting flow of weight w is served within ⌈Σw / w⌉ + n grants
//     of arriving (n flows), or 2⌈Σw / w⌉ + n when it comes back owing
//     priority from its last grant: no starvation. A flow's priority is
//     kept while it has no waiter, so leaving does not cancel a debt.
//
// A waitQueue is not safe for concurrent use; the gate locks it.
type waitQueue struct {
	weighted bool
	aging    bool
	flows    []*flow
	seq      uint64
	// credit keeps the priority of flows that have no waiter right now,
	// so a flow cannot shed its debt (or lose its credit) by leaving.
	credit map[any]int64
}

type flow struct {
	key     any
	weight  int64
	prio    int64
	since   uint64   // when the flow (re)entered, for ties
	waiters []waiter // FIFO
}

type waiter struct {
	seq uint64
	ch  chan struct{}
}

func (q *waitQueue) len() int {
	n := 0
	for _, f := range q.flows {
		n += len(f.waiters)
	}
	return n
}

// push appends a waiter to key's flow.
func (q *waitQueue) push(key any, weight int, ch chan struct{}) {
	q.seq++
	w := waiter{seq: q.seq, ch: ch}
	for _, f := range q.flows {
		if f.key == key {
			f.waiters = append(f.waiters, w)
			return
		}
	}
	f := &flow{key: key, weight: int64(weight), since: q.seq, waiters: []waiter{w}}
	if !q.aging {
		f.prio = f.weight
	} else {
		f.prio = q.credit[key]
	}
	q.flows = append(q.flows, f)
}

// pop removes and returns the next waiter, or ok=false when empty.
func (q *waitQueue) pop() (key any, ch chan struct{}, ok bool) {
	if len(q.flows) == 0 {
		return nil, nil, false
	}
	var total int64
	if q.weighted && q.aging {
		for _, f := range q.flows {
			f.prio += f.weight
			total += f.weight
		}
	}
	best := 0
	for i, f := range q.flows[1:] {
		b := q.flows[best]
		switch {
		case !q.weighted:
			if f.waiters[0].seq < b.waiters[0].seq {
				best = i + 1
			}
		case f.prio > b.prio || f.prio == b.prio && f.since < b.since:
			best = i + 1
		}
	}
	f := q.flows[best]
	w := f.waiters[0]
	f.waiters = f.waiters[1:]
	f.prio -= total
	if len(f.waiters) == 0 {
		q.flows = append(q.flows[:best], q.flows[best+1:]...)
		if q.aging {
			if q.credit == nil {
				q.credit = map[any]int64{}
			}
			q.credit[f.key] = f.prio
		}
	} else if !q.aging {
		q.seq++
		f.since = q.seq
	}
	return f.key, w.ch, true
}

// remove drops a waiter that gave up (its channel was never closed).
func (q *waitQueue) remove(ch chan struct{}) bool {
	for i, f := range q.flows {
		for j, w := range f.waiters {
			if w.ch == ch {
				f.waiters = append(f.waiters[:j], f.waiters[j+1:]...)
				if len(f.waiters) == 0 {
					q.flows = append(q.flows[:i], q.flows[i+1:]...)
				}
				return true
			}
		}
	}
	return false
}

// gate admits at most slots holders; further callers wait in a waitQueue.
type gate struct {
	mu    sync.Mutex
	free  int
	q     waitQueue
	grant map[any]int64 // grants per key, for statistics
}

func newGate(slots int, weighted, aging bool) *gate {
	return &gate{free: slots, q: waitQueue{weighted: weighted, aging: aging}, grant: map[any]int64{}}
}

// acquire blocks until key holds a slot.
func (g *gate) acquire(key any, weight int) {
	g.mu.Lock()
	if g.free > 0 && g.q.len() == 0 {
		g.free--
		g.grant[key]++
		g.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	g.q.push(key, weight, ch)
	g.mu.Unlock()
	<-ch
}

// release returns a slot, handing it to the next waiter if there is one.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if key, ch, ok := g.q.pop(); ok {
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
