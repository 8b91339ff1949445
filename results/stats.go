package results

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Summary describes the samples of one metric at one point (one value per
// repetition). CI is the Student-t 95% confidence interval of the mean.
type Summary struct {
	N        int
	Mean     float64
	Median   float64
	Stddev   float64 // sample standard deviation (n-1)
	CILow    float64
	CIHigh   float64
	RelCI    float64 // CI half-length / |mean|; +Inf when undefined
	Warnings []error // data problems (too few samples, zero mean); not failures
}

// Warnings of summaries and tests.
var (
	ErrFewSamples = errors.New("results: too few samples")
	ErrZeroMean   = errors.New("results: mean is zero")
)

// Summarize computes the summary of xs (NaNs are not expected; the caller
// drops failed repetitions).
func Summarize(xs []float64) Summary {
	s := Summary{N: len(xs), RelCI: math.Inf(1)}
	if s.N == 0 {
		s.Warnings = append(s.Warnings, fmt.Errorf("%w: no samples", ErrFewSamples))
		s.Mean, s.Median, s.Stddev, s.CILow, s.CIHigh = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return s
	}
	s.Mean = Mean(xs)
	s.Median = Median(xs)
	if s.N < 2 {
		s.Warnings = append(s.Warnings, fmt.Errorf("%w: %d sample, need at least 2 for a confidence interval", ErrFewSamples, s.N))
		s.Stddev, s.CILow, s.CIHigh = math.NaN(), math.Inf(-1), math.Inf(1)
		return s
	}
	s.Stddev = Stddev(xs)
	h := TQuantile(0.975, float64(s.N-1)) * s.Stddev / math.Sqrt(float64(s.N))
	s.CILow, s.CIHigh = s.Mean-h, s.Mean+h
	if s.Mean == 0 {
		s.Warnings = append(s.Warnings, fmt.Errorf("%w: relative confidence interval undefined", ErrZeroMean))
	} else {
		s.RelCI = h / math.Abs(s.Mean)
	}
	return s
}

// Tight reports whether the samples' 95% CI half-length is within target
// (a fraction) of their mean: the papers' rule for stopping repetitions.
// It is false with fewer than 2 samples or a zero mean.
func Tight(xs []float64, target float64) bool {
	s := Summarize(xs)
	return s.N >= 2 && s.RelCI <= target
}

// Mean is the arithmetic mean (NaN for no samples).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// Median is the middle value (mean of the two middle values for even n).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Stddev is the sample standard deviation (NaN for fewer than 2 samples).
func Stddev(xs []float64) float64 {
	return math.Sqrt(variance(xs))
}

func variance(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	m := Mean(xs)
	ss := 0.0
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(xs)-1)
}

// Geomean is the geometric mean of positive values; non-positive values are
// skipped with a warning (a geomean of deltas uses ratios, which are > 0).
func Geomean(xs []float64) (float64, []error) {
	var warn []error
	sum, n := 0.0, 0
	for _, x := range xs {
		if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			warn = append(warn, fmt.Errorf("results: geomean skips non-positive value %g", x))
			continue
		}
		sum += math.Log(x)
		n++
	}
	if n == 0 {
		return math.NaN(), append(warn, fmt.Errorf("%w: no positive values for a geomean", ErrFewSamples))
	}
	return math.Exp(sum / float64(n)), warn
}

// TCDF is the cumulative distribution function of Student's t
// distribution with df degrees of freedom (df > 0, may be fractional).
func TCDF(t, df float64) float64 {
	if math.IsInf(t, 1) {
		return 1
	}
	if math.IsInf(t, -1) {
		return 0
	}
	x := df / (df + t*t)
	tail := 0.5 * regIncBeta(df/2, 0.5, x) // P(T > |t|)
	if t > 0 {
		return 1 - tail
	}
	return tail
}

// TQuantile is the inverse of TCDF: the t with TCDF(t, df) = p, 0 < p < 1.
func TQuantile(p, df float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	if p >= 1 {
		return math.Inf(1)
	}
	if p < 0.5 {
		return -TQuantile(1-p, df)
	}
	if p == 0.5 {
		return 0
	}
	lo, hi := 0.0, 1.0
	for TCDF(hi, df) < p {
		lo, hi = hi, hi*2
	}
	for range 200 { // bisection: the CDF is monotone, 200 halvings reach float precision
		mid := (lo + hi) / 2
		if mid == lo || mid == hi {
			break
		}
		if TCDF(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// regIncBeta is the regularized incomplete beta function I_x(a, b),
// evaluated by its continued fraction (modified Lentz), using the symmetry
// I_x(a,b) = 1 - I_{1-x}(b,a) where the fraction converges slowly.
func regIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	if x > (a+1)/(a+b+2) {
		return 1 - regIncBeta(b, a, 1-x)
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log(1-x))
	return front * betaFraction(a, b, x) / a
}

// betaFraction evaluates the continued fraction 1/(1+ d1/(1+ d2/(1+ ...)))
// with d_{2m+1} = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)) and
// d_{2m} = m(b-m)x / ((a+2m-1)(a+2m)).
func betaFraction(a, b, x float64) float64 {
	const tiny, eps = 1e-300, 1e-15
	// Lentz state after the leading "1/(1 ...": f = 1, C = huge, D = 1.
	f, c, d := 1.0, 1/tiny, 1.0
	step := func(coef float64) {
		d = 1 + coef*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + coef/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		f *= c * d
	}
	step(-(a + b) * x / (a + 1)) // d1
	for m := 1.0; m < 1000; m++ {
		step(m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m)))
		before := f
		step(-(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1)))
		if math.Abs(f/before-1) < eps {
			break
		}
	}
	return f
}

