package results

import (
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// HistoryOptions configure History.
type HistoryOptions struct {
	// Metrics to follow; nil means each run's main metric (every
	// declared metric for a benchmark run).
	Metrics []string
	// MinChange is the smallest relative change between adjacent
	// segments that counts as a change point (default 0.05).
	MinChange float64
	// Alpha is the significance level of each change point's permutation
	// test (default 0.05); Permutations its count (default 199).
	Alpha        float64
	Permutations int
	// MinSegment is the fewest runs on each side of a change (default 3).
	MinSegment int
}

// HistoryEntry is one run's value of a series.
type HistoryEntry struct {
	Commit string // short commit, "+" when the tree was dirty
	Run    string
	Time   time.Time
	Value  float64 // median of the run's repetitions
	N      int
}

// ChangePoint is where a series changes: Index is the first entry of the
// new segment, Change the ratio of the segment means minus 1.
type ChangePoint struct {
	Index  int
	Commit string
	Change float64
	P      float64
}

// HistorySeries is one (host, point, metric) over the runs, in time order.
type HistorySeries struct {
	Host, Point, Metric string
	HigherIsBetter      bool
	Unit                string
	Entries             []HistoryEntry
	Changes             []ChangePoint
	// Baseline is the segment since the last change: its mean, median
	// and number of runs; what a new run is compared with.
	BaselineMean, BaselineMedian float64
	BaselineN                    int
}

// History builds each (host, point, metric) series over the runs (ordered
// by start time) and finds its change points with E-Divisive means
// (Matteson and James 2014, the method of MongoDB's and Apache Otava's
// change point detection): the split that maximizes the energy distance
// between the two sides, kept when a permutation test finds it
// significant, repeated in the segments; a change smaller than MinChange
// is dropped. An A/B run contributes its new side.
func History(runs []*Run, opts HistoryOptions) ([]*HistorySeries, error) {
	if opts.MinChange == 0 {
		opts.MinChange = 0.05
	}
	if opts.Alpha == 0 {
		opts.Alpha = 0.05
	}
	if opts.Permutations == 0 {
		opts.Permutations = 199
	}
	if opts.MinSegment == 0 {
		opts.MinSegment = 3
	}
	runs = slices.Clone(runs)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Info.Start.Before(runs[j].Info.Start) })
	type key struct{ host, point, metric string }
	series := map[key]*HistorySeries{}
	var order []key
	for _, run := range runs {
		recs, host, commit := run.Records, run.Info.Host, run.Info.Host.GitCommit
		if run.Info.AB != nil {
			recs, host, commit = SideRecords(run.Records, SideNew), run.Info.AB.New.Host, run.Info.AB.New.Commit
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if host.GitDirty {
			commit += "+"
		}
		metrics := opts.Metrics
		if metrics == nil {
			for _, mi := range run.Info.Metrics {
				metrics = append(metrics, mi.Name)
			}
			if metrics == nil && run.Info.MainMetric != "" {
				metrics = []string{run.Info.MainMetric}
			}
		}
		pts, _, values := RepetitionValues(recs, run.Info.Weights)
		for _, pt := range pts {
			for _, m := range metrics {
				var xs []float64
				for _, vs := range values[pt] {
					if v, ok := vs[m]; ok && !math.IsNaN(v) {
						xs = append(xs, v)
					}
				}
				if len(xs) == 0 {
					continue
				}
				k := key{host.Hostname, pt, m}
				s := series[k]
				if s == nil {
					info := run.Info.Describe(m)
					s = &HistorySeries{Host: k.host, Point: pt, Metric: m, HigherIsBetter: info.HigherIsBetter, Unit: info.Unit}
					series[k] = s
					order = append(order, k)
				}
				s.Entries = append(s.Entries, HistoryEntry{Commit: commit, Run: run.Dir, Time: run.Info.Start, Value: Median(xs), N: len(xs)})
			}
		}
	}
	out := make([]*HistorySeries, 0, len(order))
	for _, k := range order {
		s := series[k]
		xs := make([]float64, len(s.Entries))
		for i, e := range s.Entries {
			xs[i] = e.Value
		}
		rng := rand.New(rand.NewPCG(seedOf(k.point, k.metric), 1))
		for _, cp := range ChangePoints(xs, opts, rng) {
			cp.Commit = s.Entries[cp.Index].Commit
			s.Changes = append(s.Changes, cp)
		}
		start := 0
		if n := len(s.Changes); n > 0 {
			start = s.Changes[n-1].Index
		}
		s.BaselineMean, s.BaselineMedian, s.BaselineN = Mean(xs[start:]), Median(xs[start:]), len(xs)-start
		out = append(out, s)
	}
	return out, nil
}

