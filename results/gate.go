package results

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// Exit statuses of a regression gate (polytropon compare, polytropon ab).
// cbt's is-regression.py defines 0, 10, 11 and 12; the others are ours.
const (
	ExitPass         = 0
	ExitUsage        = 2
	ExitRegression   = 10 // a metric is significantly worse by at least the threshold
	ExitNoisy        = 11 // the noise is too high to decide within GateOptions.MaxRounds
	ExitFewSamples   = 12 // fewer than GateOptions.MinRounds rounds
	ExitIncomplete   = 13 // a point or metric of the base is missing in the new run
	ExitIncomparable = 14 // host, kernel, cgroup mode, tool versions or config differ
	ExitInconclusive = 15 // neither a regression nor a pass: run more rounds
)

// Verdict is the gate's answer for one metric at one point.
type Verdict string

// Verdicts, in the order of their weight in the overall answer.
const (
	VerdictMissing      Verdict = "MISSING"
	VerdictRegression   Verdict = "REGRESSION"
	VerdictFewSamples   Verdict = "TOO-FEW"
	VerdictNoisy        Verdict = "NOISY"
	VerdictInconclusive Verdict = "INCONCLUSIVE"
	VerdictPass         Verdict = "PASS"
)

// GateOptions configure Gate and GateAB. Zero values take the defaults.
type GateOptions struct {
	// Threshold: a change worse than this fraction of the base is a
	// regression (default 0.05).
	Threshold float64
	// Alpha is the familywise significance level over every point and
	// metric gated (Holm), and 1-Alpha the confidence of the change's
	// interval (default 0.05).
	Alpha float64
	// Power of the smallest detectable change each row reports, and of
	// the NOISY check (default 0.8).
	Power float64
	// Metrics to gate; nil means every metric of the base except per-pool
	// ("@") ones.
	Metrics []string
	// MinRounds is the fewest pairs (or repetitions per side) that get a
	// verdict (default 5).
	MinRounds int
	// MaxRounds: when even this many rounds could not tell a
	// Threshold-sized change from the noise measured, the verdict is
	// NOISY (default 50).
	MaxRounds int
	// AllowHostChange turns host, kernel, cgroup mode, tool version and
	// config differences from a failure (ExitIncomparable) into warnings.
	AllowHostChange bool
	// Resamples of the bootstrap (default 4000); Seed makes them
	// reproducible (every metric and point draws from its own stream).
	Resamples int
	Seed      uint64
}

func (o *GateOptions) defaults() error {
	if o.Threshold == 0 {
		o.Threshold = 0.05
	}
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if o.Power == 0 {
		o.Power = 0.8
	}
	if o.MinRounds == 0 {
		o.MinRounds = 5
	}
	if o.MaxRounds == 0 {
		o.MaxRounds = 50
	}
	if o.Resamples == 0 {
		o.Resamples = 4000
	}
	switch {
	case o.Threshold < 0:
		return fmt.Errorf("results: gate threshold %g must be >= 0", o.Threshold)
	case o.Alpha <= 0 || o.Alpha >= 1:
		return fmt.Errorf("results: gate alpha %g must be in (0, 1)", o.Alpha)
	case o.Power <= 0 || o.Power >= 1:
		return fmt.Errorf("results: gate power %g must be in (0, 1)", o.Power)
	case o.MinRounds < 2:
		return fmt.Errorf("results: gate min rounds %d must be at least 2", o.MinRounds)
	case o.MaxRounds < o.MinRounds:
		return fmt.Errorf("results: gate max rounds %d is below min rounds %d", o.MaxRounds, o.MinRounds)
	}
	return nil
}

// GateRow is the gate's answer for one metric at one point.
type GateRow struct {
	Point, Metric  string
	Unit           string
	HigherIsBetter bool
	NBase, NNew    int // values on each side
	N              int // rounds used: pairs, or the smaller side
	Base, New      float64
	// Change is new/base - 1 (geometric means, or paired geometric mean
	// of the ratios), CILow/CIHigh its bootstrap interval at 1-Alpha.
	Change, CILow, CIHigh float64
	P, PHolm              float64 // one-sided, harmful direction; NaN when untested
	// Noise is the relative noise of one measurement; Detectable the
	// smallest harmful change the run could detect (Power, Holm's
	// strictest level) at that noise and N.
	Noise, Detectable float64
	Verdict           Verdict
	// MoreRounds: for INCONCLUSIVE, about how many more rounds at the
	// same noise and change would decide (0: more than MaxRounds).
	MoreRounds int
	Note       string
}

