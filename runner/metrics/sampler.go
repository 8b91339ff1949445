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
type taskSampler struct {
	read     func(pid, tid int) ([]uint64, bool) // cumulative counters of one thread
	pools    []PoolTarget
	interval time.Duration

	mu    sync.Mutex         // guards first, last
	first []map[int][]uint64 // per pool: tid -> values at Start (missing: born later, 0)
	last  []map[int][]uint64 // per pool: tid -> latest values

	stop chan struct{}
	done chan struct{}
}

func newTaskSampler(pools []PoolTarget, interval time.Duration, read func(pid, tid int) ([]uint64, bool)) *taskSampler {
	s := &taskSampler{read: read, pools: pools, interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	s.first = make([]map[int][]uint64, len(pools))
	s.last = make([]map[int][]uint64, len(pools))
	for i := range pools {
		s.first[i], s.last[i] = map[int][]uint64{}, map[int][]uint64{}
	}
	s.sample(true)
	return s
}

func (s *taskSampler) sample(initial bool) {
	for i, p := range s.pools {
		for _, pid := range poolPids(p) {
			for _, tid := range threads(pid) {
				v, ok := s.read(pid, tid)
				if !ok {
					continue
				}
				s.mu.Lock()
				if initial {
					s.first[i][tid] = v
				}
				s.last[i][tid] = v
				s.mu.Unlock()
			}
		}
	}
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
// of (last - first) for each counter.
func (s *taskSampler) finish(n int) [][]uint64 {
	close(s.stop)
	<-s.done
	s.sample(false)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]uint64, len(s.pools))
	for i := range s.pools {
		out[i] = make([]uint64, n)
		for tid, last := range s.last[i] {
			first := s.first[i][tid]
			for k := 0; k < n && k < len(last); k++ {
				var f uint64
				if k < len(first) {
					f = first[k]
				}
				if last[k] > f {
					out[i][k] += last[k] - f
				}
			}
		}
	}
	return out
}

func taskPath(pid, tid int, file string) string {
	return procPath(strconv.Itoa(pid), "task", strconv.Itoa(tid), file)
}