// ChangePoints finds the change points of xs (E-Divisive means with a
// permutation test, then the MinChange filter), in index order.
func ChangePoints(xs []float64, opts HistoryOptions, rng *rand.Rand) []ChangePoint {
	m := max(opts.MinSegment, 1)
	var cuts []ChangePoint
	for {
		bounds := append([]int{0}, cutIndexes(cuts)...)
		bounds = append(bounds, len(xs))
		best, bestQ, seg := -1, 0.0, [2]int{}
		for i := 0; i+1 < len(bounds); i++ {
			a, b := bounds[i], bounds[i+1]
			if tau, q := bestSplit(xs[a:b], m); tau > 0 && q > bestQ {
				best, bestQ, seg = a+tau, q, [2]int{a, b}
			}
		}
		if best < 0 {
			break
		}
		// Permutation test: how often does a shuffled segment split as
		// well?
		part := slices.Clone(xs[seg[0]:seg[1]])
		ge := 0
		for range opts.Permutations {
			rng.Shuffle(len(part), func(i, j int) { part[i], part[j] = part[j], part[i] })
			if _, q := bestSplit(part, m); q >= bestQ {
				ge++
			}
		}
		p := float64(ge+1) / float64(opts.Permutations+1)
		if p > opts.Alpha {
			break
		}
		cuts = append(cuts, ChangePoint{Index: best, P: p})
		slices.SortFunc(cuts, func(a, b ChangePoint) int { return a.Index - b.Index })
	}
	// Drop the smallest change below MinChange until every change is at
	// least MinChange (merging its two segments changes its neighbours').
	for {
		magnitudes(xs, cuts)
		small := -1
		for i, c := range cuts {
			if math.Abs(c.Change) < opts.MinChange && (small < 0 || math.Abs(c.Change) < math.Abs(cuts[small].Change)) {
				small = i
			}
		}
		if small < 0 {
			return cuts
		}
		cuts = slices.Delete(cuts, small, small+1)
	}
}

func cutIndexes(cuts []ChangePoint) []int {
	out := make([]int, len(cuts))
	for i, c := range cuts {
		out[i] = c.Index
	}
	return out
}

// magnitudes sets each cut's Change: the mean of the segment it starts
// over the mean of the one before, minus 1.
func magnitudes(xs []float64, cuts []ChangePoint) {
	bounds := append(append([]int{0}, cutIndexes(cuts)...), len(xs))
	for i := range cuts {
		before, after := Mean(xs[bounds[i]:bounds[i+1]]), Mean(xs[bounds[i+1]:bounds[i+2]])
		cuts[i].Change = after/before - 1
		if before == 0 {
			cuts[i].Change = math.Inf(1)
		}
	}
}

// bestSplit returns the split tau (m <= tau <= n-m) maximizing the
// E-Divisive statistic (exponent 1) between xs[:tau] and xs[tau:kappa]
// over every end kappa (so a dip that recovers still splits):
// Q = tau(kappa-tau)/kappa · (2·E|x-y| - E|x-x'| - E|y-y'|); -1 when xs
// is too short. The sums grow with kappa, so a call is O(n³).
func bestSplit(xs []float64, m int) (int, float64) {
	n := len(xs)
	best, bestQ := -1, math.Inf(-1)
	for tau := m; tau <= n-m; tau++ {
		left := xs[:tau]
		wl := within(left)
		between, wr := 0.0, 0.0 // sums over the pairs so far
		for kappa := tau + 1; kappa <= n; kappa++ {
			y := xs[kappa-1]
			for _, x := range left {
				between += math.Abs(x - y)
			}
			for _, z := range xs[tau : kappa-1] {
				wr += math.Abs(y - z)
			}
			k := kappa - tau
			if k < m {
				continue
			}
			eb := between / float64(tau*k)
			ew := 0.0
			if k > 1 {
				ew = wr / float64(k*(k-1)/2)
			}
			q := float64(tau*k) / float64(kappa) * (2*eb - wl - ew)
			if q > bestQ {
				best, bestQ = tau, q
			}
		}
	}
	return best, bestQ
}