// GateReport is the outcome of Gate or GateAB.
type GateReport struct {
	Base, New string
	Paired    bool
	Options   GateOptions
	Rows      []*GateRow
	// Incomparable lists what differs between the runs' hosts or configs
	// (a failure unless Options.AllowHostChange).
	Incomparable []string
	Warnings     []string
}

// gateSide is one side of a gate: the per-repetition values of a run or
// of one side of an A/B run.
type gateSide struct {
	label   string
	info    Info
	host    Host
	config  []byte
	order   []string
	values  map[string]map[int]map[string]float64
	skipped map[string]string
}

func newGateSide(label string, info Info, host Host, config []byte, recs []Record) *gateSide {
	s := &gateSide{label: label, info: info, host: host, config: config, skipped: map[string]string{}}
	s.order, _, s.values = RepetitionValues(recs, info.Weights)
	for _, sp := range SkippedPoints(recs) {
		s.skipped[sp.Point] = sp.Reason
	}
	return s
}

// series returns the values of a metric at a point by repetition.
func (s *gateSide) series(point, metric string) map[int]float64 {
	out := map[int]float64{}
	for rep, vs := range s.values[point] {
		if v, ok := vs[metric]; ok && !math.IsNaN(v) {
			out[rep] = v
		}
	}
	return out
}

func (s *gateSide) metrics() []string {
	set := map[string]bool{}
	for _, reps := range s.values {
		for _, vs := range reps {
			for m := range vs {
				set[m] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Gate decides whether newer regressed against base, two runs measured
// one after the other: each metric at each point is compared by its
// repetitions, unpaired (Welch's t on the logs). Prefer GateAB on an
// interleaved A/B run: drift between the runs lands on one side here.
func Gate(base, newer *Run, opts GateOptions) (*GateReport, error) {
	for _, r := range []*Run{base, newer} {
		if r.Info.AB != nil {
			return nil, fmt.Errorf("results: %s is an A/B run: gate it alone (GateAB), its sides are paired", r.Dir)
		}
	}
	b := newGateSide(filepath.Base(base.Dir), base.Info, base.Info.Host, base.Config, base.Records)
	n := newGateSide(filepath.Base(newer.Dir), newer.Info, newer.Info.Host, newer.Config, newer.Records)
	rep, err := gate(b, n, false, opts)
	if err != nil {
		return nil, err
	}
	rep.Incomparable = append(rep.Incomparable, configDiff(base.Config, newer.Config)...)
	rep.settle()
	return rep, nil
}

func gate(b, n *gateSide, paired bool, opts GateOptions) (*GateReport, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rep := &GateReport{Base: b.label, New: n.label, Paired: paired, Options: opts}
	rep.Incomparable = hostDiff(b.host, n.host)
	bm := b.metrics()
	metrics := opts.Metrics
	if metrics == nil {
		for _, m := range bm {
			if !strings.Contains(m, "@") {
				metrics = append(metrics, m)
			}
		}
	}
	for _, m := range metrics {
		if !slices.Contains(bm, m) {
			have := bm
			if len(have) > 12 {
				have = append(slices.Clone(have[:12]), fmt.Sprintf("... %d in all", len(bm)))
			}
			return nil, fmt.Errorf("results: metric %q is not in the base run %s (it has %s)", m, b.label, strings.Join(have, ", "))
		}
	}
	for _, pt := range b.order {
		if len(b.values[pt]) == 0 && b.skipped[pt] == "" {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("point %s has no successful repetition in the base (not gated)", pt))
		}
	}
	for _, pt := range n.order {
		if _, ok := b.values[pt]; !ok && len(n.values[pt]) > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("point %s only in the new run (not gated)", pt))
		}
	}
	var tested []*GateRow
	var changes []*change
	for _, m := range metrics {
		info := b.info.Describe(m)
		if !info.Known {
			dir := "lower"
			if info.HigherIsBetter {
				dir = "higher"
			}
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: no declared direction, guessed from its name: %s is better", m, dir))
		}
		for _, pt := range b.order {
			bs := b.series(pt, m)
			if len(bs) == 0 {
				continue // not measured in the base at this point
			}
			row := &GateRow{Point: pt, Metric: m, Unit: info.Unit, HigherIsBetter: info.HigherIsBetter, P: math.NaN(), PHolm: math.NaN()}
			rep.Rows = append(rep.Rows, row)
			ns := n.series(pt, m)
			row.NBase, row.NNew = len(bs), len(ns)
			if len(ns) == 0 {
				row.Verdict = VerdictMissing
				switch {
				case n.skipped[pt] != "":
					row.Note = "skipped in the new run: " + n.skipped[pt]
				case len(n.values[pt]) == 0:
					row.Note = "point not measured in the new run"
				default:
					row.Note = "metric not measured in the new run"
				}
				continue
			}
			bv, nv := sortedValues(bs), sortedValues(ns)
			row.Base, row.New = Median(bv), Median(nv)
			rng := rand.New(rand.NewPCG(opts.Seed, seedOf(pt, m)))
			var c *change
			var err error
			if paired {
				var pb, pn []float64
				for _, r := range slices.Sorted(maps.Keys(bs)) {
					if v, ok := ns[r]; ok {
						pb, pn = append(pb, bs[r]), append(pn, v)
					}
				}
				row.N = len(pb)
				if row.N >= 2 {
					c, err = pairedChange(pb, pn, rng, opts.Resamples)
				}
			} else {
				row.N = min(len(bv), len(nv))
				if row.N >= 2 {
					c, err = unpairedChange(bv, nv, rng, opts.Resamples)
				}
			}
			if row.N < opts.MinRounds {
				row.Verdict = VerdictFewSamples
				row.Note = fmt.Sprintf("%d rounds, a verdict needs at least %d", row.N, opts.MinRounds)
				continue
			}
			if err != nil {
				row.Verdict = VerdictInconclusive
				row.Note = err.Error()
				continue
			}
			row.P = c.oneSidedP(harmSign(info.HigherIsBetter))
			tested, changes = append(tested, row), append(changes, c)
		}
	}
	ps := make([]float64, len(tested))
	for i, row := range tested {
		ps[i] = row.P
	}
	for i, padj := range holm(ps) {
		tested[i].PHolm = padj
		decide(tested[i], changes[i], len(tested), opts)
	}
	return rep, nil
}

func sortedValues(m map[int]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, r := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[r])
	}
	return out
}

