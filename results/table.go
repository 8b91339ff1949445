package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Table is the summary of a run: one Row per point and metric, points in
// the order they first appear in the samples, metrics sorted by name.
type Table struct {
	Rows []*Row
	// Workload is the (first) main workload's name, for benchmark names.
	Workload string
	// Skipped are the points that were not measured, with the reason.
	Skipped []SkippedPoint
	// Failures are the failed repetitions (see Failures); not in
	// summary.csv.
	Failures []Failure
	// Notes are the run's notes (see Notes); not in summary.csv.
	Notes []RunNote
}

// Row summarizes one metric at one point over its repetitions.
type Row struct {
	Point  string
	Params []Param
	// Workload is the point's (first) main workload, or the benchmark
	// that measured it; "" when unknown (a table read from summary.csv).
	Workload string
	Metric   string
	Unit     string
	Samples  []float64 // one value per OK repetition, in repetition order
	Summary
}

// Failure is a failed repetition of a point.
type Failure struct {
	Point      string
	Params     []Param
	Repetition int
	Error      string
}

// Failures lists the failed repetitions of recs in record order (skips
// that older runs recorded as failures are SkippedPoints, not failures).
func Failures(recs []Record) []Failure {
	var out []Failure
	for _, rec := range recs {
		if rec.Kind == KindRepetition && !rec.OK && !strings.HasPrefix(rec.Error, legacySkipPrefix) {
			out = append(out, Failure{Point: rec.Point, Params: rec.Params, Repetition: rec.Repetition, Error: rec.Error})
		}
	}
	return out
}

// Lookup returns the row of a point and metric, or nil.
func (t *Table) Lookup(point, metric string) *Row {
	for _, r := range t.Rows {
		if r.Point == point && r.Metric == metric {
			return r
		}
	}
	return nil
}

// Points lists the point names in table order.
func (t *Table) Points() []string {
	var out []string
	for _, r := range t.Rows {
		if len(out) == 0 || out[len(out)-1] != r.Point {
			if !slices.Contains(out, r.Point) {
				out = append(out, r.Point)
			}
		}
	}
	return out
}

