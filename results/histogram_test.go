package results

import (
	"encoding/json"
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinBucketError(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	h := NewHistogram()
	var raw []int64
	for range 100000 {
		v := int64(rng.ExpFloat64() * 50000) // ~50 µs mean
		raw = append(raw, v)
		h.Record(time.Duration(v))
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i] < raw[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := raw[int(q*float64(len(raw)))-1]
		got := int64(h.Quantile(q))
		if diff := got - want; diff > want/32+1 || -diff > want/32+1 {
			t.Errorf("q%.3f: got %d, want %d within 1/32", q, got, want)
		}
	}
	if h.Count() != int64(len(raw)) {
		t.Errorf("count: got %d, want %d", h.Count(), len(raw))
	}
}

func TestHistogramBucketsRoundTrip(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 40, 1<<62 + 12345} {
		b := bucketOf(v)
		if lo := bucketLow(b); lo > v || bucketLow(b+1) <= v {
			t.Errorf("value %d: bucket %d spans [%d,%d)", v, b, lo, bucketLow(b+1))
		}
	}
}

func TestHistogramMergeAndJSON(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for i := 1; i <= 1000; i++ {
		a.Record(time.Duration(i) * time.Microsecond)
		b.Record(time.Duration(i) * time.Millisecond)
	}
	a.Merge(b)
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var c Histogram
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Count() != 2000 || c.Mean() != a.Mean() || c.Max() != time.Second {
		t.Errorf("round trip: got n=%d mean=%v max=%v, want n=2000 mean=%v max=1s", c.Count(), c.Mean(), c.Max(), a.Mean())
	}
	if got, want := c.Quantile(0.5), a.Quantile(0.5); got != want {
		t.Errorf("median after round trip: got %v, want %v", got, want)
	}
}