// seedOf gives each point and metric its own bootstrap stream, so a row's
// interval does not depend on which other rows are gated.
func seedOf(point, metric string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(point + "\x00" + metric))
	return h.Sum64()
}

// harmSign is +1 when an increase is harmful (lower is better), else -1.
func harmSign(higherIsBetter bool) float64 {
	if higherIsBetter {
		return -1
	}
	return 1
}

// decide gives a tested row its verdict. m is the number of tests (Holm).
//
//   - REGRESSION: the one-sided test of harm is significant after Holm and
//     the estimated change is at least the threshold.
//   - PASS: the interval excludes a harmful change as large as the
//     threshold, and so does the t interval computed with the upper
//     (1-Alpha) confidence bound of the noise. A few rounds may measure the
//     noise too low by luck; without the second condition such a run would
//     pass a regression it could not see (at 5 rounds and 5% noise, a 5%
//     regression would pass about 2.5% of the time instead of 0.06%).
//   - NOISY (neither): at the noise measured, not even MaxRounds rounds
//     could detect a threshold-sized change.
//   - INCONCLUSIVE otherwise, with the rounds that would decide.
func decide(row *GateRow, c *change, m int, o GateOptions) {
	sign := harmSign(row.HigherIsBetter)
	hb := c.boundary(o.Threshold, sign)
	lo, hi := c.ci(o.Alpha)
	row.Change, row.CILow, row.CIHigh = c.ratio(c.mean), c.ratio(lo), c.ratio(hi)
	row.Noise = c.noise()
	if !c.logScale {
		row.Note = "values not all positive: change relative to the base mean"
	}
	strict := o.Alpha / float64(m)
	row.Detectable = math.Abs(c.ratio(sign * c.mde(c.sd, c.n, strict, o.Power)))
	harm := sign * c.mean
	harmUpper := sign * hi
	if sign < 0 {
		harmUpper = -lo
	}
	powerful := func(sd float64, n int) bool { return c.mde(sd, n, strict, o.Power) <= hb }
	switch {
	case row.PHolm < o.Alpha && harm >= hb:
		row.Verdict = VerdictRegression
		return
	case harmUpper < hb && c.below(harm, hb, c.n, o.Alpha):
		row.Verdict = VerdictPass
		return
	}
	if !powerful(c.sd, o.MaxRounds) {
		row.Verdict = VerdictNoisy
		row.Note = fmt.Sprintf("noise %.1f%%: even %d rounds could not detect a %.0f%% change", 100*row.Noise, o.MaxRounds, 100*o.Threshold)
		return
	}
	// How many rounds at this noise would decide: make the harm
	// significant (when it is at least the threshold) or bring both
	// intervals of PASS under the threshold (when it is not).
	for n := c.n + 1; n <= o.MaxRounds; n++ {
		se, df := c.seAt(c.sd, n)
		if harm >= hb {
			if harm/se > TQuantile(1-strict, df) {
				row.Verdict, row.MoreRounds = VerdictInconclusive, n-c.n
				return
			}
			continue
		}
		if harm+TQuantile(1-o.Alpha/2, df)*se < hb && c.below(harm, hb, n, o.Alpha) {
			row.Verdict, row.MoreRounds = VerdictInconclusive, n-c.n
			return
		}
	}
	row.Verdict = VerdictInconclusive // the change is about the threshold: no round count decides
}

