// Package wfq is the weighted queue of flows that orders waiters by their
// tenants' weights, with aging: the page-allocation queue of fs/cache
// (Justitia's weight-aware allocation lock) and the request dispatch of
// the filesystem service (fs/back) are both this queue. Waiters are
// grouped into flows, one per tenant (key), each FIFO inside.
//
//   - FIFO order (Weighted false): the flow whose head waiter came first.
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
// A Queue is not safe for concurrent use; its user locks it.
package wfq

// Queue orders waiters of type T by flow; its zero value is a FIFO queue.
type Queue[T any] struct {
	Weighted bool // order flows by weight
	Aging    bool // with Weighted: smooth weighted round robin
	// MaxPass, when > 0, bounds starvation without aging: a waiter that
	// has seen MaxPass grants go to others is served next.
	MaxPass int

	flows  []*flow[T]
	n      int
	seq    uint64
	grants uint64
	// credit keeps the priority of flows that have no waiter right now,
	// so a flow cannot shed its debt (or lose its credit) by leaving.
	credit map[any]int64
}

type flow[T any] struct {
	key    any
	weight int64
	prio   int64
	since  uint64 // when the flow (re)entered, for ties
	items  []item[T]
}

type item[T any] struct {
	seq   uint64
	grant uint64 // grants when it arrived
	v     T
}

// Len is the number of waiters.
func (q *Queue[T]) Len() int { return q.n }

// Push appends v to key's flow; weight is the flow's weight when it has
// no waiter yet.
func (q *Queue[T]) Push(key any, weight int, v T) {
	q.seq++
	q.n++
	it := item[T]{seq: q.seq, grant: q.grants, v: v}
	for _, f := range q.flows {
		if f.key == key {
			f.items = append(f.items, it)
			return
		}
	}
	f := &flow[T]{key: key, weight: int64(weight), since: q.seq, items: []item[T]{it}}
	if !q.Aging {
		f.prio = f.weight
	} else {
		f.prio = q.credit[key]
	}
	q.flows = append(q.flows, f)
}

// Pop removes and returns the next waiter and its flow's key, or ok=false
// when the queue is empty.
func (q *Queue[T]) Pop() (key any, v T, ok bool) {
	if len(q.flows) == 0 {
		return nil, v, false
	}
	var total int64
	if q.Weighted && q.Aging {
		for _, f := range q.flows {
			f.prio += f.weight
			total += f.weight
		}
	}
	best := 0
	for i, f := range q.flows[1:] {
		b := q.flows[best]
		switch {
		case !q.Weighted:
			if f.items[0].seq < b.items[0].seq {
				best = i + 1
			}
		case f.prio > b.prio || f.prio == b.prio && f.since < b.since:
			best = i + 1
		}
	}
	if q.MaxPass > 0 {
		oldest := 0
		for i, f := range q.flows {
			if f.items[0].seq < q.flows[oldest].items[0].seq {
				oldest = i
			}
		}
		if q.grants-q.flows[oldest].items[0].grant >= uint64(q.MaxPass) {
			best = oldest
		}
	}
	q.grants++
	f := q.flows[best]
	it := f.items[0]
	f.items = f.items[1:]
	q.n--
	f.prio -= total
	if len(f.items) == 0 {
		q.flows = append(q.flows[:best], q.flows[best+1:]...)
		if q.Aging {
			if q.credit == nil {
				q.credit = map[any]int64{}
			}
			q.credit[f.key] = f.prio
		}
	} else if !q.Aging {
		q.seq++
		f.since = q.seq
	}
	return f.key, it.v, true
}
