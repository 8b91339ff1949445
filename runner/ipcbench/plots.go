package ipcbench

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a plot: what the builders extract from a Table
// before drawing, and what their tests pin as golden text.
type Series struct {
	Name string
	X, Y []float64
}

func (s Series) String() string {
	var b strings.Builder
	b.WriteString(s.Name + ":")
	for i := range s.X {
		fmt.Fprintf(&b, " (%s, %s)", FormatValue(s.X[i]), FormatValue(s.Y[i]))
	}
	return b.String()
}

// QueueSeries extracts, for one wait strategy, one series per design of
// metric unit ("items/s" or "enq-ns") against total threads (producers +
// consumers); points with the same total are averaged.
func QueueSeries(t Table, unit, wait string) []Series {
	rows := t.Filter("Queue", P("wait", wait))
	type acc struct{ sum, n float64 }
	byDesign := map[string]map[float64]*acc{}
	var order []string
	for _, r := range rows {
		v, ok := r.Metric(unit)
		if !ok || r.Err != "" {
			continue
		}
		p, _ := strconv.Atoi(r.Param("producers"))
		c, _ := strconv.Atoi(r.Param("consumers"))
		d := r.Param("design")
		if byDesign[d] == nil {
			byDesign[d] = map[float64]*acc{}
			order = append(order, d)
		}
		x := float64(p + c)
		if byDesign[d][x] == nil {
			byDesign[d][x] = &acc{}
		}
		byDesign[d][x].sum += v
		byDesign[d][x].n++
	}
	var out []Series
	for _, d := range order {
		s := Series{Name: d}
		var xs []float64
		for x := range byDesign[d] {
			xs = append(xs, x)
		}
		sort.Float64s(xs)
		for _, x := range xs {
			a := byDesign[d][x]
			s.X = append(s.X, x)
			s.Y = append(s.Y, a.sum/a.n)
		}
		out = append(out, s)
	}
	return out
}

// QueuePlot draws QueueSeries: throughput or enqueue latency vs threads,
// one line per design, log-scaled values.
func QueuePlot(t Table, unit, wait string) (*plot.Plot, error) {
	what := map[string]string{"items/s": "task throughput (items/s)", "enq-ns": "mean enqueue latency (ns)"}[unit]
	if what == "" {
		return nil, fmt.Errorf("bench: no queue plot for unit %q", unit)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Queue designs, wait=%s: %s", wait, what)
	p.X.Label.Text = "threads (producers + consumers)"
	p.Y.Label.Text = what
	return p, addLines(p, QueueSeries(t, unit, wait), true, pow2Ticks{})
}

// CopySeries extracts the bandwidth of the median copy (p50-GB/s) against
// size (bytes), one series per method and process count ("SMO 2p" when the
// data crosses into another process).
func CopySeries(t Table) []Series {
	idx := map[string]int{}
	var out []Series
	for _, r := range t.Filter("Copy") {
		v, ok := r.Metric("p50-GB/s")
		size, err := ParseSize(r.Param("size"))
		if !ok || err != nil || r.Err != "" {
			continue
		}
		name := r.Param("method")
		if p := r.Param("procs"); p != "1" {
			name += " " + p + "p"
		}
		i, seen := idx[name]
		if !seen {
			i = len(out)
			idx[name] = i
			out = append(out, Series{Name: name})
		}
		out[i].X = append(out[i].X, float64(size))
		out[i].Y = append(out[i].Y, v)
	}
	return out
}

// CopyPlot draws CopySeries with a log2 size axis.
func CopyPlot(t Table) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Copy methods: bandwidth vs size"
	p.X.Label.Text = "bytes per copy"
	p.Y.Label.Text = "GB/s (median copy)"
	return p, addLines(p, CopySeries(t), false, sizeTicks{})
}

