package results

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// ErrRegression is returned (wrapped) by callers that gate on a report
// with a significant regression; see Report.Err.
var ErrRegression = errors.New("results: significant regression")

// CompareOptions configure Compare.
type CompareOptions struct {
	// Threshold: a significant change worse than this fraction of the base
	// median is a regression (0.05 = 5%).
	Threshold float64
	// Alpha is the significance level of the test (default 0.05).
	Alpha float64
	// Metrics to compare; nil means every metric present in both runs
	// except per-pool ("@") ones.
	Metrics []string
	// Test: "mann-whitney" (default, distribution-free) or "welch".
	Test string
}

// Comparison is one metric at one point in both runs.
type Comparison struct {
	Point, Metric string
	Base, New     Summary
	// Delta is (new median - base median) / |base median|.
	Delta       float64
	P           float64
	Significant bool // P < Alpha
	// Regression: significant and worse (direction-aware) by more than
	// Threshold; Improvement likewise better.
	Regression, Improvement bool
	Warnings                []error
}

// MetricReport is the comparison of one metric over every common point.
type MetricReport struct {
	Metric         string
	Unit           string
	HigherIsBetter bool
	Rows           []*Comparison
	// GeoBase, GeoNew are the geometric means of the medians; GeoDelta is
	// the geometric mean of the ratios new/base, minus 1.
	GeoBase, GeoNew, GeoDelta float64
}

// Report is the outcome of Compare.
type Report struct {
	Base, New string // run labels (directory names)
	Options   CompareOptions
	Metrics   []*MetricReport
	Warnings  []error // points or metrics missing on one side, data problems
}

// Compare compares every chosen metric at every point the runs share.
func Compare(base, newer *Run, opts CompareOptions) (*Report, error) {
	if opts.Alpha == 0 {
		opts.Alpha = 0.05
	}
	if opts.Test == "" {
		opts.Test = "mann-whitney"
	}
	if opts.Test != "mann-whitney" && opts.Test != "welch" {
		return nil, fmt.Errorf("results: unknown test %q: want \"mann-whitney\" or \"welch\"", opts.Test)
	}
	if opts.Alpha <= 0 || opts.Alpha >= 1 || opts.Threshold < 0 {
		return nil, fmt.Errorf("results: bad options: alpha %g must be in (0,1), threshold %g must be >= 0", opts.Alpha, opts.Threshold)
	}
	bt, nt := base.Table(), newer.Table()
	rep := &Report{Base: filepath.Base(base.Dir), New: filepath.Base(newer.Dir), Options: opts}
	metrics := opts.Metrics
	if metrics == nil {
		for _, m := range bt.Metrics() {
			if !strings.Contains(m, "@") && slices.Contains(nt.Metrics(), m) {
				metrics = append(metrics, m)
			}
		}
	}
	metrics = slices.Clone(metrics)
	for i, m := range metrics {
		if r, err := ResolveMetric(m, bt.Metrics()); err == nil {
			metrics[i] = r // a name without its one-value-per-run labels
		}
		m = metrics[i]
		if !slices.Contains(bt.Metrics(), m) && !slices.Contains(nt.Metrics(), m) {
			return nil, fmt.Errorf("results: metric %q is in neither run (base has %v)", m, bt.Metrics())
		}
	}
	for _, pt := range bt.Points() {
		if !slices.Contains(nt.Points(), pt) {
			rep.Warnings = append(rep.Warnings, fmt.Errorf("point %s only in base", pt))
		}
	}
	for _, pt := range nt.Points() {
		if !slices.Contains(bt.Points(), pt) {
			rep.Warnings = append(rep.Warnings, fmt.Errorf("point %s only in new", pt))
		}
	}
	for _, m := range metrics {
		info := base.Info.Describe(m)
		mr := &MetricReport{Metric: m, Unit: info.Unit, HigherIsBetter: info.HigherIsBetter}
		var bases, news, ratios []float64
		for _, pt := range bt.Points() {
			b, n := bt.Lookup(pt, m), nt.Lookup(pt, m)
			if b == nil || n == nil {
				if (b == nil) != (n == nil) && slices.Contains(nt.Points(), pt) {
					rep.Warnings = append(rep.Warnings, fmt.Errorf("%s %s: metric missing in one run", pt, m))
				}
				continue
			}
			c := compareRow(b, n, opts, info.HigherIsBetter)
			mr.Rows = append(mr.Rows, c)
			if b.Median > 0 && n.Median > 0 {
				bases, news, ratios = append(bases, b.Median), append(news, n.Median), append(ratios, n.Median/b.Median)
			}
		}
		if len(mr.Rows) == 0 {
			continue
		}
		mr.GeoBase, _ = Geomean(bases)
		mr.GeoNew, _ = Geomean(news)
		g, _ := Geomean(ratios)
		mr.GeoDelta = g - 1
		rep.Metrics = append(rep.Metrics, mr)
	}
	return rep, nil
}

