package ipcbench

import (
	"slices"
	"time"
)

// Latencies keeps every raw sample of one point; percentiles are exact
// (nearest rank over the sorted samples).
type Latencies struct {
	samples []int64
	sorted  bool
}

func newLatencies(capHint int) *Latencies {
	return &Latencies{samples: make([]int64, 0, capHint)}
}

// Record adds one sample.
func (l *Latencies) Record(d time.Duration) {
	l.samples = append(l.samples, int64(d))
	l.sorted = false
}

// Count is the number of samples.
func (l *Latencies) Count() int64 { return int64(len(l.samples)) }

// Mean is the arithmetic mean (0 without samples).
func (l *Latencies) Mean() time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	var s float64
	for _, v := range l.samples {
		s += float64(v)
	}
	return time.Duration(s / float64(len(l.samples)))
}

// Quantile returns the nearest-rank q-quantile, 0 <= q <= 1.
func (l *Latencies) Quantile(q float64) time.Duration {
	if len(l.samples) == 0 {
		return 0
	}
	if !l.sorted {
		slices.Sort(l.samples)
		l.sorted = true
	}
	i := int(q*float64(len(l.samples))+0.5) - 1
	i = min(max(i, 0), len(l.samples)-1)
	return time.Duration(l.samples[i])
}

// LatencyStats are what a round keeps of its samples.
type LatencyStats struct {
	Count                int64
	Mean, P50, P99, P999 time.Duration
}

// Stats summarizes the samples.
func (l *Latencies) Stats() LatencyStats {
	return LatencyStats{Count: l.Count(), Mean: l.Mean(), P50: l.Quantile(0.5), P99: l.Quantile(0.99), P999: l.Quantile(0.999)}
}

// merge adds every sample of o.
func (l *Latencies) merge(o *Latencies) {
	l.samples = append(l.samples, o.samples...)
	l.sorted = false
}
