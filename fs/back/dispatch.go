package back

import (
	"sync"

	"polytropon/fs/wire"
	"polytropon/internal/wfq"
	"polytropon/ipc/queue"
)

// Weight-aware dispatch: the service threads are the resource tenants
// contend for, so with Config.Dispatch.Weighted the requests they take
// from the queues wait in one queue of flows per tenant (package wfq:
// by weight, with aging unless it is off) and are served in that order.
// A service thread that takes a request also takes every request already
// queued on its queue (claimed Submitted -> Busy as usual), so the order
// is chosen among all waiting requests, not only the oldest; it then
// serves from the flows until none waits. Every thread that adds a
// request serves until the flows are empty, so no request stays behind.
//
// Without Weighted no dispatcher exists and requests are served in the
// order they are dequeued, as always.

// Classifier is implemented by a Handler whose requests belong to
// tenants: Flow names the tenant of a request (it only orders the
// request; Serve still validates everything) and its weight, 0 for an
// unweighted tenant (DefaultWeight).
type Classifier interface {
	Flow(req *wire.Request) (key uint32, weight int)
}

// Dispatch configures weight-aware dispatch.
type Dispatch struct {
	// Weighted serves waiting requests by their tenants' weights; the
	// Handler must be a Classifier.
	Weighted bool
	// NoAging turns aging off: the heaviest waiting tenant always goes
	// first, and a light one waits while any heavier one has requests,
	// but for at most starveGrants requests served to others.
	NoAging bool
}

// starveGrants bounds how many requests of others a waiting request sees
// served without aging: the light tenant all but starves (its share is
// about its requests in flight per starveGrants), yet nothing waits
// forever.
const starveGrants = 1000

// DefaultWeight is the weight of a tenant without one (Flow weight 0).
const DefaultWeight = 100

// dispatcher holds the requests taken from the queues until they are
// served.
type dispatcher struct {
	cls Classifier

	mu     sync.Mutex
	q      wfq.Queue[claimed] // claimed buffers by flow
	grants map[uint32]uint64  // requests served per flow
}

func newDispatcher(cfg Dispatch, h Handler) *dispatcher {
	cls, ok := h.(Classifier)
	if !cfg.Weighted || !ok {
		return nil
	}
	return &dispatcher{cls: cls, q: wfq.Queue[claimed]{Weighted: true, Aging: !cfg.NoAging, MaxPass: starveGrants}, grants: map[uint32]uint64{}}
}

// push enters a claimed request in its flow. The request is read again
// when it is served: what a client changes in between can only change
// its order, and Serve checks everything it uses.
func (p *dispatcher) push(c claimed) {
	req := c.b.ReadRequest()
	key, w := p.cls.Flow(&req)
	if w <= 0 {
		w = DefaultWeight
	}
	p.mu.Lock()
	p.q.Push(key, w, c)
	p.mu.Unlock()
}

func (p *dispatcher) pop() (claimed, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key, b, ok := p.q.Pop()
	if ok {
		p.grants[key.(uint32)]++
	}
	return b, ok
}

// serve enters c, which thread handle h of queue qi took, and serves
// waiting requests in weighted order until none waits, taking what
// arrived on its queue before each choice.
func (p *dispatcher) serve(d *Driver, qi uint32, h queue.Queue, c claimed) {
	p.push(c)
	for {
		for range len(d.bufs) { // each buffer is queued at most once
			idx, err := h.TryDequeue()
			if err != nil {
				break
			}
			if nb := d.claim(qi, idx); nb != nil {
				p.push(claimed{idx, nb})
			}
		}
		next, ok := p.pop()
		if !ok {
			return
		}
		d.serveClaimed(next)
	}
}

// Grants returns how many requests each flow had served through weighted
// dispatch (nil without it).
func (d *Driver) Grants() map[uint32]uint64 {
	if d.disp == nil {
		return nil
	}
	d.disp.mu.Lock()
	defer d.disp.mu.Unlock()
	out := make(map[uint32]uint64, len(d.disp.grants))
	for k, v := range d.disp.grants {
		out[k] = v
	}
	return out
}