// settle adds the report-wide findings once every row is in.
func (r *GateReport) settle() {
	if len(r.Rows) == 0 {
		r.Warnings = append(r.Warnings, "nothing to gate: no metric of the base was measured at any point")
	}
}

// Status is the exit status of the gate: the weightiest problem wins
// (incomparable, incomplete, regression, too few samples, noisy,
// inconclusive), 0 only when every row passed.
func (r *GateReport) Status() int {
	count := map[Verdict]int{}
	for _, row := range r.Rows {
		count[row.Verdict]++
	}
	switch {
	case len(r.Incomparable) > 0 && !r.Options.AllowHostChange:
		return ExitIncomparable
	case count[VerdictMissing] > 0 || len(r.Rows) == 0:
		return ExitIncomplete
	case count[VerdictRegression] > 0:
		return ExitRegression
	case count[VerdictFewSamples] > 0:
		return ExitFewSamples
	case count[VerdictNoisy] > 0:
		return ExitNoisy
	case count[VerdictInconclusive] > 0:
		return ExitInconclusive
	}
	return ExitPass
}

// GateError is a gate that did not pass; ExitCode is its status.
type GateError struct {
	Code int
	Msg  string
}

func (e *GateError) Error() string { return e.Msg }

// ExitCode is the process exit status for this error.
func (e *GateError) ExitCode() int { return e.Code }

// ErrGate is wrapped by every GateError (errors.Is(err, ErrGate)).
var ErrGate = errors.New("results: regression gate failed")

func (e *GateError) Unwrap() error { return ErrGate }

// Err is nil when the gate passed, else a *GateError naming the rows
// that decided it.
func (r *GateReport) Err() error {
	code := r.Status()
	if code == ExitPass {
		return nil
	}
	var what string
	switch code {
	case ExitIncomparable:
		what = "runs are not comparable (-allow-host-change to override): " + strings.Join(r.Incomparable, "; ")
	case ExitIncomplete:
		what = "incomplete: " + r.rowList(VerdictMissing)
		if len(r.Rows) == 0 {
			what = "incomplete: nothing to gate"
		}
	case ExitRegression:
		what = fmt.Sprintf("regression (threshold %.0f%%): %s", 100*r.Options.Threshold, r.rowList(VerdictRegression))
	case ExitFewSamples:
		what = fmt.Sprintf("too few samples (need %d rounds): %s", r.Options.MinRounds, r.rowList(VerdictFewSamples))
	case ExitNoisy:
		what = "variance too high: " + r.rowList(VerdictNoisy)
	case ExitInconclusive:
		what = "inconclusive, run more rounds: " + r.rowList(VerdictInconclusive)
	}
	return &GateError{Code: code, Msg: fmt.Sprintf("%s (exit %d)", what, code)}
}

func (r *GateReport) rowList(v Verdict) string {
	var out []string
	for _, row := range r.Rows {
		if row.Verdict != v {
			continue
		}
		s := row.Point + " " + row.Metric
		if v == VerdictRegression {
			s += " " + fmtPct(row.Change)
		}
		out = append(out, s)
	}
	const most = 6 // the table above has them all
	if len(out) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(out[:most], "; "), len(out)-most)
	}
	return strings.Join(out, "; ")
}