func compareRow(b, n *Row, opts CompareOptions, higherIsBetter bool) *Comparison {
	c := &Comparison{Point: b.Point, Metric: b.Metric, Base: b.Summary, New: n.Summary}
	c.Warnings = append(append(c.Warnings, b.Warnings...), n.Warnings...)
	var tr TestResult
	if opts.Test == "welch" {
		tr = WelchT(b.Samples, n.Samples)
	} else {
		tr = MannWhitneyU(b.Samples, n.Samples)
	}
	c.P = tr.P
	c.Warnings = append(c.Warnings, tr.Warnings...)
	switch {
	case b.Median != 0:
		c.Delta = (n.Median - b.Median) / math.Abs(b.Median)
	case n.Median == 0:
		c.Delta = 0
	default:
		c.Delta = math.Inf(int(math.Copysign(1, n.Median)))
	}
	c.Significant = !math.IsNaN(c.P) && c.P < opts.Alpha
	worse := c.Delta
	if higherIsBetter {
		worse = -c.Delta
	}
	c.Regression = c.Significant && worse > opts.Threshold
	c.Improvement = c.Significant && -worse > opts.Threshold
	return c
}

// Regressions lists the comparisons flagged as regressions.
func (r *Report) Regressions() []*Comparison {
	var out []*Comparison
	for _, m := range r.Metrics {
		for _, c := range m.Rows {
			if c.Regression {
				out = append(out, c)
			}
		}
	}
	return out
}

// Err returns an error wrapping ErrRegression that names every regression,
// or nil.
func (r *Report) Err() error {
	regs := r.Regressions()
	if len(regs) == 0 {
		return nil
	}
	var names []string
	for _, c := range regs {
		names = append(names, fmt.Sprintf("%s %s %+.2f%%", c.Point, c.Metric, 100*c.Delta))
	}
	return fmt.Errorf("%w (threshold %.0f%%, alpha %g): %s", ErrRegression, 100*r.Options.Threshold, r.Options.Alpha, strings.Join(names, "; "))
}

// WriteText prints the report benchstat style: per metric a table of
// median ± relative 95% CI for each run, the delta with its p-value and
// sample counts ("~" when not significant), a flag for regressions and
// improvements beyond the threshold, and a geomean row.
func (r *Report) WriteText(w io.Writer) error {
	test := "Mann-Whitney U"
	if r.Options.Test == "welch" {
		test = "Welch's t"
	}
	fmt.Fprintf(w, "base: %s\nnew:  %s\ntest: %s, alpha=%g, regression threshold %.1f%%\n", r.Base, r.New, test, r.Options.Alpha, 100*r.Options.Threshold)
	for _, m := range r.Metrics {
		dir := "lower is better"
		if m.HigherIsBetter {
			dir = "higher is better"
		}
		fmt.Fprintf(w, "\n%s (%s, %s)\n", m.Metric, m.Unit, dir)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "point\tbase\t\tnew\t\tdelta")
		for _, c := range m.Rows {
			delta := "~"
			if c.Significant {
				delta = fmt.Sprintf("%+.2f%%", 100*c.Delta)
			}
			flag := ""
			switch {
			case c.Regression:
				flag = "\tREGRESSION"
			case c.Improvement:
				flag = "\timprovement"
			}
			fmt.Fprintf(tw, "%s\t%s\t± %s\t%s\t± %s\t%s\t(p=%s n=%d+%d)%s\n", c.Point, fmtVal(c.Base.Median), fmtRel(c.Base.RelCI),
				fmtVal(c.New.Median), fmtRel(c.New.RelCI), delta, fmtP(c.P), c.Base.N, c.New.N, flag)
		}
		fmt.Fprintf(tw, "geomean\t%s\t\t%s\t\t%+.2f%%\n", fmtVal(m.GeoBase), fmtVal(m.GeoNew), 100*m.GeoDelta)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var warn []string
	for _, e := range r.Warnings {
		warn = append(warn, e.Error())
	}
	for _, m := range r.Metrics {
		for _, c := range m.Rows {
			for _, e := range c.Warnings {
				warn = append(warn, fmt.Sprintf("%s %s: %v", c.Point, c.Metric, e))
			}
		}
	}
	slices.Sort(warn)
	warn = slices.Compact(warn)
	for _, s := range warn {
		fmt.Fprintln(w, "warning:", s)
	}
	regs := r.Regressions()
	_, err := fmt.Fprintf(w, "\n%d regression(s)\n", len(regs))
	return err
}

func fmtP(p float64) string {
	if math.IsNaN(p) {
		return "NaN"
	}
	return fmt.Sprintf("%.3f", p)
}
