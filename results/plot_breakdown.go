package results

import (
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// breakdownSegments is how many label values a breakdown plot shows; the
// rest are summed as "other".
const breakdownSegments = 7

// BreakdownPlot (kind "breakdown") draws, for a labelled collector metric
// such as "steal_attr_seconds@p1", one bar per (x, series) pair, stacked by
// the values of its one label: steal_attr_seconds{class=flusher}@p1,
// {class=kworker}@p1, ... (the means over repetitions). The largest
// segments get their own colour, the rest one "other" segment.
func BreakdownPlot(t *Table, spec PlotSpec) (*plot.Plot, error) {
	d, err := breakdownOf(t, spec)
	if err != nil {
		return nil, err
	}
	bars, segs, values := d.bars, d.segs, d.values
	p := newPlot(spec, spec.X+", "+d.series, "s")
	width := vg.Length(min(float64(vg.Points(30)), 0.7*float64(PlotWidth-2*vg.Centimeter)/float64(len(bars))))
	var below *plotter.BarChart
	for i, seg := range segs {
		vals := make(plotter.Values, len(bars))
		for j := range bars {
			vals[j] = values[j][seg]
		}
		c, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
		}
		c.Color = plotutil.Color(i)
		c.LineStyle.Width = vg.Length(0)
		if below != nil {
			c.StackOn(below)
		}
		below = c
		p.Add(c)
		p.Legend.Add(seg, c)
	}
	names := make([]string, len(bars))
	for i, b := range bars {
		names[i] = b.x + "\n" + b.series
	}
	p.NominalX(names...)
	makeLegendRoom(p, len(segs), false)
	p.X.Min, p.X.Max = -0.5, float64(len(bars))-0.5
	return p, nil
}

// breakdown is what a breakdown plot draws: its bars in first-seen order,
// the segments (largest first, "other" last) and each bar's segment means.
type breakdown struct {
	series string // the series param
	bars   []breakdownBar
	segs   []string
	values []map[string]float64
}

type breakdownBar struct{ x, series string }

func breakdownOf(t *Table, spec PlotSpec) (*breakdown, error) {
	base, pool, _ := strings.Cut(spec.Y, "@")
	seriesKey := spec.Series
	if seriesKey == "" {
		seriesKey = "system"
	}
	d := &breakdown{series: seriesKey}
	index := map[breakdownBar]int{}
	totals := map[string]float64{} // segment -> sum over bars
	for _, r := range t.Rows {
		name, rest, ok := strings.Cut(r.Metric, "{")
		if !ok || name != base || r.N == 0 || !matches(r.Params, spec.Where) {
			continue
		}
		labels, at, _ := strings.Cut(rest, "}")
		if strings.TrimPrefix(at, "@") != pool || strings.Contains(labels, ",") {
			continue
		}
		_, seg, _ := strings.Cut(labels, "=")
		x, _ := paramValue(r.Params, spec.X)
		s, _ := paramValue(r.Params, seriesKey)
		b := breakdownBar{x, s}
		i, ok := index[b]
		if !ok {
			i = len(d.bars)
			index[b] = i
			d.bars = append(d.bars, b)
			d.values = append(d.values, map[string]float64{})
		}
		d.values[i][seg] += r.Mean
		totals[seg] += r.Mean
	}
	if len(d.bars) == 0 {
		return nil, fmt.Errorf("%w: plot %q: no labelled values of %s (have %v)", ErrNoData, spec.File, spec.Y, t.Metrics())
	}
	segs := make([]string, 0, len(totals))
	for s := range totals {
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b string) int { return cmpFloat(totals[b], totals[a]) })
	if len(segs) > breakdownSegments {
		other := segs[breakdownSegments-1:]
		segs = append(segs[:breakdownSegments-1:breakdownSegments-1], "other")
		for _, v := range d.values {
			for _, s := range other {
				v["other"] += v[s]
			}
		}
	}
	d.segs = segs
	return d, nil
}
