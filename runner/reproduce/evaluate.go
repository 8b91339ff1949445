package reproduce

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"polytropon/results"
)

// Verdicts.
const (
	Same         = "same direction"
	Opposite     = "opposite"
	Inconclusive = "inconclusive"
)

// Result is one claim checked in one run.
type Result struct {
	Claim      Claim
	Experiment string // the experiment that measured it (the local file or its -ceph variant)
	// Ours is mean(numerator) / mean(denominator); Low and High bound its
	// 95% confidence interval (NaN when it has none: fewer than two
	// repetitions on a side).
	Ours, Low, High float64
	N               [2]int // repetitions of the numerator and the denominator
	Verdict         string
	Why             string // what made it inconclusive, or the points compared
	Plot            string // the figure beside it (a .png path), "" if none
	Run             string // the run directory
	Host, Commit    string
}

// cephLabels are the Ceph variant's systems of the papers' labels.
var cephLabels = map[string]string{"D": "D-ceph", "F": "F-ceph", "FP": "FP-ceph", "K": "K-ceph", "K/K": "K/K-ceph",
	"F/F": "F/F", "FP/FP": "FP/FP", "F/K": "F/K"}

// localLabels are the local files' systems of the papers' labels: F and
// FP carry the union of F/F and FP/FP in the scale-up files; F/K has no
// local form.
var localLabels = map[string]string{"D": "D", "F": "F", "FP": "FP", "K": "K", "K/K": "K/K", "F/F": "F", "FP/FP": "FP"}

// SystemLabel is the system that stands for a paper label in an
// experiment ("" when the experiment has none).
func SystemLabel(paper string, ceph bool) string {
	if ceph {
		return cephLabels[paper]
	}
	return localLabels[paper]
}

// Evaluate checks a claim in the summary of one run of its experiment
// (or of the experiment's Ceph variant, ceph true).
func Evaluate(c Claim, t *results.Table, ceph bool) Result {
	res := Result{Claim: c, Ours: math.NaN(), Low: math.NaN(), High: math.NaN(), Verdict: Inconclusive}
	var rows [2]*results.Row
	var points [2]string
	for i, side := range []map[string]any{c.Numerator, c.Denominator} {
		want, err := sideParams(side, c.Where, ceph)
		if err != nil {
			res.Why = err.Error()
			return res
		}
		pt, err := findPoint(t, want)
		if err != nil {
			res.Why = err.Error()
			return res
		}
		metric, err := results.ResolveMetric(c.metricOf(side), metricsAt(t, pt))
		if err != nil {
			res.Why = fmt.Sprintf("%s: %v", pt, err)
			return res
		}
		rows[i], points[i] = t.Lookup(pt, metric), pt
	}
	a, b := rows[0], rows[1]
	res.N = [2]int{a.N, b.N}
	if a.N == 0 || b.N == 0 || b.Mean == 0 {
		res.Why = fmt.Sprintf("no values to divide (%s n=%d, %s n=%d mean %g)", points[0], a.N, points[1], b.N, b.Mean)
		return res
	}
	res.Ours = a.Mean / b.Mean
	res.Why = fmt.Sprintf("%s %s / %s %s", points[0], a.Metric, points[1], b.Metric)
	res.Low, res.High = ratioCI(a.Samples, b.Samples)
	res.Verdict = verdict(c.Paper, res.Low, res.High)
	if math.IsNaN(res.Low) {
		res.Why += fmt.Sprintf("; no confidence interval from n=%d+%d repetitions", a.N, b.N)
	}
	return res
}

// verdict compares the interval [lo, hi] of our ratio with the paper's.
func verdict(paper, lo, hi float64) string {
	switch {
	case math.IsNaN(lo) || math.IsNaN(hi):
		return Inconclusive
	case paper > 1 && lo > 1, paper < 1 && hi < 1:
		return Same
	case paper > 1 && hi < 1, paper < 1 && lo > 1:
		return Opposite
	}
	return Inconclusive
}