// RTTSeries extracts, per percentile (p50, p99, p99.9), the round-trip
// latencies of every PingPong and RoundTrip row; the names of the points
// (design/wait/peer) come back as labels, in row order.
func RTTSeries(t Table) (labels []string, series []Series) {
	units := []string{"p50-ns", "p99-ns", "p99.9-ns"}
	series = make([]Series, len(units))
	for i, u := range units {
		series[i].Name = strings.TrimSuffix(u, "-ns")
	}
	for _, r := range t {
		if (r.Bench != "PingPong" && r.Bench != "RoundTrip") || r.Err != "" {
			continue
		}
		var label string
		if r.Bench == "PingPong" {
			label = "pingpong/" + r.Param("peer")
		} else {
			label = r.Param("design") + "/" + r.Param("wait") + "/" + r.Param("peer")
		}
		x := float64(len(labels))
		labels = append(labels, label)
		for i, u := range units {
			v, _ := r.Metric(u)
			series[i].X = append(series[i].X, x)
			series[i].Y = append(series[i].Y, v)
		}
	}
	return labels, series
}

// RTTPlot draws RTTSeries as one marker per percentile above each point
// name, on a log scale (bars cannot start at zero on a log axis).
func RTTPlot(t Table) (*plot.Plot, error) {
	labels, series := RTTSeries(t)
	p := plot.New()
	p.Title.Text = "Round-trip latency percentiles"
	p.Y.Label.Text = "round trip (ns)"
	if len(labels) == 0 {
		return p, nil
	}
	for i, s := range series {
		var xys plotter.XYs
		for j := range s.X {
			xys = append(xys, plotter.XY{X: s.X[j], Y: math.Max(s.Y[j], 1)})
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, fmt.Errorf("bench: rtt plot: %w", err)
		}
		sc.Color = plotutil.Color(i)
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(3)
		p.Add(sc)
		p.Legend.Add(s.Name, sc)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	p.X.Tick.Label.Rotation = math.Pi / 2
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.5
	p.Add(plotter.NewGrid())
	return p, nil
}

// addLines draws each series as a line with points; logY selects a log Y
// axis, a non-nil logX a log X axis with those ticks (zero and negative
// values are dropped from log axes).
func addLines(p *plot.Plot, series []Series, logY bool, logX plot.Ticker) error {
	log2X := logX != nil
	drawn := 0
	for i, s := range series {
		var xys plotter.XYs
		for j := range s.X {
			if (logY && s.Y[j] <= 0) || (log2X && s.X[j] <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: s.X[j], Y: s.Y[j]})
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return fmt.Errorf("bench: plot %q: %w", s.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / 7)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
		drawn++
	}
	if drawn > 0 { // a log axis over no data would panic when drawn
		if logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = logTicks{}
		}
		if log2X {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = logX
		}
	}
	p.Legend.Top = true // top right: where throughput and bandwidth curves end low
	p.Add(plotter.NewGrid())
	return nil
}

// logTicks labels decades, or falls back to linear ticks when the data
// spans less than one decade (LogTicks would print no label at all).
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.LogTicks{}.Ticks(min, max)
	if max < 10*min {
		ts = plot.DefaultTicks{}.Ticks(min, max)
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = shortNumber(ts[i].Value)
		}
	}
	return ts
}

// shortNumber prints 2500000 as 2.5M, 20000 as 20k.
func shortNumber(v float64) string {
	for _, u := range []struct {
		div float64
		suf string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if v >= u.div {
			return strconv.FormatFloat(v/u.div, 'g', 4, 64) + u.suf
		}
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// pow2Ticks labels every power of two (thread counts).
type pow2Ticks struct{}

func (pow2Ticks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= max*2; v *= 2 {
		if v >= min/2 {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
		}
	}
	return ts
}

// sizeTicks labels powers of two in KiB/MiB.
type sizeTicks struct{}

func (sizeTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for v := 1.0; v <= max*2; v *= 2 {
		if v < min/2 {
			continue
		}
		label := ""
		if e := int(math.Round(math.Log2(v))); e%2 == 0 {
			label = sizeName(int(v))
		}
		ts = append(ts, plot.Tick{Value: v, Label: label})
	}
	return ts
}

// SavePlot writes p as name.png and name.svg in dir.
func SavePlot(p *plot.Plot, dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(20*vg.Centimeter, 13*vg.Centimeter, filepath.Join(dir, name+ext)); err != nil {
			return fmt.Errorf("bench: save plot %s%s: %w", name, ext, err)
		}
	}
	return nil
}

// ParseSize reads 4096, 4KiB, 4K, 1MiB, 1M or 1GiB.
func ParseSize(s string) (int, error) {
	t := strings.TrimSpace(s)
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bench: bad size %q (want e.g. 4096, 4KiB, 1MiB)", s)
	}
	return n * mult, nil
}
