package metrics

import (
	"strconv"
	"sync"
	"time"
)

// taskSampler follows per-thread cumulative counters of the pools'
// processes (context switches, block-I/O delay) through a window. Threads
// that exit between two samples lose at most one interval of counts; that
// is why it samples periodically instead of only at Start and Stop.
//
// It adds up each thread's increments from one sample to the next (a
// thread first seen after Start counts from 0, its birth). When
// maxStep is set, an increment of counter k larger than maxStep(k, time
// since the previous sample) cannot be real and is dropped (counted in
// dropped): a delay counter cannot grow by more than the wall time that
// passed.
type taskSampler struct {
	read     func(pid, tid int) ([]uint64, bool) // cumulative counters of one thread
	pools    []PoolTarget
	interval time.Duration
	maxStep  func(k int, elapsed time.Duration) uint64 // nil: no bound

	mu      sync.Mutex         // guards prev, acc, at, dropped
	prev    []map[int][]uint64 // per pool: tid -> values at the latest sample
	acc     []map[int][]uint64 // per pool: tid -> sum of increments since Start
	at      time.Time          // time of the latest sample
	dropped int                // increments dropped by maxStep

	stop chan struct{}
	done chan struct{}
}

func newTaskSampler(pools []PoolTarget, interval time.Duration, read func(pid, tid int) ([]uint64, bool)) *taskSampler {
	return newBoundedTaskSampler(pools, interval, read, nil)
}

func newBoundedTaskSampler(pools []PoolTarget, interval time.Duration, read func(pid, tid int) ([]uint64, bool),
	maxStep func(k int, elapsed time.Duration) uint64) *taskSampler {
	s := &taskSampler{read: read, pools: pools, interval: interval, maxStep: maxStep,
		stop: make(chan struct{}), done: make(chan struct{})}
	s.prev = make([]map[int][]uint64, len(pools))
	s.acc = make([]map[int][]uint64, len(pools))
	for i := range pools {
		s.prev[i], s.acc[i] = map[int][]uint64{}, map[int][]uint64{}
	}
	s.sample(true)
	return s
}

// sampleClock is the time of a sample (tests step it).
var sampleClock = time.Now

func (s *taskSampler) sample(initial bool) {
	now := sampleClock()
	s.mu.Lock()
	elapsed := now.Sub(s.at)
	s.at = now
	s.mu.Unlock()
	for i, p := range s.pools {
		for _, pid := range poolPids(p) {
			for _, tid := range threads(pid) {
				v, ok := s.read(pid, tid)
				if !ok {
					continue
				}
				s.mu.Lock()
				if !initial {
					s.add(i, tid, v, elapsed)
				}
				s.prev[i][tid] = v
				s.mu.Unlock()
			}
		}
	}
}

// add accumulates thread tid's increments from its previous values to v.
func (s *taskSampler) add(pool, tid int, v []uint64, elapsed time.Duration) {
	prev, acc := s.prev[pool][tid], s.acc[pool][tid]
	if len(acc) < len(v) {
		acc = append(acc, make([]uint64, len(v)-len(acc))...)
	}
	for k := range v {
		var p uint64
		if k < len(prev) && prev[k] <= v[k] {
			p = prev[k] // else a new thread with a reused id: from 0
		}
		inc := v[k] - p
		if s.maxStep != nil && inc > s.maxStep(k, elapsed) {
			s.dropped++
			continue
		}
		acc[k] += inc
	}
	s.acc[pool][tid] = acc
}

// run samples until finish; start it with overhead.goroutine.
func (s *taskSampler) run() {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample(false)
		}
	}
}

// finish takes the last sample and returns, per pool, the sum over threads
// of their increments for each counter.
func (s *taskSampler) finish(n int) [][]uint64 {
	close(s.stop)
	<-s.done
	s.sample(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]uint64, len(s.pools))
	for i := range s.pools {
		out[i] = make([]uint64, n)
		for _, acc := range s.acc[i] {
			for k := 0; k < n && k < len(acc); k++ {
				out[i][k] += acc[k]
			}
		}
	}
	return out
}

func taskPath(pid, tid int, file string) string {
	return procPath(strconv.Itoa(pid), "task", strconv.Itoa(tid), file)
}
