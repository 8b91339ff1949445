package results

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
)

// WriteWide writes the table for people with one line per point: its
// params, n (OK repetitions) and, per metric, the median ± the 95% CI of
// the mean relative to it (benchstat's cell). Points form one block per
// workload, headed by the workload's name; metrics are columns, with
// their units on a second header line: the given metrics in their order
// (those a workload has), else all, sorted. Each distinct warning follows
// once with the number of rows that have it, then the failed repetitions,
// the skipped points and the notes, as in WriteText.
func (t *Table) WriteWide(w io.Writer, metrics ...string) error {
	var blocks []string
	byBlock := map[string][]*Row{}
	for _, r := range t.Rows {
		wl := r.Workload
		if wl == "" {
			wl = t.Workload
		}
		if _, ok := byBlock[wl]; !ok {
			blocks = append(blocks, wl)
		}
		byBlock[wl] = append(byBlock[wl], r)
	}
	for i, wl := range blocks {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := writeWideBlock(w, wl, byBlock[wl], metrics); err != nil {
			return err
		}
	}
	var warn []string
	count := map[string]int{}
	for _, r := range t.Rows {
		for _, e := range r.Warnings {
			if count[e.Error()] == 0 {
				warn = append(warn, e.Error())
			}
			count[e.Error()]++
		}
	}
	slices.Sort(warn)
	for i, s := range warn {
		warn[i] = fmt.Sprintf("%s (%d of %d rows)", s, count[s], len(t.Rows))
	}
	return t.writeTrailer(w, warn)
}

// writeWideBlock writes the points of one workload, with the columns of
// order (all metrics, sorted, when empty).
func writeWideBlock(w io.Writer, workload string, rows []*Row, order []string) error {
	var points, keys, metrics []string
	units := map[string]string{}
	byPoint := map[string]map[string]*Row{}
	params := map[string][]Param{}
	for _, r := range rows {
		if byPoint[r.Point] == nil {
			byPoint[r.Point] = map[string]*Row{}
			points = append(points, r.Point)
			params[r.Point] = r.Params
			for _, p := range r.Params {
				if !slices.Contains(keys, p.Key) {
					keys = append(keys, p.Key)
				}
			}
		}
		byPoint[r.Point][r.Metric] = r
		if !slices.Contains(metrics, r.Metric) {
			metrics = append(metrics, r.Metric)
			units[r.Metric] = r.Unit
		}
	}
	slices.Sort(metrics)
	if len(order) > 0 {
		metrics = slices.DeleteFunc(slices.Clone(order), func(m string) bool { return !slices.Contains(metrics, m) })
	}
	if workload == "" {
		workload = "(no workload)"
	}
	fmt.Fprintf(w, "%s: median ± 95%% CI of the mean, n repetitions\n", workload)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header, unitLine := "", ""
	for _, k := range keys {
		header += k + "\t"
		unitLine += "\t"
	}
	header += "n"
	for _, m := range metrics {
		header += "\t" + m
		unitLine += "\t" + units[m]
	}
	fmt.Fprintln(tw, header)
	fmt.Fprintln(tw, unitLine)
	for _, pt := range points {
		line := ""
		for _, k := range keys {
			v, ok := paramValue(params[pt], k)
			if !ok {
				v = "-"
			}
			line += v + "\t"
		}
		n := 0
		for _, r := range byPoint[pt] {
			n = max(n, r.N)
		}
		line += strconv.Itoa(n)
		for _, m := range metrics {
			r, ok := byPoint[pt][m]
			if !ok {
				line += "\t-"
				continue
			}
			line += "\t" + FormatNumber(r.Median) + " ± " + fmtRel(r.RelCI)
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// FormatNumber prints a value with 4 significant digits: as is below
// 10000, with an SI prefix above (12.38k, 2.890M), as benchstat scales.
func FormatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmtVal(v)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 4, 64), 64) // rounded first: 9999.7 is 10.00k
	a := math.Abs(r)
	for _, s := range []struct {
		div    float64
		prefix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= s.div && a >= 1e4 {
			x := r / s.div
			digits := int(math.Floor(math.Log10(math.Abs(x)))) + 1 // 1..3, more above 1e15
			return strconv.FormatFloat(x, 'f', max(0, 4-digits), 64) + s.prefix
		}
	}
	return fmtVal(r)
}
