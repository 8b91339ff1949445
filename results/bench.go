package results

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// BenchName is the Go benchmark name of a workload at a point, built from
// the typed params: "BenchmarkFileserver/system=D/pools=4". Values are
// formatted without "/" or spaces ("K/K" becomes "K_K").
func BenchName(workload string, params []Param) string {
	var b strings.Builder
	b.WriteString("Benchmark")
	up := true
	for _, r := range workload {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	if len(params) > 0 {
		b.WriteString("/" + PointName(params))
	}
	return b.String()
}

// PointName is the name of the point with these params, in their order:
// "system=D/pools=4" (values formatted by FormatValue). It is also the
// sub-benchmark name for testing.B.Run.
func PointName(params []Param) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(p.Key + "=" + FormatValue(p.Value))
	}
	return b.String()
}

// FormatValue formats a param value for point and benchmark names: no
// spaces, no "/" (system "K/K" becomes "K_K").
func FormatValue(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case int64:
		s = strconv.FormatInt(x, 10)
	case int:
		s = strconv.Itoa(x)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	default:
		s = fmt.Sprint(x)
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, s)
}

// WriteBench writes the run in the Go benchmark format: file-level
// configuration lines ("key: value") from Info, then one line per point and
// OK repetition, named after the point's workload, with every whole-point
// metric (per-pool "@" metrics are left out) as value-unit pairs, so
// `benchstat -col /system bench.txt` works.
func (r *Run) WriteBench(w io.Writer) error {
	h := r.Info.Host
	cfg := [][2]string{
		{"experiment", r.Info.Experiment},
		{"goos", "linux"},
		{"kernel", h.Kernel},
		{"cpu", h.CPUModel},
		{"cores", strconv.Itoa(h.Cores)},
		{"cgroup", h.CgroupMode},
		{"go", h.GoVersion},
		{"commit", h.GitCommit + map[bool]string{true: "-dirty"}[h.GitDirty]},
	}
	for _, kv := range cfg {
		if kv[1] != "" && kv[1] != "0" {
			if _, err := fmt.Fprintf(w, "%s: %s\n", kv[0], oneLine(kv[1])); err != nil {
				return err
			}
		}
	}
	workload := firstWorkload(r.Records)
	workloads := pointWorkloads(r.Records)
	order, params, values := RepetitionValues(r.Records, r.Info.Weights)
	for _, pt := range order {
		wl := workloads[pt]
		if wl == "" {
			wl = workload
		}
		name := BenchName(wl, params[pt])
		for _, rep := range slices.Sorted(maps.Keys(values[pt])) {
			vals := values[pt][rep]
			var b strings.Builder
			fmt.Fprintf(&b, "%s 1", name)
			for _, m := range slices.Sorted(maps.Keys(vals)) {
				if strings.Contains(m, "@") {
					continue
				}
				fmt.Fprintf(&b, " %s %s", strconv.FormatFloat(vals[m], 'g', 6, 64), r.benchUnit(m))
			}
			if _, err := fmt.Fprintln(w, b.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchUnit is the unit of a metric in bench.txt: the declared unit of a
// metric the run measures itself (Info.Metrics), the known unit of a
// workload metric (with the noise prefix and op-kind qualifier kept so
// units stay distinct), else the metric name itself.
func (r *Run) benchUnit(metric string) string {
	for _, mi := range r.Info.Metrics {
		if mi.Name == metric {
			return sanitizeUnit(mi.Unit)
		}
	}
	prefix, base, qual, _ := SplitMetric(metric)
	mi := DescribeMetric(metric)
	if !mi.Known || base == "counter" {
		return sanitizeUnit(metric)
	}
	u := mi.Unit
	if qual != "" {
		u += ":" + qual
	}
	if prefix != "" {
		u = prefix + "." + u
	}
	return sanitizeUnit(u)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
