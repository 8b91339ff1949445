package results

import (
	"errors"
	"math"
	"testing"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestTQuantile checks against the printed t table (two-sided 95%, i.e.
// the 0.975 quantile) and other table entries.
func TestTQuantile(t *testing.T) {
	for _, tc := range []struct{ p, df, want float64 }{
		{0.975, 1, 12.706}, {0.975, 2, 4.303}, {0.975, 3, 3.182}, {0.975, 4, 2.776},
		{0.975, 5, 2.571}, {0.975, 9, 2.262}, {0.975, 10, 2.228}, {0.975, 30, 2.042},
		{0.975, 120, 1.980}, {0.975, 1e7, 1.960}, {0.95, 10, 1.812}, {0.995, 5, 4.032},
		{0.025, 4, -2.776}, {0.5, 7, 0},
	} {
		if got := TQuantile(tc.p, tc.df); !near(got, tc.want, 0.0006) {
			t.Errorf("TQuantile(%g, %g): got %.4f, want %.3f", tc.p, tc.df, got, tc.want)
		}
	}
	// TCDF is the inverse, also for fractional df.
	for _, df := range []float64{1, 2.5, 17.776, 60} {
		for _, p := range []float64{0.6, 0.9, 0.99} {
			if got := TCDF(TQuantile(p, df), df); !near(got, p, 1e-9) {
				t.Errorf("TCDF(TQuantile(%g, %g)): got %g", p, df, got)
			}
		}
	}
	// df = 1 is the Cauchy distribution: CDF(t) = 1/2 + atan(t)/pi.
	for _, x := range []float64{-3, -0.5, 0.25, 2, 40} {
		if got, want := TCDF(x, 1), 0.5+math.Atan(x)/math.Pi; !near(got, want, 1e-12) {
			t.Errorf("TCDF(%g, 1): got %g, want %g", x, got, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	xs := []float64{10, 12, 9, 11, 13}
	s := Summarize(xs)
	// Hand-computed: mean 11, deviations 1,1,4,0,4 -> s^2 = 10/4.
	sd := math.Sqrt(2.5)
	h := 2.776445 * sd / math.Sqrt(5)
	if s.N != 5 || s.Mean != 11 || s.Median != 11 || !near(s.Stddev, sd, 1e-12) ||
		!near(s.CILow, 11-h, 1e-5) || !near(s.CIHigh, 11+h, 1e-5) || !near(s.RelCI, h/11, 1e-6) || len(s.Warnings) != 0 {
		t.Errorf("got %+v, want mean 11 median 11 sd %g CI ±%g", s, sd, h)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even median: got %g, want 2.5", got)
	}
	one := Summarize([]float64{5})
	if one.Mean != 5 || len(one.Warnings) != 1 || !errors.Is(one.Warnings[0], ErrFewSamples) || !math.IsInf(one.RelCI, 1) {
		t.Errorf("one sample: got %+v, want mean 5 and a few-samples warning", one)
	}
	zero := Summarize([]float64{-1, 1})
	if len(zero.Warnings) != 1 || !errors.Is(zero.Warnings[0], ErrZeroMean) {
		t.Errorf("zero mean: got %+v, want a zero-mean warning", zero)
	}
	if !Tight([]float64{100, 101, 99, 100, 100}, 0.05) {
		t.Errorf("Tight: tight samples reported loose")
	}
	if Tight([]float64{50, 150, 100}, 0.05) || Tight([]float64{100}, 0.05) {
		t.Errorf("Tight: loose or single samples reported tight")
	}
	g, warn := Geomean([]float64{1, 4, 16})
	if !near(g, 4, 1e-12) || len(warn) != 0 {
		t.Errorf("Geomean: got %g %v, want 4", g, warn)
	}
	if _, warn := Geomean([]float64{2, 0}); len(warn) != 1 {
		t.Errorf("Geomean of a zero: got warnings %v, want 1", warn)
	}
}

func TestMannWhitneyU(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x, y  []float64
		u, p  float64
		exact bool
	}{
		// R: wilcox.test(1:3, 4:6) -> W = 0, p-value = 0.1
		{"R 1:3 vs 4:6", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 0.1, true},
		// R: wilcox.test(6:10, 1:5) -> W = 25, p-value = 0.007937 (2/252)
		{"R 6:10 vs 1:5", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 25, 2.0 / 252, true},
		// scipy.stats.mannwhitneyu docs (males vs females), method="exact":
		// U1 = 17, p = 0.1111111111111111
		{"scipy exact", []float64{19, 22, 16, 29, 24}, []float64{20, 11, 17, 12}, 17, 0.1111111111111111, true},
		// R: wilcox.test(extra ~ group, data = sleep) -> W = 25.5,
		// p-value = 0.06933 (ties: normal approximation, continuity correction)
		{"R sleep", []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0},
			[]float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}, 25.5, 0.06933, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MannWhitneyU(tc.x, tc.y)
			if r.Statistic != tc.u || !near(r.P, tc.p, 5e-6) || r.Exact != tc.exact {
				t.Errorf("got U=%g p=%.7g exact=%v, want U=%g p=%.7g exact=%v", r.Statistic, r.P, r.Exact, tc.u, tc.p, tc.exact)
			}
		})
	}
	counts := uCounts(5, 4)
	total := 0.0
	for _, c := range counts {
		total += c
	}
	if total != 126 { // C(9, 4)
		t.Errorf("uCounts(5,4) sums to %g, want 126", total)
	}
	// The exact distribution is symmetric around m*n/2.
	for u := range counts {
		if counts[u] != counts[len(counts)-1-u] {
			t.Errorf("uCounts not symmetric at %d", u)
		}
	}
	r := MannWhitneyU([]float64{1, 2}, []float64{3, 4})
	if len(r.Warnings) == 0 {
		t.Errorf("2+2 samples: want a warning that p cannot reach 0.05")
	}
	if r := MannWhitneyU(nil, []float64{1}); len(r.Warnings) == 0 || !math.IsNaN(r.P) {
		t.Errorf("empty side: got %+v, want NaN p and a warning", r)
	}
}

// TestMannWhitneyNormal checks the normal approximation alone against the
// scipy documentation's asymptotic p-value for the same data.
func TestMannWhitneyNormal(t *testing.T) {
	// m=5, n=4, U=17: mu=10, sigma=sqrt(20/12*10), z=(7-0.5)/sigma.
	sigma := math.Sqrt(20.0 / 12 * 10)
	if got, want := 2*normalSF(6.5/sigma), 0.11134688653314041; !near(got, want, 1e-12) {
		t.Errorf("asymptotic p: got %.17g, want %.17g", got, want)
	}
	// Large samples without ties take the normal path too.
	x, y := make([]float64, 40), make([]float64, 40)
	for i := range x {
		x[i], y[i] = float64(2*i), float64(2*i+1)
	}
	r := MannWhitneyU(x, y)
	// U = sum over x_i of the y's below it = 0+1+...+39 = 780; mu = 800.
	if r.Exact || r.Statistic != 780 {
		t.Errorf("got U=%g exact=%v, want U=780 by normal approximation", r.Statistic, r.Exact)
	}
	z := (20 - 0.5) / math.Sqrt(40.0*40/12*81)
	if want := 2 * normalSF(z); !near(r.P, want, 1e-12) {
		t.Errorf("got p=%g, want %g", r.P, want)
	}
}

func TestWelchT(t *testing.T) {
	// R: t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776,
	// p-value = 0.07939
	g1 := []float64{0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0}
	g2 := []float64{1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4}
	r := WelchT(g1, g2)
	if !near(r.Statistic, -1.8608, 5e-5) || !near(r.DF, 17.776, 5e-4) || !near(r.P, 0.07939, 5e-6) {
		t.Errorf("got t=%.5f df=%.4f p=%.6f, want t=-1.8608 df=17.776 p=0.07939", r.Statistic, r.DF, r.P)
	}
	if r := WelchT([]float64{1}, g2); len(r.Warnings) == 0 {
		t.Errorf("one sample: want a warning")
	}
}
