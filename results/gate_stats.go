package results

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// change is the estimated change of one metric at one point between base
// and new, on the log scale when every value is positive (the change is
// then a ratio new/base, and multiplicative noise becomes additive),
// else relative to the base mean.
type change struct {
	paired   bool
	logScale bool
	n        int     // pairs; or the smaller side when unpaired
	mean     float64 // mean of log(new/base), or of (new-base)/|base mean|
	sd       float64 // of the paired differences; pooled sd of one side unpaired
	se       float64 // standard error of mean
	df       float64 // degrees of freedom of se
	boot     []float64
}

// errNoScale: the base mean is zero and some value is not positive, so no
// ratio or relative change exists.
var errNoScale = errors.New("base mean is zero: no relative change")

// scale maps base and new values to the scale the change is measured on.
func scale(base, newer []float64) (fb, fn []float64, logScale bool, err error) {
	pos := func(xs []float64) bool {
		return !slices.ContainsFunc(xs, func(x float64) bool { return !(x > 0) || math.IsInf(x, 1) })
	}
	if pos(base) && pos(newer) {
		f := func(xs []float64) []float64 {
			out := make([]float64, len(xs))
			for i, x := range xs {
				out[i] = math.Log(x)
			}
			return out
		}
		return f(base), f(newer), true, nil
	}
	m := math.Abs(Mean(base))
	if m == 0 || math.IsNaN(m) {
		return nil, nil, false, errNoScale
	}
	f := func(xs []float64) []float64 {
		out := make([]float64, len(xs))
		for i, x := range xs {
			out[i] = x / m
		}
		return out
	}
	return f(base), f(newer), false, nil
}

// pairedChange estimates the change from rounds measured in pairs
// (base[i] and newer[i] in round i): the mean of the per-round
// differences, with the paired t standard error.
func pairedChange(base, newer []float64, rng *rand.Rand, resamples int) (*change, error) {
	fb, fn, logScale, err := scale(base, newer)
	if err != nil {
		return nil, err
	}
	d := make([]float64, len(fb))
	for i := range d {
		d[i] = fn[i] - fb[i]
	}
	c := &change{paired: true, logScale: logScale, n: len(d), mean: Mean(d), sd: Stddev(d), df: float64(len(d) - 1)}
	c.se = c.sd / math.Sqrt(float64(c.n))
	c.boot = make([]float64, resamples)
	for b := range c.boot {
		s := 0.0
		for range d {
			s += d[rng.IntN(len(d))]
		}
		c.boot[b] = s / float64(len(d))
	}
	slices.Sort(c.boot)
	return c, nil
}

// unpairedChange estimates the change from two independent sets of
// repetitions: the difference of the means, with Welch's standard error.
func unpairedChange(base, newer []float64, rng *rand.Rand, resamples int) (*change, error) {
	fb, fn, logScale, err := scale(base, newer)
	if err != nil {
		return nil, err
	}
	nb, nn := float64(len(fb)), float64(len(fn))
	vb, vn := variance(fb), variance(fn)
	c := &change{logScale: logScale, n: min(len(fb), len(fn)), mean: Mean(fn) - Mean(fb)}
	c.se = math.Sqrt(vb/nb + vn/nn)
	c.sd = math.Sqrt(((nb-1)*vb + (nn-1)*vn) / (nb + nn - 2))
	if c.se > 0 {
		c.df = (vb/nb + vn/nn) * (vb/nb + vn/nn) / ((vb/nb)*(vb/nb)/(nb-1) + (vn/nn)*(vn/nn)/(nn-1))
	} else {
		c.df = nb + nn - 2
	}
	c.boot = make([]float64, resamples)
	mean := func(xs []float64) float64 {
		s := 0.0
		for range xs {
			s += xs[rng.IntN(len(xs))]
		}
		return s / float64(len(xs))
	}
	for b := range c.boot {
		c.boot[b] = mean(fn) - mean(fb)
	}
	slices.Sort(c.boot)
	return c, nil
}

// noise is the relative noise of one measurement (one side of one
// round): a paired difference has the noise of two.
func (c *change) noise() float64 {
	if c.paired {
		return c.sd / math.Sqrt2
	}
	return c.sd
}

// ci is the expanded percentile bootstrap interval of the mean change at
// confidence 1-alpha (Hesterberg 2015, "What teachers should know about
// the bootstrap", section 4.4): the percentiles are taken at
// Φ(±sqrt(n/(n-1))·t_{1-alpha/2,n-1}) instead of ±z, which gives the
// plain percentile interval's missing coverage back at small n.
func (c *change) ci(alpha float64) (lo, hi float64) {
	if len(c.boot) == 0 || c.n < 2 {
		return math.Inf(-1), math.Inf(1)
	}
	n := float64(c.n)
	z := math.Sqrt(n/(n-1)) * TQuantile(1-alpha/2, n-1)
	a := normalSF(z)
	at := func(q float64) float64 {
		i := int(math.Round(q * float64(len(c.boot)-1)))
		return c.boot[min(max(i, 0), len(c.boot)-1)]
	}
	return at(a), at(1 - a)
}

