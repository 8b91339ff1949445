package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"polytropon/ipc/queue"
)

// QueueConfig selects the points of the queue bake-off.
type QueueConfig struct {
	Designs   []string     // design names; empty means every registered design
	Waits     []queue.Wait // empty means spin, spin-futex, futex
	Producers []int        // producer thread counts
	Consumers []int        // consumer thread counts
	// Cross measures every producers x consumers pair; without it the
	// lists are zipped (equal length, or one list of one element).
	Cross      bool
	Work       time.Duration // busy work per item in the consumer
	Duration   time.Duration // production time per point
	MaxItems   int64         // item budget per point (0: unbounded); ends production early
	Capacity   int           // queue slots; 0 means 1024
	SpinBudget int           // queue.Config.SpinBudget
	Pin        bool          // pin every thread to a CPU
	// Rounds splits each point's Duration (and MaxItems) into that many
	// slices, measured round robin with the other designs at the same
	// wait and thread counts and pooled, so that load drifting on a shared
	// machine hits every design alike; 0 means 1.
	Rounds int
	// NoLock runs producers and consumers as ordinary goroutines instead
	// of locking each to its own OS thread (diagnostic: shows what the
	// Go scheduler adds to a design's waits).
	NoLock bool
	// OpTimeout bounds every blocking queue operation, so that a design
	// that loses an item fails the point instead of hanging; 0 means 5s.
	OpTimeout time.Duration
}