// normalSF is P(Z > z) for a standard normal Z.
func normalSF(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// TestResult is the outcome of a two-sample test.
type TestResult struct {
	Statistic float64 // U (of the first sample) or Welch's t
	DF        float64 // Welch only
	P         float64 // two-sided p-value
	Exact     bool    // Mann-Whitney: exact distribution (no ties, small samples)
	Warnings  []error
}

// MannWhitneyU is the two-sided Mann-Whitney U (Wilcoxon rank-sum) test of
// x against y. U counts pairs with x > y (ties count 1/2). Without ties and
// for small samples the p-value comes from the exact distribution of U;
// otherwise from the normal approximation with tie and continuity
// corrections (as R's wilcox.test and scipy's "asymptotic" method).
func MannWhitneyU(x, y []float64) TestResult {
	m, n := len(x), len(y)
	if m == 0 || n == 0 {
		return TestResult{P: math.NaN(), Warnings: []error{fmt.Errorf("%w: Mann-Whitney U needs samples on both sides (have %d and %d)", ErrFewSamples, m, n)}}
	}
	all := make([]float64, 0, m+n)
	all = append(append(all, x...), y...)
	ranks, ties := rank(all)
	rx := 0.0
	for i := range m {
		rx += ranks[i]
	}
	u := rx - float64(m*(m+1))/2
	res := TestResult{Statistic: u}
	if len(ties) == 0 && m+n <= 60 {
		res.Exact = true
		res.P = exactMannWhitneyP(u, m, n)
	} else {
		N := float64(m + n)
		tieSum := 0.0
		for _, t := range ties {
			tieSum += float64(t*t*t - t)
		}
		mu := float64(m*n) / 2
		sigma := math.Sqrt(float64(m*n) / 12 * ((N + 1) - tieSum/(N*(N-1))))
		if sigma == 0 {
			res.P = 1
			res.Warnings = append(res.Warnings, errors.New("results: all values equal; Mann-Whitney U p-value is 1"))
			return res
		}
		z := (math.Abs(u-mu) - 0.5) / sigma
		res.P = min(1, 2*normalSF(max(z, 0)))
	}
	if minP := minMannWhitneyP(m, n); minP > 0.05 {
		res.Warnings = append(res.Warnings, fmt.Errorf("%w: with %d and %d samples the smallest possible p-value is %.3g; run more repetitions", ErrFewSamples, m, n, minP))
	}
	return res
}

// rank returns mid-ranks (1-based) and the sizes of tie groups.
func rank(xs []float64) ([]float64, []int) {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	ranks := make([]float64, len(xs))
	var ties []int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && xs[idx[j]] == xs[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			ranks[idx[k]] = r
		}
		if j-i > 1 {
			ties = append(ties, j-i)
		}
		i = j
	}
	return ranks, ties
}

// uCounts returns the number of arrangements of m x's and n y's giving
// each U = 0..m*n (no ties): c(m,n,u) = c(m-1,n,u-n) + c(m,n-1,u).
func uCounts(m, n int) []float64 {
	// prev[j][u] holds c(i-1, j, u); cur builds c(i, j, u).
	prev := make([][]float64, n+1)
	for j := range prev {
		prev[j] = []float64{1} // c(0, j, 0) = 1
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1} // c(i, 0, 0) = 1
		for j := 1; j <= n; j++ {
			c := make([]float64, i*j+1)
			for u := range c {
				if u-j >= 0 && u-j < len(prev[j]) {
					c[u] += prev[j][u-j] // the largest value is an x: it beats all j y's
				}
				if u < len(cur[j-1]) {
					c[u] += cur[j-1][u] // the largest value is a y
				}
			}
			cur[j] = c
		}
		prev = cur
	}
	return prev[n]
}

func exactMannWhitneyP(u float64, m, n int) float64 {
	counts := uCounts(m, n)
	total, le, ge := 0.0, 0.0, 0.0
	for k, c := range counts {
		total += c
		if float64(k) <= u {
			le += c
		}
		if float64(k) >= u {
			ge += c
		}
	}
	return min(1, 2*min(le, ge)/total)
}

// minMannWhitneyP is the smallest two-sided p-value reachable with m and n
// samples (all of one sample above the other).
func minMannWhitneyP(m, n int) float64 {
	if m+n > 60 {
		return 0
	}
	return exactMannWhitneyP(0, m, n)
}

// WelchT is Welch's unequal-variances t-test of x against y (two-sided).
func WelchT(x, y []float64) TestResult {
	if len(x) < 2 || len(y) < 2 {
		return TestResult{P: math.NaN(), Warnings: []error{fmt.Errorf("%w: Welch's t-test needs at least 2 samples on each side (have %d and %d)", ErrFewSamples, len(x), len(y))}}
	}
	n1, n2 := float64(len(x)), float64(len(y))
	v1, v2 := variance(x)/n1, variance(y)/n2
	if v1+v2 == 0 {
		p := 1.0
		if Mean(x) != Mean(y) {
			p = 0
		}
		return TestResult{P: p, Warnings: []error{errors.New("results: zero variance on both sides; Welch's t-test degenerate")}}
	}
	t := (Mean(x) - Mean(y)) / math.Sqrt(v1+v2)
	df := (v1 + v2) * (v1 + v2) / (v1*v1/(n1-1) + v2*v2/(n2-1))
	return TestResult{Statistic: t, DF: df, P: min(1, 2*(1-TCDF(math.Abs(t), df)))}
}