// Metrics lists the metric names in the table, sorted.
func (t *Table) Metrics() []string {
	set := map[string]bool{}
	for _, r := range t.Rows {
		set[r.Metric] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Table summarizes the run's records (see BuildTable).
func (r *Run) Table() *Table {
	return BuildTable(r.Records, r.Info.Weights)
}

// RepetitionValues reduces each OK repetition of each point to its metric
// values. Keys are point names, then repetition numbers.
func RepetitionValues(recs []Record, weights []float64) (order []string, params map[string][]Param, values map[string]map[int]map[string]float64) {
	params = map[string][]Param{}
	values = map[string]map[int]map[string]float64{}
	type key struct {
		point string
		rep   int
	}
	ok := map[key]*Record{}
	for i := range recs {
		rec := &recs[i]
		if rec.Point == "" { // a note about the whole run
			continue
		}
		if _, seen := params[rec.Point]; !seen {
			order = append(order, rec.Point)
			params[rec.Point] = rec.Params
		}
		if rec.Kind == KindRepetition && rec.OK {
			ok[key{rec.Point, rec.Repetition}] = rec
		}
	}
	byRep := map[key][]*Record{}
	for i := range recs {
		rec := &recs[i]
		k := key{rec.Point, rec.Repetition}
		if rec.Kind == KindInstance && ok[k] != nil && rec.Result != nil {
			byRep[k] = append(byRep[k], rec)
		}
	}
	for k, closing := range ok {
		v := deriveRepetition(byRep[k], closing.Metrics, weights)
		if values[k.point] == nil {
			values[k.point] = map[int]map[string]float64{}
		}
		values[k.point][k.rep] = v
	}
	return order, params, values
}

// aggregate accumulates the instance results of one group (main, or one
// noise workload) of one repetition.
type aggregate struct {
	mbps, ops, opsTotal, bytes, elapsed float64
	poolMBps, poolOps                   map[int]float64
	instMBps, instOps                   map[[2]int]float64 // by (pool, container)
	lat                                 map[string]*Histogram
	counters                            map[string]float64
}

func newAggregate() *aggregate {
	return &aggregate{poolMBps: map[int]float64{}, poolOps: map[int]float64{},
		instMBps: map[[2]int]float64{}, instOps: map[[2]int]float64{}, lat: map[string]*Histogram{}, counters: map[string]float64{}}
}

func (a *aggregate) add(rec *Record) {
	res := rec.Result
	secs := res.Elapsed.Seconds()
	if secs > 0 {
		mb := float64(res.Bytes) / 1e6 / secs
		ops := float64(res.Ops) / secs
		a.mbps += mb
		a.ops += ops
		a.poolMBps[rec.Pool] += mb
		a.poolOps[rec.Pool] += ops
		a.instMBps[[2]int{rec.Pool, rec.Instance}] += mb
		a.instOps[[2]int{rec.Pool, rec.Instance}] += ops
	}
	a.opsTotal += float64(res.Ops)
	a.bytes += float64(res.Bytes)
	a.elapsed = max(a.elapsed, secs)
	for k, h := range res.Latency {
		if h == nil {
			continue
		}
		if a.lat[k] == nil {
			a.lat[k] = NewHistogram()
		}
		a.lat[k].Merge(h)
	}
	for k, v := range res.Counters {
		a.counters[k] += v
	}
}

func (a *aggregate) into(out map[string]float64, prefix string, perPool bool) {
	out[prefix+MetricThroughput] = a.mbps
	out[prefix+MetricOpsPerSec] = a.ops
	out[prefix+MetricElapsed] = a.elapsed
	out[prefix+"ops"] = a.opsTotal
	out[prefix+"bytes"] = a.bytes
	for kind, h := range a.lat {
		if h.Count() == 0 {
			continue
		}
		suffix := ""
		if kind != "all" {
			suffix = ":" + kind
		}
		out[prefix+"latency_mean_us"+suffix] = us(h.Mean().Nanoseconds())
		for name, q := range latencyQuantiles {
			out[prefix+name+suffix] = us(h.Quantile(q).Nanoseconds())
		}
	}
	for k, v := range a.counters {
		out[prefix+"counter:"+k] = v
	}
	if perPool {
		for p, v := range a.poolMBps {
			out[prefix+MetricThroughput+"@"+PoolName(p)] = v
		}
		for p, v := range a.poolOps {
			out[prefix+MetricOpsPerSec+"@"+PoolName(p)] = v
		}
	}
}

// PoolName is the name of pool i in per-pool metric names ("p0"), the
// same name the runner gives the pool (and so the collectors use).
func PoolName(i int) string { return "p" + strconv.Itoa(i) }

// ContainerName is the name of container i of the only pool in
// per-container metric names ("c0"): written when the [tenants] weights
// are the containers of one pool (the Justitia experiments).
func ContainerName(i int) string { return "c" + strconv.Itoa(i) }

// tenantMBps returns each tenant's main throughput: tenant i is pool i
// when there are as many pools as weights, else container i of the only
// pool when it has as many containers as weights. ok is false when
// neither fits (a tenant without results). perContainer reports the
// second case.
func (a *aggregate) tenantMBps(n int) (bw []float64, perContainer, ok bool) {
	bw = make([]float64, n)
	if len(a.poolMBps) == n {
		for i := range bw {
			v, has := a.poolMBps[i]
			if !has {
				return nil, false, false
			}
			bw[i] = v
		}
		return bw, false, true
	}
	if _, only := a.poolMBps[0]; !only || len(a.poolMBps) != 1 || len(a.instMBps) != n {
		return nil, false, false
	}
	for i := range bw {
		v, has := a.instMBps[[2]int{0, i}]
		if !has {
			return nil, false, false
		}
		bw[i] = v
	}
	return bw, true, true
}

func us(ns int64) float64 { return float64(ns) / 1e3 }

// deriveRepetition computes every metric of one repetition (see the
// metric naming at MetricThroughput). A repetition without instances (a
// benchmark that measures its own metrics) has only the closing record's
// metrics.
func deriveRepetition(insts []*Record, ms []Metric, weights []float64) map[string]float64 {
	out := map[string]float64{}
	main := newAggregate()
	noise := map[string]*aggregate{}
	for _, rec := range insts {
		if rec.Role == "noise" {
			if noise[rec.Workload] == nil {
				noise[rec.Workload] = newAggregate()
			}
			noise[rec.Workload].add(rec)
			continue
		}
		main.add(rec)
	}
	if len(insts) > 0 && (len(insts) > len(noise) || len(noise) == 0) {
		main.into(out, "", true)
	}
	for name, a := range noise {
		a.into(out, name+".", false)
	}
	collectorValues(out, ms)
	if len(weights) > 0 {
		bw, perContainer, complete := main.tenantMBps(len(weights))
		if complete && perContainer && len(weights) > 1 {
			for i := range weights {
				key := [2]int{0, i}
				out[MetricThroughput+"@"+ContainerName(i)] = main.instMBps[key]
				out[MetricOpsPerSec+"@"+ContainerName(i)] = main.instOps[key]
			}
		}
		if complete {
			if pv, err := PV(bw, weights); err == nil {
				out[MetricPV] = pv
			}
			if j, err := Jain(bw, weights); err == nil {
				out[MetricJain] = j
			}
		}
	}
	return out
}

func labelSuffix(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// BuildTable builds the summary table from raw records: per point, each
// OK repetition is reduced to metric values (RepetitionValues), then each
// metric's values are summarized. weights are the [tenants] weights for
// "pv" and "jain" (nil: none).
func BuildTable(recs []Record, weights []float64) *Table {
	order, params, values := RepetitionValues(recs, weights)
	t := &Table{Skipped: SkippedPoints(recs), Failures: Failures(recs), Notes: Notes(recs)}
	workloads := pointWorkloads(recs)
	t.Workload = firstWorkload(recs)
	// Collector metrics carry their own unit ("s", "cores", "bytes").
	units := map[string]string{}
	for _, rec := range recs {
		if rec.Kind != KindRepetition || !rec.OK {
			continue
		}
		for _, m := range rec.Metrics {
			if m.Unit == "" {
				continue
			}
			key := m.Name + labelSuffix(m.Labels)
			units[key] = m.Unit
			if m.Pool != "" {
				units[key+"@"+m.Pool] = m.Unit
			} else {
				units[key+"@host"] = m.Unit
			}
		}
	}
	for _, pt := range order {
		reps := slices.Sorted(maps.Keys(values[pt]))
		names := map[string]bool{}
		for _, rep := range reps {
			for m := range values[pt][rep] {
				names[m] = true
			}
		}
		for _, m := range slices.Sorted(maps.Keys(names)) {
			row := &Row{Point: pt, Params: params[pt], Workload: workloads[pt], Metric: m, Unit: DescribeMetric(m).Unit}
			if u, ok := units[m]; ok && !DescribeMetric(m).Known {
				row.Unit = u
			}
			for _, rep := range reps {
				if v, ok := values[pt][rep][m]; ok && !math.IsNaN(v) {
					row.Samples = append(row.Samples, v)
				}
			}
			row.Summary = Summarize(row.Samples)
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// pointWorkloads maps each point to its first main workload, or, for a
// benchmark that measures its own metrics, the workload of its first
// repetition record.
func pointWorkloads(recs []Record) map[string]string {
	out := map[string]string{}
	for _, kind := range []string{KindInstance, KindRepetition} {
		for _, rec := range recs {
			if rec.Kind == kind && rec.Role != "noise" && rec.Workload != "" && out[rec.Point] == "" {
				out[rec.Point] = rec.Workload
			}
		}
	}
	return out
}

// firstWorkload is the first main workload of the run (see
// Table.Workload), or the first benchmark's when no instance names one.
func firstWorkload(recs []Record) string {
	for _, kind := range []string{KindInstance, KindRepetition} {
		for _, rec := range recs {
			if rec.Kind == kind && rec.Role != "noise" && rec.Workload != "" {
				return rec.Workload
			}
		}
	}
	return ""
}

// csvHeader is the header of summary.csv.
var csvHeader = []string{"point", "metric", "unit", "n", "mean", "median", "stddev", "ci95_low", "ci95_high", "ci95_rel", "warnings"}

// WriteCSV writes summary.csv. A skipped point gets one row with an empty
// metric, n = 0 and "skipped: <reason>" as its warning, so the file says
// why a point has no numbers.
func (t *Table) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range t.Rows {
		var warn []string
		for _, e := range r.Warnings {
			warn = append(warn, e.Error())
		}
		rec := []string{r.Point, r.Metric, r.Unit, strconv.Itoa(r.N), num(r.Mean), num(r.Median), num(r.Stddev),
			num(r.CILow), num(r.CIHigh), num(r.RelCI), strings.Join(warn, "; ")}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	for _, sp := range t.Skipped {
		nan := num(math.NaN())
		rec := []string{sp.Point, "", "", "0", nan, nan, nan, nan, nan, nan, legacySkipPrefix + oneLine(sp.Reason)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// ReadCSV reads a summary.csv back (samples are not stored there).
func ReadCSV(r io.Reader) (*Table, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("results: summary: %w", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], csvHeader) {
		return nil, fmt.Errorf("results: summary: missing header %v", csvHeader)
	}
	t := &Table{}
	for i, rec := range recs[1:] {
		row := &Row{Point: rec[0], Metric: rec[1], Unit: rec[2]}
		var errs []error
		atoi := func(s string) int { n, e := strconv.Atoi(s); errs = append(errs, e); return n }
		atof := func(s string) float64 { f, e := strconv.ParseFloat(s, 64); errs = append(errs, e); return f }
		row.N = atoi(rec[3])
		row.Mean, row.Median, row.Stddev = atof(rec[4]), atof(rec[5]), atof(rec[6])
		row.CILow, row.CIHigh, row.RelCI = atof(rec[7]), atof(rec[8]), atof(rec[9])
		for _, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("results: summary line %d: %v", i+2, e)
			}
		}
		row.Params = ParseName(row.Point)
		if reason, ok := strings.CutPrefix(rec[10], legacySkipPrefix); ok && row.Metric == "" {
			t.Skipped = append(t.Skipped, SkippedPoint{Point: row.Point, Params: row.Params, Reason: reason})
			continue
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// ParseName splits a point name "k=v/k=v" into params with string values.
func ParseName(name string) []Param {
	var out []Param
	for _, part := range strings.Split(name, "/") {
		k, v, _ := strings.Cut(part, "=")
		out = append(out, Param{Key: k, Value: v})
	}
	return out
}

// WriteText writes the table for people: per point, each metric as
// median ± relative CI (n), mean and CI bounds, benchstat style. It is
// the text the golden tests pin.
func (t *Table) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "point\tmetric\tmedian\t± ci95\tn\tmean\tci95 low\tci95 high\tunit")
	for _, r := range t.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Point, r.Metric, fmtVal(r.Median), fmtRel(r.RelCI), r.N,
			fmtVal(r.Mean), fmtVal(r.CILow), fmtVal(r.CIHigh), r.Unit)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var warn []string
	for _, r := range t.Rows {
		for _, e := range r.Warnings {
			warn = append(warn, fmt.Sprintf("%s %s: %v", r.Point, r.Metric, e))
		}
	}
	sort.Strings(warn)
	return t.writeTrailer(w, warn)
}

// writeTrailer writes the warning lines, then the failed repetitions,
// the skipped points and the notes.
func (t *Table) writeTrailer(w io.Writer, warn []string) error {
	for _, s := range warn {
		if _, err := fmt.Fprintln(w, "warning:", s); err != nil {
			return err
		}
	}
	for _, f := range t.Failures {
		if _, err := fmt.Fprintf(w, "failed: %s repetition %d: %s\n", f.Point, f.Repetition, oneLine(f.Error)); err != nil {
			return err
		}
	}
	for _, sp := range t.Skipped {
		if _, err := fmt.Fprintf(w, "skipped: %s: %s\n", sp.Point, sp.Reason); err != nil {
			return err
		}
	}
	for _, n := range t.Notes {
		if _, err := fmt.Fprintln(w, "note:", n); err != nil {
			return err
		}
	}
	return nil
}

// fmtVal prints 4 significant digits.
func fmtVal(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func fmtRel(rel float64) string {
	if math.IsInf(rel, 0) || math.IsNaN(rel) {
		return "∞"
	}
	return fmt.Sprintf("%.0f%%", rel*100)
}