// ratio turns a change on the change's scale into a fraction: new/base-1
// on the log scale, the relative change itself otherwise.
func (c *change) ratio(x float64) float64 {
	if c.logScale {
		return math.Expm1(x)
	}
	return x
}

// boundary is the threshold on the change's scale, signed in the harmful
// direction: a harmful change (sign·mean > 0) is at least the threshold
// when sign·mean >= boundary.
func (c *change) boundary(threshold float64, sign float64) float64 {
	if !c.logScale {
		return threshold
	}
	if sign > 0 { // lower is better: new >= (1+t)·base
		return math.Log1p(threshold)
	}
	if threshold >= 1 {
		return math.Inf(1) // higher is better: no change loses 100% or more
	}
	return -math.Log1p(-threshold) // higher is better: new <= (1-t)·base
}

// oneSidedP is the p-value of the t-test of "no harm" against harm
// (sign·mean > 0).
func (c *change) oneSidedP(sign float64) float64 {
	h := sign * c.mean
	if c.se == 0 || math.IsNaN(c.se) {
		if h > 0 {
			return 0
		}
		return 1
	}
	return 1 - TCDF(h/c.se, c.df)
}

// seAt is the standard error the same noise would give with n rounds
// (n pairs, or n repetitions on each side), and its degrees of freedom.
func (c *change) seAt(sd float64, n int) (se, df float64) {
	if c.paired {
		return sd / math.Sqrt(float64(n)), float64(n - 1)
	}
	return sd * math.Sqrt(2/float64(n)), float64(2*n - 2)
}

// mde is the smallest harmful change (on the change's scale) that a
// one-sided test at level alpha detects with the given power, with noise
// sd and n rounds.
func (c *change) mde(sd float64, n int, alpha, power float64) float64 {
	se, df := c.seAt(sd, n)
	return (TQuantile(1-alpha, df) + TQuantile(power, df)) * se
}

// sdUpper is the upper (1-alpha) confidence bound of the noise: a run
// that measured its noise from a few rounds may have seen it smaller than
// it is (with 5 rounds, half its size in 1 run of 20).
func (c *change) sdUpper(alpha float64) float64 {
	df := float64(c.n - 1)
	if !c.paired {
		df = c.df
	}
	if df < 1 {
		return math.Inf(1)
	}
	return c.sd * math.Sqrt(df/ChiSquareQuantile(alpha, df))
}

// below reports whether harm stays under the boundary hb with n rounds
// even if the noise is as large as its upper (1-alpha) confidence bound:
// the interval's upper end computed with that noise is below hb.
func (c *change) below(harm, hb float64, n int, alpha float64) bool {
	se, df := c.seAt(c.sdUpper(alpha), n)
	return harm+TQuantile(1-alpha/2, df)*se < hb
}

// ChiSquareQuantile is the p-quantile of the chi-square distribution with
// df degrees of freedom (bisection on the regularized lower incomplete
// gamma function).
func ChiSquareQuantile(p, df float64) float64 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return math.Inf(1)
	}
	lo, hi := 0.0, df+1
	for regLowerGamma(df/2, hi/2) < p {
		lo, hi = hi, hi*2
	}
	for range 200 {
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if regLowerGamma(df/2, mid/2) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regLowerGamma is the regularized lower incomplete gamma function P(a, x):
// its series below x = a+1, else 1 minus the continued fraction of Q
// (modified Lentz).
func regLowerGamma(a, x float64) float64 {
	if x <= 0 {
		return 0
	}
	lg, _ := math.Lgamma(a)
	front := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for k := 1.0; k < 1000; k++ {
			term *= x / (a + k)
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return front * sum
	}
	const tiny = 1e-300
	b := x + 1 - a
	c, d := 1/tiny, 1/b
	f := d
	for i := 1.0; i < 1000; i++ {
		an := -i * (i - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < 1e-15 {
			break
		}
	}
	return 1 - front*f
}

// holm adjusts p-values for testing them all at once (Holm 1979): the
// i-th smallest is multiplied by (m-i+1), and adjusted values never
// decrease with rank. NaNs stay NaN and are not counted.
func holm(ps []float64) []float64 {
	idx := make([]int, 0, len(ps))
	for i, p := range ps {
		if !math.IsNaN(p) {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case ps[a] < ps[b]:
			return -1
		case ps[a] > ps[b]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(ps))
	for i := range out {
		out[i] = math.NaN()
	}
	m, run := len(idx), 0.0
	for rank, i := range idx {
		run = max(run, min(1, float64(m-rank)*ps[i]))
		out[i] = run
	}
	return out
}

// fmtPct formats a fraction as a signed percentage.
func fmtPct(x float64) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%+.1f%%", 100*x)
}
