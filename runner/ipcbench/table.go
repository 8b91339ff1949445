package ipcbench

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Metric is one measured value with its benchfmt unit ("ns/op", "items/s").
type Metric struct {
	Unit  string
	Value float64
}

// Row is one measured point: benchmark base name, parameters, iteration
// count and metrics (the first one is ns/op by convention). Err is set when
// the point failed; it then carries no metrics.
type Row struct {
	Bench   string
	Params  []Param
	N       int64
	Metrics []Metric
	Err     string
}

// Name is the full benchmark name built from the typed parameters.
func (r Row) Name() string { return BenchName(r.Bench, r.Params...) }

// Param returns the value of parameter key, "" when absent.
func (r Row) Param(key string) string {
	for _, p := range r.Params {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// Metric returns the value of the metric with unit, and whether it exists.
func (r Row) Metric(unit string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// Table is an ordered list of rows, possibly of several benchmarks.
type Table []Row

// Filter returns the rows of benchmark bench whose parameters match every
// key=value in match.
func (t Table) Filter(bench string, match ...Param) Table {
	var out Table
	for _, r := range t {
		if r.Bench != bench {
			continue
		}
		ok := true
		for _, m := range match {
			if r.Param(m.Key) != m.Value {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// columns returns the parameter keys and metric units of t in first-seen
// order.
func (t Table) columns() (keys, units []string) {
	seenK, seenU := map[string]bool{}, map[string]bool{}
	for _, r := range t {
		for _, p := range r.Params {
			if !seenK[p.Key] {
				seenK[p.Key] = true
				keys = append(keys, p.Key)
			}
		}
		for _, m := range r.Metrics {
			if !seenU[m.Unit] {
				seenU[m.Unit] = true
				units = append(units, m.Unit)
			}
		}
	}
	return keys, units
}

// benches returns the benchmark base names of t in first-seen order.
func (t Table) benches() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range t {
		if !seen[r.Bench] {
			seen[r.Bench] = true
			out = append(out, r.Bench)
		}
	}
	return out
}

// FormatValue prints a metric with 3-4 significant digits, no exponent for
// the magnitudes these benchmarks produce.
func FormatValue(v float64) string {
	switch av := abs(v); {
	case av == 0:
		return "0"
	case av >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case av >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case av >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// WriteText prints t as aligned plain tables, one per benchmark.
func (t Table) WriteText(w io.Writer) error {
	for i, b := range t.benches() {
		rows := t.Filter(b)
		keys, units := rows.columns()
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", b)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, strings.Join(keys, "\t")+"\tn\t"+strings.Join(units, "\t")+"\t\n")
		for _, r := range rows {
			var cells []string
			for _, k := range keys {
				cells = append(cells, r.Param(k))
			}
			cells = append(cells, strconv.FormatInt(r.N, 10))
			for _, u := range units {
				if v, ok := r.Metric(u); ok {
					cells = append(cells, FormatValue(v))
				} else {
					cells = append(cells, "-")
				}
			}
			line := strings.Join(cells, "\t") + "\t"
			if r.Err != "" {
				line += " ERROR: " + r.Err
			}
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// WriteBenchfmt prints t in the Go benchmark format (one line per row, the
// failed ones as comments), after file-level configuration lines, so that
// benchstat can compare runs and project columns (-col /design).
func (t Table) WriteBenchfmt(w io.Writer, config ...Param) error {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "goos: %s\ngoarch: %s\n", runtime.GOOS, runtime.GOARCH)
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(w, "cpu: %s\n", cpu)
	}
	fmt.Fprintf(w, "pkg: polytropon/ipc/bench\nhost: %s\nncpu: %d\n", sanitize(host), runtime.NumCPU())
	for _, c := range config {
		fmt.Fprintf(w, "%s: %s\n", c.Key, c.Value)
	}
	return t.writeBenchLines(w)
}

// writeBenchLines writes the result lines of WriteBenchfmt.
func (t Table) writeBenchLines(w io.Writer) error {
	for _, r := range t {
		if r.Err != "" {
			fmt.Fprintf(w, "# Benchmark%s failed: %s\n", r.Name(), r.Err)
			continue
		}
		fmt.Fprintf(w, "Benchmark%s \t%d", r.Name(), max(r.N, 1))
		for _, m := range r.Metrics {
			fmt.Fprintf(w, "\t%s %s", strconv.FormatFloat(m.Value, 'g', 6, 64), m.Unit)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// WriteCSV writes the rows of one benchmark with a header of parameter
// keys, n, metric units and error.
func (t Table) WriteCSV(w io.Writer) error {
	keys, units := t.columns()
	cw := csv.NewWriter(w)
	header := append([]string{"bench"}, keys...)
	header = append(header, "n")
	header = append(header, units...)
	header = append(header, "error")
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range t {
		rec := []string{r.Bench}
		for _, k := range keys {
			rec = append(rec, r.Param(k))
		}
		rec = append(rec, strconv.FormatInt(r.N, 10))
		for _, u := range units {
			if v, ok := r.Metric(u); ok {
				rec = append(rec, strconv.FormatFloat(v, 'g', 8, 64))
			} else {
				rec = append(rec, "")
			}
		}
		rec = append(rec, r.Err)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