// WriteText prints the gate: per metric a table of the medians, the
// change with its interval, the Holm-adjusted one-sided p-value, the
// noise of one measurement, the smallest change the run could detect,
// and the verdict; then notes, differences between the runs, and the
// overall verdict.
func (r *GateReport) WriteText(w io.Writer) error {
	o := r.Options
	design := "separate runs, unpaired: Welch's t on log values"
	if r.Paired {
		design = "interleaved A/B rounds, paired: t on per-round log ratios"
	}
	fmt.Fprintf(w, "base: %s\nnew:  %s\ndesign: %s\n", r.Base, r.New, design)
	fmt.Fprintf(w, "gate: REGRESSION = one-sided test significant at alpha %g (Holm over %d) and change >= %.0f%%; PASS = %.0f%% CI excludes a %.0f%% harm, also at the noise's upper %.0f%% bound\n",
		o.Alpha, r.tests(), 100*o.Threshold, 100*(1-o.Alpha), 100*o.Threshold, 100*(1-o.Alpha))
	var metric string
	var tw *tabwriter.Writer
	flush := func() error {
		if tw != nil {
			return tw.Flush()
		}
		return nil
	}
	for _, row := range r.Rows {
		if row.Metric != metric {
			if err := flush(); err != nil {
				return err
			}
			metric = row.Metric
			dir := "lower is better"
			if row.HigherIsBetter {
				dir = "higher is better"
			}
			fmt.Fprintf(w, "\n%s (%s, %s)\n", metric, row.Unit, dir)
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "point\tn\tbase\tnew\tchange\tCI\tp(Holm)\tnoise\tdetectable\tverdict")
		}
		n := fmt.Sprintf("%d+%d", row.NBase, row.NNew)
		if r.Paired {
			n = fmt.Sprintf("%d pairs", row.N)
		}
		if row.Verdict == VerdictMissing || math.IsNaN(row.PHolm) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\t\t\t\t\t%s\n", row.Point, n, fmtVal(row.Base), fmtVal(row.New), row.Verdict)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t[%s, %s]\t%s\t%.1f%%\t%.1f%%\t%s\n", row.Point, n, fmtVal(row.Base), fmtVal(row.New),
			fmtPct(row.Change), fmtPct(row.CILow), fmtPct(row.CIHigh), fmtP(row.PHolm), 100*row.Noise, 100*row.Detectable, row.Verdict)
	}
	if err := flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		switch {
		case row.Verdict == VerdictInconclusive && row.MoreRounds > 0:
			fmt.Fprintf(w, "note: %s %s: about %d more round(s) would decide at this noise\n", row.Point, row.Metric, row.MoreRounds)
		case row.Verdict == VerdictInconclusive && row.Note == "":
			fmt.Fprintf(w, "note: %s %s: the change is about the threshold; no number of rounds up to %d decides\n", row.Point, row.Metric, o.MaxRounds)
		}
		if row.Note != "" {
			fmt.Fprintf(w, "note: %s %s: %s\n", row.Point, row.Metric, row.Note)
		}
	}
	if worst, at := r.worstDetectable(); at != nil {
		fmt.Fprintf(w, "detectable: every gated change of %.1f%% or more (worst: %s %s) with %.0f%% power at the noise measured\n",
			100*worst, at.Point, at.Metric, 100*o.Power)
	}
	for _, d := range r.Incomparable {
		label := "incomparable"
		if o.AllowHostChange {
			label = "warning: differs (allowed)"
		}
		fmt.Fprintf(w, "%s: %s\n", label, d)
	}
	for _, s := range r.Warnings {
		fmt.Fprintln(w, "warning:", s)
	}
	_, err := fmt.Fprintf(w, "verdict: %s (exit %d)\n", statusName(r.Status()), r.Status())
	return err
}

// worstDetectable is the largest Detectable of the tested rows: the
// smallest change the whole run could have detected everywhere.
func (r *GateReport) worstDetectable() (float64, *GateRow) {
	var at *GateRow
	for _, row := range r.Rows {
		if !math.IsNaN(row.P) && row.Verdict != VerdictMissing && (at == nil || row.Detectable > at.Detectable) {
			at = row
		}
	}
	if at == nil {
		return 0, nil
	}
	return at.Detectable, at
}

func (r *GateReport) tests() int {
	n := 0
	for _, row := range r.Rows {
		if !math.IsNaN(row.P) {
			n++
		}
	}
	return n
}

func statusName(code int) string {
	return map[int]string{ExitPass: "PASS", ExitRegression: "REGRESSION", ExitNoisy: "VARIANCE TOO HIGH",
		ExitFewSamples: "TOO FEW SAMPLES", ExitIncomplete: "INCOMPLETE", ExitIncomparable: "INCOMPARABLE",
		ExitInconclusive: "INCONCLUSIVE"}[code]
}
