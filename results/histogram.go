package results

import (
	"encoding/json"
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets: 64 linear sub-buckets
// per power of two of nanoseconds, so any recorded value is reported within
// 1/64 (about 1.6%) of its true value, from 1 ns to about 292 years, in a
// fixed 4 KiB-ish footprint. It is the per-op latency record of every
// workload. Not safe for concurrent use: give each goroutine its own and
// Merge them.
type Histogram struct {
	counts [histGroups * histSub]int64
	n      int64
	sum    float64 // nanoseconds
	min    int64
	max    int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histGroups  = 64 - histSubBits + 1
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxInt64} }

func bucketOf(v int64) int {
	if v < histSub {
		return int(v)
	}
	g := bits.Len64(uint64(v)) - histSubBits // >= 1
	return g*histSub + int(uint64(v)>>(g-1)) - histSub
}

// bucketLow is the smallest value that falls into bucket b.
func bucketLow(b int) int64 {
	g, s := b/histSub, b%histSub
	if g == 0 {
		return int64(s)
	}
	return int64(s+histSub) << (g - 1)
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every observation of o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of observations.
func (h *Histogram) Count() int64 { return h.n }

// Mean is the exact mean of the observations.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Quantile returns the q-quantile (0 <= q <= 1), as the midpoint of its
// bucket clamped to the observed min and max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, h.n))
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo := bucketLow(b)
			hi := bucketLow(b+1) - 1
			if b+1 >= len(h.counts) {
				hi = math.MaxInt64
			}
			mid := lo + (hi-lo)/2
			return time.Duration(max(h.min, min(mid, h.max)))
		}
	}
	return time.Duration(h.max)
}

// histJSON is the stored form: sparse buckets, so results stay small.
type histJSON struct {
	N       int64           `json:"n"`
	SumNs   float64         `json:"sum_ns"`
	MinNs   int64           `json:"min_ns"`
	MaxNs   int64           `json:"max_ns"`
	Buckets map[int64]int64 `json:"buckets"` // bucket low bound (ns) -> count
}

// MarshalJSON stores the histogram sparsely.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := histJSON{N: h.n, SumNs: h.sum, MinNs: h.min, MaxNs: h.max, Buckets: map[int64]int64{}}
	if h.n == 0 {
		j.MinNs = 0
	}
	for b, c := range h.counts {
		if c != 0 {
			j.Buckets[bucketLow(b)] = c
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON restores a histogram stored by MarshalJSON.
func (h *Histogram) UnmarshalJSON(data []byte) error {
	var j histJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*h = Histogram{n: j.N, sum: j.SumNs, min: j.MinNs, max: j.MaxNs}
	if h.n == 0 {
		h.min = math.MaxInt64
	}
	for low, c := range j.Buckets {
		h.counts[bucketOf(low)] += c
	}
	return nil
}