func (c *QueueConfig) defaults() error {
	if len(c.Designs) == 0 {
		for _, d := range queue.Designs() {
			c.Designs = append(c.Designs, d.Name)
		}
	}
	if len(c.Designs) == 0 {
		return errors.New("bench: no queue design registered")
	}
	for _, n := range c.Designs {
		if _, err := queue.Lookup(n); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if len(c.Waits) == 0 {
		c.Waits = []queue.Wait{queue.Spin, queue.SpinFutex, queue.Futex}
	}
	if len(c.Producers) == 0 {
		c.Producers = []int{1}
	}
	if len(c.Consumers) == 0 {
		c.Consumers = c.Producers
	}
	for _, n := range append(append([]int{}, c.Producers...), c.Consumers...) {
		if n < 1 || n > 256 {
			return fmt.Errorf("bench: thread count %d out of range 1..256", n)
		}
	}
	if !c.Cross && len(c.Producers) != len(c.Consumers) && len(c.Producers) != 1 && len(c.Consumers) != 1 {
		return fmt.Errorf("bench: %d producer counts and %d consumer counts cannot be zipped (use Cross)", len(c.Producers), len(c.Consumers))
	}
	if c.Duration <= 0 {
		c.Duration = 200 * time.Millisecond
	}
	if c.Capacity <= 0 {
		c.Capacity = 1024
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Work < 0 || c.MaxItems < 0 {
		return fmt.Errorf("bench: negative work %v or item budget %d", c.Work, c.MaxItems)
	}
	return nil
}

// pairs lists the (producers, consumers) points.
func (c *QueueConfig) pairs() [][2]int {
	var out [][2]int
	if c.Cross {
		for _, p := range c.Producers {
			for _, q := range c.Consumers {
				out = append(out, [2]int{p, q})
			}
		}
		return out
	}
	n := max(len(c.Producers), len(c.Consumers))
	for i := range n {
		out = append(out, [2]int{c.Producers[min(i, len(c.Producers)-1)], c.Consumers[min(i, len(c.Consumers)-1)]})
	}
	return out
}

// QueuePoint is the outcome of one point of the queue bake-off.
type QueuePoint struct {
	Design    string
	Wait      queue.Wait
	Producers int
	Consumers int
	Work      time.Duration
	Items     int64         // items produced and consumed (equal, or Err is set)
	Elapsed   time.Duration // from the start signal to the last item consumed
	EnqNs     float64       // mean Enqueue latency, clock cost subtracted
	ClockNs   float64       // the subtracted cost of one clock read
	Rounds    int           // measurements pooled into this point
	// PerRound are those measurements, in order: each is one repetition
	// of the point in its results (see Records).
	PerRound []QueueRound
	Err      error

	enqSum, enqCalls int64 // raw Enqueue time and calls, for pooling
}

// QueueRound is one round of a queue point.
type QueueRound struct {
	Items   int64
	Elapsed time.Duration
	EnqNs   float64 // mean Enqueue latency, clock cost subtracted
	Err     error
}

// Throughput is items per second end to end.
func (r QueueRound) Throughput() float64 { return perSecond(r.Items, r.Elapsed) }

// pool adds round r (of the same design, wait and threads) to p.
func (p *QueuePoint) pool(r QueuePoint) {
	p.Rounds++
	round := QueueRound{Items: r.Items, Elapsed: r.Elapsed, Err: r.Err}
	if r.Err == nil && r.enqCalls > 0 {
		round.EnqNs = max(0, float64(r.enqSum)/float64(r.enqCalls)-p.ClockNs)
	}
	p.PerRound = append(p.PerRound, round)
	if p.Err != nil {
		return
	}
	if r.Err != nil {
		p.Err = r.Err
		return
	}
	p.Items += r.Items
	p.Elapsed += r.Elapsed
	p.enqSum += r.enqSum
	p.enqCalls += r.enqCalls
}

// Throughput is items per second end to end.
func (p QueuePoint) Throughput() float64 { return perSecond(p.Items, p.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// RunQueue measures every point of cfg in turn; a failing point is
// reported in its QueuePoint and the run goes on. progress, if not nil,
// sees each point when it is done.
func RunQueue(ctx context.Context, cfg QueueConfig, progress func(QueuePoint)) ([]QueuePoint, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	designs := make([]queue.Design, 0, len(cfg.Designs))
	for _, n := range cfg.Designs {
		d, err := queue.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		designs = append(designs, d)
	}
	if _, err := allowedCPUs(); err != nil {
		return nil, err
	}
	clock := clockCost()
	slice := cfg // what one round measures
	slice.Duration = max(time.Millisecond, cfg.Duration/time.Duration(cfg.Rounds))
	if cfg.MaxItems > 0 {
		slice.MaxItems = max(1, cfg.MaxItems/int64(cfg.Rounds))
	}
	var out []QueuePoint
	for _, w := range cfg.Waits {
		for _, pc := range cfg.pairs() {
			group := make([]QueuePoint, len(designs))
			for i, d := range designs {
				group[i] = QueuePoint{Design: d.Name, Wait: w, Producers: pc[0], Consumers: pc[1], Work: cfg.Work, ClockNs: clock}
			}
			for range cfg.Rounds {
				for i, d := range designs {
					if err := ctx.Err(); err != nil {
						return out, err
					}
					group[i].pool(runQueuePoint(ctx, d, w, pc[0], pc[1], slice))
				}
			}
			for _, pt := range group {
				if pt.Err == nil && pt.enqCalls > 0 {
					pt.EnqNs = max(0, float64(pt.enqSum)/float64(pt.enqCalls)-clock)
				}
				out = append(out, pt)
				if progress != nil {
					progress(pt)
				}
			}
		}
	}
	return out, nil
}

// tally is what each side adds up about the items it saw: count, sum and
// sum of a mixed hash, so that a lost or duplicated item shows.
type tally struct{ n, sum, mix uint64 }

func (t *tally) add(v uint64) {
	t.n++
	t.sum += v
	t.mix += mix64(v)
}

func mix64(v uint64) uint64 {
	v ^= v >> 33
	v *= 0xff51afd7ed558ccd
	v ^= v >> 33
	v *= 0xc4ceb9fe1a85ec53
	return v ^ v>>33
}

// newQueue builds an instance of d over fresh (cache-line aligned) memory.
func newQueue(d queue.Design, qc queue.Config) (queue.Queue, error) {
	var mem []byte
	if d.Size != nil {
		if n := d.Size(qc); n > 0 {
			mem = alignedBytes(n, 4096)
		}
	}
	q, err := d.New(mem, qc, true)
	if err != nil {
		return nil, fmt.Errorf("bench: new %s queue: %w", d.Name, err)
	}
	return q, nil
}

func runQueuePoint(ctx context.Context, d queue.Design, w queue.Wait, np, nc int, cfg QueueConfig) (pt QueuePoint) {
	pt = QueuePoint{Design: d.Name, Wait: w, Producers: np, Consumers: nc, Work: cfg.Work}
	q, err := newQueue(d, queue.Config{Capacity: cfg.Capacity, Wait: w, SpinBudget: cfg.SpinBudget, Timeout: cfg.OpTimeout})
	if err != nil {
		pt.Err = err
		return pt
	}
	defer q.Close()

	// The kernel, not the Go scheduler, must multiplex oversubscribed
	// threads: a spinning goroutine would otherwise hold one of the few Ps.
	defer raiseProcs(max(runtime.NumCPU(), np+nc+1))()

	var (
		start     = make(chan struct{})
		ready     sync.WaitGroup
		prodWG    sync.WaitGroup
		consWG    sync.WaitGroup
		errMu     sync.Mutex
		firstErr  error
		produced  atomic.Int64
		consumed  atomic.Int64
		prodDone  atomic.Bool
		closeOnce sync.Once
		lastDone  atomic.Int64
		prodTally = make([]tally, np)
		consTally = make([]tally, nc)
		enqNs     = make([]int64, np)
		enqCalls  = make([]int64, np)
		t0        int64
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	closeQ := func() { closeOnce.Do(func() { q.Close() }) }
	quota := int64(-1)
	if cfg.MaxItems > 0 {
		quota = max(1, cfg.MaxItems/int64(np))
	}

	ready.Add(np + nc)
	for i := range np {
		prodWG.Add(1)
		go func() {
			defer prodWG.Done()
			if err := lockThread(!cfg.NoLock, cfg.Pin, i); err != nil {
				fail(err)
			}
			ready.Done()
			<-start
			deadline := t0 + int64(cfg.Duration)
			tl := &prodTally[i]
			var sum, calls int64
			for seq := uint64(0); quota < 0 || int64(seq) < quota; seq++ {
				v := uint64(i)<<40 | seq
				a := now()
				err := q.Enqueue(v)
				b := now()
				if err != nil {
					fail(fmt.Errorf("producer %d: enqueue item %d: %w", i, seq, err))
					break
				}
				sum += b - a
				calls++
				tl.add(v)
				if b >= deadline {
					break
				}
			}
			enqNs[i], enqCalls[i] = sum, calls
		}()
	}
	for i := range nc {
		consWG.Add(1)
		go func() {
			defer consWG.Done()
			if err := lockThread(!cfg.NoLock, cfg.Pin, np+i); err != nil {
				fail(err)
			}
			ready.Done()
			<-start
			tl := &consTally[i]
			for {
				v, err := q.Dequeue()
				if err != nil {
					if !errors.Is(err, queue.ErrClosed) {
						fail(fmt.Errorf("consumer %d: dequeue: %w", i, err))
						closeQ()
					}
					return
				}
				busyFor(cfg.Work)
				tl.add(v)
				n := consumed.Add(1)
				if prodDone.Load() && n == produced.Load() {
					lastDone.Store(now())
					closeQ()
				}
			}
		}()
	}
	ready.Wait()
	t0 = now()
	close(start)
	prodWG.Wait()
	var total int64
	for i := range np {
		total += int64(prodTally[i].n)
	}
	produced.Store(total)
	prodDone.Store(true)
	if consumed.Load() == total {
		lastDone.CompareAndSwap(0, now())
		closeQ()
	}
	drained := make(chan struct{})
	go func() { consWG.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		closeQ()
		<-drained
	case <-time.After(cfg.Duration + 2*cfg.OpTimeout):
		fail(fmt.Errorf("consumers still running %v after production ended", 2*cfg.OpTimeout))
		closeQ()
		<-drained
	}

	var pt0, ct tally
	for _, t := range prodTally {
		pt0.n, pt0.sum, pt0.mix = pt0.n+t.n, pt0.sum+t.sum, pt0.mix+t.mix
	}
	for _, t := range consTally {
		ct.n, ct.sum, ct.mix = ct.n+t.n, ct.sum+t.sum, ct.mix+t.mix
	}
	var sum, calls int64
	for i := range np {
		sum += enqNs[i]
		calls += enqCalls[i]
	}
	if firstErr == nil && pt0 != ct {
		firstErr = fmt.Errorf("items not delivered exactly once: produced %d, consumed %d (checksums differ: %v)", pt0.n, ct.n, pt0.sum != ct.sum || pt0.mix != ct.mix)
	}
	if firstErr != nil {
		pt.Err = fmt.Errorf("%s/%v/%dx%d: %w", d.Name, w, np, nc, firstErr)
		return pt
	}
	pt.Items = int64(ct.n)
	end := lastDone.Load()
	if end == 0 {
		end = now()
	}
	pt.Elapsed = time.Duration(end - t0)
	pt.enqSum, pt.enqCalls = sum, calls
	if calls > 0 {
		pt.EnqNs = float64(sum) / float64(calls) // raw: RunQueue subtracts the clock cost
	}
	return pt
}