// ratioCI is the 95% confidence interval of mean(a)/mean(b), by the delta
// method on the log of the ratio with Student's t at the smaller sample's
// degrees of freedom (conservative for two small samples); NaN without
// two samples on each side or with a mean that is not positive.
func ratioCI(a, b []float64) (lo, hi float64) {
	if len(a) < 2 || len(b) < 2 {
		return math.NaN(), math.NaN()
	}
	ma, mb := results.Mean(a), results.Mean(b)
	if ma <= 0 || mb <= 0 {
		return math.NaN(), math.NaN()
	}
	sa, sb := results.Stddev(a), results.Stddev(b)
	se := math.Sqrt(sa*sa/(float64(len(a))*ma*ma) + sb*sb/(float64(len(b))*mb*mb))
	t := results.TQuantile(0.975, float64(min(len(a), len(b))-1))
	r := ma / mb
	return r * math.Exp(-t*se), r * math.Exp(t*se)
}

// sideParams are the params one side asks for: its own and the claim's
// where, the system mapped to the experiment's label.
func sideParams(side, where map[string]any, ceph bool) (map[string]any, error) {
	want := map[string]any{}
	maps.Copy(want, where)
	for k, v := range side {
		if k != "metric" {
			want[k] = v
		}
	}
	if s, ok := want["system"].(string); ok {
		label := SystemLabel(s, ceph)
		if label == "" {
			return nil, fmt.Errorf("system %s has no local form (it needs kernel CephFS): see the -ceph variant", s)
		}
		want["system"] = label
	}
	return want, nil
}

// findPoint returns the one point of t whose params have the wanted
// values ("max" / "min": the largest / smallest value among the points).
func findPoint(t *results.Table, want map[string]any) (string, error) {
	type pt struct {
		name   string
		params []results.Param
	}
	var all []pt
	for _, name := range t.Points() {
		for _, r := range t.Rows {
			if r.Point == name {
				all = append(all, pt{name, r.Params})
				break
			}
		}
	}
	for _, s := range t.Skipped {
		all = append(all, pt{s.Point, s.Params})
	}
	resolved := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		s, isStr := v.(string)
		if !isStr || (s != "max" && s != "min") {
			resolved[k] = results.FormatValue(v)
			continue
		}
		var vals []string
		for _, p := range all {
			if x, ok := param(p.params, k); ok && !slices.Contains(vals, x) {
				vals = append(vals, x)
			}
		}
		if len(vals) == 0 {
			return "", fmt.Errorf("no point has param %q", k)
		}
		slices.SortFunc(vals, compareValues)
		resolved[k] = vals[0]
		if s == "max" {
			resolved[k] = vals[len(vals)-1]
		}
	}
	var found []pt
	for _, p := range all {
		ok := true
		for k, v := range resolved {
			if x, has := param(p.params, k); !has || x != v {
				ok = false
				break
			}
		}
		if ok {
			found = append(found, p)
		}
	}
	desc := describe(resolved)
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no point %s at this scale", desc)
	case 1:
		for _, s := range t.Skipped {
			if s.Point == found[0].name {
				return "", fmt.Errorf("point %s was not measured: %s", s.Point, s.Reason)
			}
		}
		return found[0].name, nil
	}
	var names []string
	for _, p := range found {
		names = append(names, p.name)
	}
	return "", fmt.Errorf("%d points match %s (%s): the claim must fix the params that differ", len(found), desc, strings.Join(names, ", "))
}

func param(ps []results.Param, key string) (string, bool) {
	for _, p := range ps {
		if p.Key == key {
			return results.FormatValue(p.Value), true
		}
	}
	return "", false
}

// compareValues orders numbers numerically, anything else as text.
func compareValues(a, b string) int {
	x, errA := strconv.ParseFloat(a, 64)
	y, errB := strconv.ParseFloat(b, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}

func describe(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, "/")
}

func metricsAt(t *results.Table, point string) []string {
	var out []string
	for _, r := range t.Rows {
		if r.Point == point && r.N > 0 {
			out = append(out, r.Metric)
		}
	}
	return out
}
