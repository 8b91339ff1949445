package results

import (
	"math"
	"testing"
)

func TestPV(t *testing.T) {
	weights := []float64{100, 200, 400, 800}
	for _, tc := range []struct {
		name string
		bw   []float64
		want float64
	}{
		// Exactly proportional: 0.
		{"proportional", []float64{10, 20, 40, 80}, 0},
		// Equal bandwidth: |1-1|+|1-2|+|1-4|+|1-8| = 0+1+3+7 = 11, /4.
		{"equal shares", []float64{50, 50, 50, 50}, 11.0 / 4},
		// By hand: normalized 1, 1.5, 2.5, 4 vs 1, 2, 4, 8:
		// 0 + 0.5 + 1.5 + 4 = 6, /4 = 1.5.
		{"compressed", []float64{20, 30, 50, 80}, 1.5},
		// Reference is the lowest-weight tenant, wherever it is listed.
		{"order", []float64{40, 10, 80, 20}, 0},
	} {
		w := weights
		if tc.name == "order" {
			w = []float64{400, 100, 800, 200}
		}
		got, err := PV(tc.bw, w)
		if err != nil || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: PV = %g, %v; want %g", tc.name, got, err, tc.want)
		}
	}
	// The digest's fileserver example, conventional cache, 8 tenants with
	// weights 100..800 and normalized bandwidths 1:1.51:2.02:...:3.31. Only
	// the first, second, third and last ratios are given; the missing ones
	// are taken on the straight line the given ones suggest, so this checks
	// the arithmetic, not the paper's number.
	w8 := []float64{100, 200, 300, 400, 500, 600, 700, 800}
	b8 := []float64{1, 1.51, 2.02, 2.3, 2.6, 2.85, 3.1, 3.31}
	want := (0 + 0.49 + 0.98 + 1.7 + 2.4 + 3.15 + 3.9 + 4.69) / 8
	if got, err := PV(b8, w8); err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("8 tenants: PV = %g, %v; want %g", got, err, want)
	}
	// Aging example of the digest: C1 weight 100, C2..C8 weight 1000. If
	// every tenant got the same bandwidth, PV = 7*|1-10|/8 = 7.875; if
	// bandwidths were proportional, 0.
	wa := []float64{100, 1000, 1000, 1000, 1000, 1000, 1000, 1000}
	if got, _ := PV([]float64{1, 1, 1, 1, 1, 1, 1, 1}, wa); math.Abs(got-7.875) > 1e-12 {
		t.Errorf("aging, equal shares: PV = %g, want 7.875", got)
	}
	for _, bad := range []struct{ bw, w []float64 }{
		{[]float64{1, 2}, []float64{1}},
		{nil, nil},
		{[]float64{1, 2}, []float64{0, 1}},
		{[]float64{0, 2}, []float64{1, 2}}, // reference bandwidth zero
		{[]float64{-1, 2}, []float64{1, 2}},
	} {
		if _, err := PV(bad.bw, bad.w); err == nil {
			t.Errorf("PV(%v, %v) accepted", bad.bw, bad.w)
		}
	}
}

func TestJain(t *testing.T) {
	w := []float64{100, 200, 400, 800}
	if got, err := Jain([]float64{1, 2, 4, 8}, w); err != nil || math.Abs(got-1) > 1e-12 {
		t.Errorf("proportional: Jain = %g, %v; want 1", got, err)
	}
	// Equal bandwidth 1: x = 1/100, 1/200, 1/400, 1/800 = (8,4,2,1)/800:
	// (15)^2 / (4 * (64+16+4+1)) = 225/340.
	if got, _ := Jain([]float64{1, 1, 1, 1}, w); math.Abs(got-225.0/340) > 1e-12 {
		t.Errorf("equal shares: Jain = %g, want %g", got, 225.0/340)
	}
	// One tenant gets everything: 1/n.
	if got, _ := Jain([]float64{0, 0, 5, 0}, w); math.Abs(got-0.25) > 1e-12 {
		t.Errorf("one tenant: Jain = %g, want 0.25", got)
	}
	if _, err := Jain([]float64{0, 0}, []float64{1, 1}); err == nil {
		t.Errorf("all zero accepted")
	}
	nb, nw, err := NormalizedBandwidths([]float64{20, 30}, []float64{100, 200})
	if err != nil || nb[1] != 1.5 || nw[1] != 2 {
		t.Errorf("NormalizedBandwidths: got %v %v %v", nb, nw, err)
	}
}
