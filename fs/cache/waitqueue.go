package cache

import "sync"

// waitQueue orders the waiters of the allocation gate. Waiters are grouped
// into flows, one per tenant, each FIFO inside. In FIFO order the flow whose
// head waiter came first is served. In weight order the flow with the
// highest priority is served (ties: the flow that has waited longest); a
// flow enters, and re-enters after being served, with priority = its
// weight; with aging, every flow passed over by a grant gains its weight
// again, so a flow of weight w that has waited k grants has priority
// (k+1)·w. Every waiting flow is then served at least once every
// ⌈Σw / w⌉ + n grants (n flows), which bounds starvation, and flows that
// always wait are served in proportion to their weights (stride
// scheduling). Without aging a light flow waits as long as any heavier
// flow waits.
//
// A waitQueue is not safe for concurrent use; the gate locks it.
type waitQueue struct {
	weighted bool
	aging    bool
	flows    []*flow
	seq      uint64
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
	q.flows = append(q.flows, &flow{key: key, weight: int64(weight), prio: int64(weight), since: q.seq, waiters: []waiter{w}})
}

// pop removes and returns the next waiter, or ok=false when empty.
func (q *waitQueue) pop() (key any, ch chan struct{}, ok bool) {
	if len(q.flows) == 0 {
		return nil, nil, false
	}
	best := 0
	for i, f := range q.flows[1:] {
		b := q.flows[best]
		if q.weighted {
			if f.prio > b.prio || (f.prio == b.prio && f.since < b.since) {
				best = i + 1
			}
		} else if f.waiters[0].seq < b.waiters[0].seq {
			best = i + 1
		}
	}
	f := q.flows[best]
	w := f.waiters[0]
	f.waiters = f.waiters[1:]
	if q.weighted && q.aging {
		for i, o := range q.flows {
			if i != best {
				o.prio += o.weight
			}
		}
	}
	if len(f.waiters) == 0 {
		q.flows = append(q.flows[:best], q.flows[best+1:]...)
	} else {
		q.seq++
		f.prio, f.since = f.weight, q.seq
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