// within is the mean absolute difference of the distinct pairs of xs.
func within(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	s := 0.0
	for i := range xs {
		for j := i + 1; j < len(xs); j++ {
			s += math.Abs(xs[i] - xs[j])
		}
	}
	return s / float64(len(xs)*(len(xs)-1)/2)
}

// WriteHistory prints each series: its runs, change points and baseline.
func WriteHistory(w io.Writer, series []*HistorySeries) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "host\tpoint\tmetric\truns\tlast\tbaseline (since last change)\tchange points")
	for _, s := range series {
		var cps []string
		for _, c := range s.Changes {
			cps = append(cps, fmt.Sprintf("%s %s (run %d, p=%.3f)", c.Commit, fmtPct(c.Change), c.Index+1, c.P))
		}
		if len(cps) == 0 {
			cps = []string{"none"}
		}
		last := s.Entries[len(s.Entries)-1]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s over %d runs\t%s\n", s.Host, s.Point, s.Metric, len(s.Entries),
			fmtVal(last.Value), fmtVal(s.BaselineMean), s.BaselineN, strings.Join(cps, "; "))
	}
	return tw.Flush()
}

// HistoryPlots draws one trend plot per metric (one line per host and
// point, x = runs in time order labelled by commit) with the change
// points marked, into dir as history-<metric>.png/.svg.
func HistoryPlots(series []*HistorySeries, dir string) ([]string, error) {
	byMetric := map[string][]*HistorySeries{}
	for _, s := range series {
		byMetric[s.Metric] = append(byMetric[s.Metric], s)
	}
	var files []string
	for _, m := range slices.Sorted(maps.Keys(byMetric)) {
		ss := byMetric[m]
		p := newPlot(PlotSpec{Title: "History of " + m, Y: m}, "run (commit)", ss[0].Unit)
		var ticks plot.ConstantTicks
		for i, s := range ss {
			xys := make(plotter.XYs, len(s.Entries))
			for j, e := range s.Entries {
				xys[j] = plotter.XY{X: float64(j), Y: e.Value}
				if i == 0 {
					label := e.Commit
					if len(label) > 8 {
						label = label[:7] + strings.TrimLeft(label[7:], "0123456789abcdef") // keep a dirty "+"
					}
					ticks = append(ticks, plot.Tick{Value: float64(j), Label: label})
				}
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return files, fmt.Errorf("results: history plot %s: %w", m, err)
			}
			l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
			p.Add(l, pts)
			label := s.Point
			if len(byHost(ss)) > 1 {
				label = s.Host + " " + s.Point
			}
			p.Legend.Add(label, l, pts)
			var marks plotter.XYs
			for _, c := range s.Changes {
				marks = append(marks, xys[c.Index])
			}
			if len(marks) > 0 {
				sc, err := plotter.NewScatter(marks)
				if err != nil {
					return files, err
				}
				sc.Color, sc.Shape, sc.Radius = plotutil.Color(i), draw.RingGlyph{}, vg.Points(7)
				p.Add(sc)
				if i == 0 {
					p.Legend.Add("change point", sc)
				}
			}
		}
		if every := (len(ticks) + 24) / 25; every > 1 { // at most 25 labels
			for j := range ticks {
				if j%every != 0 {
					ticks[j].Label = ""
				}
			}
		}
		p.X.Tick.Marker = ticks
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
		entries := len(ss)
		for _, s := range ss {
			if len(s.Changes) > 0 {
				entries++
				break
			}
		}
		p.Y.Min, p.Y.Max = yRange(ss)
		makeLegendRoom(p, entries, false)
		f, err := SavePlot(p, dir, "history-"+sanitizeFile(m))
		files = append(files, f...)
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

// yRange is the range of the series' values with a margin: a trend is
// read from its changes, so the axis does not start at zero.
func yRange(ss []*HistorySeries) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, e := range s.Entries {
			lo, hi = min(lo, e.Value), max(hi, e.Value)
		}
	}
	pad := (hi - lo) * 0.05
	if pad == 0 {
		pad = math.Abs(hi) * 0.05
	}
	return lo - pad, hi + pad
}

func byHost(ss []*HistorySeries) map[string]bool {
	out := map[string]bool{}
	for _, s := range ss {
		out[s.Host] = true
	}
	return out
}

func sanitizeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == '{' || r == '}' || r == '@' || r == ':' || r == '=' {
			return '_'
		}
		return r
	}, s)
}
