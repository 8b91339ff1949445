package results

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"polytropon/internal/units"
)

// PlotSpec asks for one figure (the [[plot]] table of an experiment; the
// config package converts to it; benchmark subcommands build their own).
type PlotSpec struct {
	Kind      string // "line", "bar", "proportionality" or "breakdown"
	X         string // param on the x axis ("pools", "system", "containers", ...)
	Y         string // metric
	Series    string // param that separates lines or bar groups (default "system")
	ErrorBars bool   // 95% CI of the mean
	LogY      bool
	// LogX log-scales a numeric x axis (line plots), with a tick at every
	// measured x value.
	LogX bool
	// XBytes: the x values are byte sizes ("4096", "4KiB"; read with
	// units.ParseSize), placed by their number of bytes and labelled in
	// IEC units, a tick at every measured size.
	XBytes bool
	// Where keeps only the points whose params have these values
	// (compared as FormatValue writes them): one figure per wait strategy,
	// say, from a table of all of them.
	Where []Param
	Title string
	File  string // base name; .png and .svg are written
}

// Figure size.
var (
	PlotWidth  = 16 * vg.Centimeter
	PlotHeight = 10 * vg.Centimeter
)

// ErrNoData means a plot's metric has no values in the table.
var ErrNoData = errors.New("results: nothing to plot")

// BuildPlot dispatches on spec.Kind. weights are the [tenants] weights
// (proportionality plots only).
func BuildPlot(t *Table, spec PlotSpec, weights []float64) (*plot.Plot, error) {
	switch spec.Kind {
	case "line", "":
		return LinePlot(t, spec)
	case "bar":
		return BarPlot(t, spec)
	case "proportionality":
		return ProportionalityPlot(t, spec, weights)
	case "breakdown":
		return BreakdownPlot(t, spec)
	}
	return nil, fmt.Errorf("results: unknown plot kind %q", spec.Kind)
}

// series is one line or bar group: its label and its rows keyed by x.
type series struct {
	label string
	xs    []string // x values in first-seen order
	rows  map[string]*Row
}

// matches reports whether params have every value of where.
func matches(params, where []Param) bool {
	for _, w := range where {
		i := slices.IndexFunc(params, func(p Param) bool { return p.Key == w.Key })
		if i < 0 || FormatValue(params[i].Value) != FormatValue(w.Value) {
			return false
		}
	}
	return true
}

// groupRows splits the rows of metric y (at the points spec.Where keeps)
// by the series param, plus every other param that tells apart rows of
// the same series and x (so a param that follows x, such as the
// producers of a thread count, does not split a line). unit is y's.
func groupRows(t *Table, spec PlotSpec) (ss []*series, xs []string, unit string, err error) {
	var rows []*Row
	y, rerr := ResolveMetric(spec.Y, t.Metrics()) // "lock_wait_seconds" is the run's one lock_wait_seconds{backend=...}
	if errors.Is(rerr, ErrAmbiguousMetric) {
		return nil, nil, "", fmt.Errorf("%w: %v", ErrNoData, rerr)
	}
	for _, r := range t.Rows {
		if r.Metric == y && r.N > 0 && matches(r.Params, spec.Where) {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		where := ""
		if len(spec.Where) > 0 {
			where = " at " + PointName(spec.Where)
		}
		return nil, nil, "", fmt.Errorf("%w: metric %q has no values%s (have %v)", ErrNoData, spec.Y, where, t.Metrics())
	}
	seriesKey := spec.Series
	if seriesKey == "" {
		seriesKey = "system"
	}
	// Params other than x and series that take more than one value among
	// the rows of one series and x (a missing param counts as a value).
	varying := map[string]bool{}
	keys := map[string]bool{}
	for _, r := range rows {
		for _, p := range r.Params {
			keys[p.Key] = true
		}
	}
	value := func(r *Row, key string) string {
		if v, ok := paramValue(r.Params, key); ok {
			return v
		}
		return "\x00" // missing
	}
	first := map[[2]string]*Row{} // the first row of each (series, x)
	for _, r := range rows {
		g := [2]string{value(r, seriesKey), value(r, spec.X)}
		f, ok := first[g]
		if !ok {
			first[g] = r
			continue
		}
		for k := range keys {
			if k != spec.X && k != seriesKey && value(r, k) != value(f, k) {
				varying[k] = true
			}
		}
	}
	for _, r := range rows {
		x, ok := paramValue(r.Params, spec.X)
		if !ok {
			return nil, nil, "", fmt.Errorf("results: plot %q: point %s has no param %q", spec.File, r.Point, spec.X)
		}
		label, _ := paramValue(r.Params, seriesKey)
		if seriesKey != "system" { // "K" names itself; a bare "2" does not
			label = seriesKey + "=" + label
		}
		for _, p := range r.Params {
			if varying[p.Key] {
				label += fmt.Sprintf(" %s=%s", p.Key, FormatValue(p.Value))
			}
		}
		label = strings.TrimSpace(label)
		i := slices.IndexFunc(ss, func(s *series) bool { return s.label == label })
		if i < 0 {
			ss = append(ss, &series{label: label, rows: map[string]*Row{}})
			i = len(ss) - 1
		}
		s := ss[i]
		if _, dup := s.rows[x]; !dup {
			s.xs = append(s.xs, x)
		}
		s.rows[x] = r
		if !slices.Contains(xs, x) {
			xs = append(xs, x)
		}
	}
	return ss, xs, rows[0].Unit, nil
}

// PlotSeries is one line, or one series of bars, of a figure as a builder
// takes it from the table: its legend label and, in drawing order, the x
// values (as the points' params write them), their positions on the x
// axis and the rows whose means (and 95% CIs) are drawn there.
type PlotSeries struct {
	Label string
	X     []string
	Pos   []float64
	Rows  []*Row
}

// String is the series as text: "label: (x, mean ± CI half-length) ...".
func (s PlotSeries) String() string {
	var b strings.Builder
	b.WriteString(s.Label + ":")
	for i, r := range s.Rows {
		lo, hi := ciOf(r)
		fmt.Fprintf(&b, " (%s, %s ± %s)", s.X[i], FormatNumber(r.Mean), FormatNumber(max(lo, hi)))
	}
	return b.String()
}

// PlotData is what LinePlot (kind "line") or BarPlot (kind "bar") draws of
// the table for spec, so that tests can pin a figure's content as text.
func PlotData(t *Table, spec PlotSpec) ([]PlotSeries, error) {
	if spec.Kind != "" && spec.Kind != "line" && spec.Kind != "bar" {
		return nil, fmt.Errorf("results: plot %q: kind %q has no series data", spec.File, spec.Kind)
	}
	d, err := newPlotData(t, spec)
	if err != nil {
		return nil, err
	}
	var out []PlotSeries
	for _, s := range d.series {
		ps := PlotSeries{Label: s.label}
		for _, x := range d.order(s, spec.Kind == "bar") {
			ps.X = append(ps.X, x)
			ps.Pos = append(ps.Pos, d.pos(x, spec.Kind == "bar"))
			ps.Rows = append(ps.Rows, s.rows[x])
		}
		out = append(out, ps)
	}
	return out, nil
}

// plotData is a figure's series with their x axis.
type plotData struct {
	series  []*series
	xs      []string           // every x value, in first-seen order
	xpos    map[string]float64 // numeric (or byte) position of each x
	numeric bool
	unit    string // of the metric drawn
}

func newPlotData(t *Table, spec PlotSpec) (*plotData, error) {
	ss, xs, unit, err := groupRows(t, spec)
	if err != nil {
		return nil, err
	}
	xpos, numeric, err := xPositions(xs, spec.XBytes)
	if err != nil {
		return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
	}
	if spec.LogX && !numeric {
		return nil, fmt.Errorf("results: plot %q: a log x axis needs numeric values of %q (have %v)", spec.File, spec.X, xs)
	}
	return &plotData{series: ss, xs: xs, xpos: xpos, numeric: numeric, unit: unit}, nil
}

// order is the drawing order of a series' x values: by position on a
// numeric axis, else (and for bars) as first seen.
func (d *plotData) order(s *series, bars bool) []string {
	order := slices.Clone(s.xs)
	if !bars {
		slices.SortStableFunc(order, func(a, b string) int { return cmpFloat(d.xpos[a], d.xpos[b]) })
	}
	return order
}

// pos is where x sits on the axis: its value, or (categories, bars) its
// index among all x values.
func (d *plotData) pos(x string, bars bool) float64 {
	if bars || !d.numeric {
		return float64(slices.Index(d.xs, x))
	}
	return d.xpos[x]
}

// paramValue is a param's value as shown in legends and on axes ("K/K"
// stays as written).
func paramValue(ps []Param, key string) (string, bool) {
	for _, p := range ps {
		if p.Key == key {
			if s, ok := p.Value.(string); ok {
				return s, true
			}
			return FormatValue(p.Value), true
		}
	}
	return "", false
}

// newPlot starts a figure; unit is the y metric's (from the table's rows).
func newPlot(spec PlotSpec, xLabel, unit string) *plot.Plot {
	p := plot.New()
	p.Title.Text = spec.Title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = spec.Y
	if unit != "" && unit != spec.Y {
		p.Y.Label.Text = fmt.Sprintf("%s (%s)", spec.Y, unit)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.Padding = vg.Points(4)
	if spec.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	} else {
		p.Y.Min = 0 // the papers' figures start at zero; gonum grows it to fit negatives
		p.Y.Tick.Marker = trimmedTicks{}
	}
	return p
}

// trimmedTicks are gonum's default ticks without the zeros it pads labels
// with ("1250.00" becomes "1250"), keeping one precision for all labels.
type trimmedTicks struct{}

func (trimmedTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	decimals := 0
	for _, t := range ticks {
		if t.Label == "" || strings.ContainsAny(t.Label, "eE") {
			if t.Label != "" {
				return ticks // exponent form: leave as is
			}
			continue
		}
		if _, frac, ok := strings.Cut(strings.TrimRight(t.Label, "0"), "."); ok {
			decimals = max(decimals, len(frac))
		}
	}
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', decimals, 64)
		}
	}
	return ticks
}

// ciOfNonNegative is ciOf with the lower end clipped at zero for a metric
// whose samples are all >= 0 (a throughput cannot be negative, although a
// wide t interval of few samples may reach below zero).
func ciOfNonNegative(r *Row) (lo, hi float64) {
	lo, hi = ciOf(r)
	nonNeg := len(r.Samples) > 0
	for _, v := range r.Samples {
		nonNeg = nonNeg && v >= 0
	}
	if nonNeg && r.Mean-lo < 0 {
		lo = r.Mean
	}
	return lo, hi
}

// ciLegend is the legend entry that says what the error bars are.
type ciLegend struct{}

func (ciLegend) Thumbnail(c *draw.Canvas) {
	sty := draw.LineStyle{Color: color.Black, Width: vg.Points(0.75)}
	x := (c.Min.X + c.Max.X) / 2
	lo, hi := c.Min.Y+1, c.Max.Y-1
	c.StrokeLine2(sty, x, lo, x, hi)
	c.StrokeLine2(sty, x-vg.Points(3), lo, x+vg.Points(3), lo)
	c.StrokeLine2(sty, x-vg.Points(3), hi, x+vg.Points(3), hi)
}

const ciLegendText = "95% CI of the mean"

// logTicks marks powers of ten, or falls back to the default ticks when
// the data span less than a decade (a log axis without labels otherwise).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	labeled := 0
	for _, t := range ticks {
		if t.Label != "" && t.Value >= lo && t.Value <= hi {
			labeled++
		}
	}
	if labeled >= 2 {
		return ticks
	}
	return plot.DefaultTicks{}.Ticks(lo, hi)
}

// meanCI is one plotted value: the mean and its 95% CI (CI collapses to
// the mean when undefined).
type meanCI struct {
	plotter.XYs
	plotter.YErrors
}

func ciOf(r *Row) (lo, hi float64) {
	if math.IsInf(r.CILow, 0) || math.IsNaN(r.CILow) || math.IsInf(r.CIHigh, 0) || math.IsNaN(r.CIHigh) {
		return 0, 0
	}
	return r.Mean - r.CILow, r.CIHigh - r.Mean
}

// LinePlot draws the mean of metric spec.Y over param spec.X, one line
// per series, with 95% CI error bars when spec.ErrorBars. A numeric x
// axis keeps its values (log-scaled with spec.LogX, byte sizes with
// spec.XBytes); otherwise x values are evenly spaced categories.
func LinePlot(t *Table, spec PlotSpec) (*plot.Plot, error) {
	data, err := newPlotData(t, spec)
	if err != nil {
		return nil, err
	}
	ss, xs, xpos := data.series, data.xs, data.xpos
	p := newPlot(spec, spec.X, data.unit)
	switch {
	case !data.numeric:
		p.NominalX(xs...)
	case spec.LogX || spec.XBytes || spec.X == "pools" || spec.X == "containers":
		var ticks plot.ConstantTicks
		for _, x := range xs {
			label := x
			if spec.XBytes {
				label = units.Size(xpos[x]).String()
			}
			if !spec.LogX || xpos[x] > 0 {
				ticks = append(ticks, plot.Tick{Value: xpos[x], Label: label})
			}
		}
		p.X.Tick.Marker = ticks
	}
	if spec.LogX {
		p.X.Scale = plot.LogScale{}
	}
	for i, s := range ss {
		var d meanCI
		for _, x := range data.order(s, false) {
			r := s.rows[x]
			if spec.LogY && r.Mean <= 0 || spec.LogX && xpos[x] <= 0 {
				continue
			}
			lo, hi := ciOfNonNegative(r)
			if spec.LogY {
				lo = min(lo, r.Mean*0.999) // keep the bar above zero on a log axis
			}
			d.XYs = append(d.XYs, plotter.XY{X: xpos[x], Y: r.Mean})
			d.YErrors = append(d.YErrors, struct{ Low, High float64 }{lo, hi})
		}
		if len(d.XYs) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(d.XYs)
		if err != nil {
			return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(s.label, l, pts)
		if spec.ErrorBars {
			eb, err := plotter.NewYErrorBars(d)
			if err != nil {
				return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
			}
			eb.Color = plotutil.Color(i)
			p.Add(eb)
		}
	}
	entries := len(ss)
	if spec.ErrorBars {
		p.Legend.Add(ciLegendText, ciLegend{})
		entries++
	}
	makeLegendRoom(p, entries, spec.LogY)
	return p, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// xPositions maps x values to coordinates: their numeric values when all
// parse as numbers (byte sizes with bytes), else 0, 1, 2, ...
func xPositions(xs []string, bytes bool) (map[string]float64, bool, error) {
	pos := map[string]float64{}
	for _, x := range xs {
		if bytes {
			n, err := units.ParseSize(x)
			if err != nil {
				return nil, false, err
			}
			pos[x] = float64(n)
			continue
		}
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			for i, x := range xs {
				pos[x] = float64(i)
			}
			return pos, false, nil
		}
		pos[x] = v
	}
	return pos, true, nil
}

// BarPlot draws grouped bars: one group per x value, centred on its tick,
// one bar per series, bar height the mean of metric spec.Y, with the 95% CI
// of the mean as error bars when spec.ErrorBars. On a log y axis
// (spec.LogY) bars rise from the decade below the lowest value drawn.
func BarPlot(t *Table, spec PlotSpec) (*plot.Plot, error) {
	data, err := newPlotData(t, spec)
	if err != nil {
		return nil, err
	}
	ss, xs := data.series, data.xs
	p := newPlot(spec, spec.X, data.unit)
	floor := 0.0 // where bars start
	if spec.LogY {
		floor = logFloor(ss)
		if floor == 0 {
			return nil, fmt.Errorf("%w: plot %q: no positive %s to draw on a log axis", ErrNoData, spec.File, spec.Y)
		}
		p.Y.Min = floor
	}
	// The groups fill about 70% of the data area's width; the data area is
	// roughly the figure less the y axis.
	group := 0.7 * float64(PlotWidth-2*vg.Centimeter) / float64(len(xs))
	width := vg.Length(min(float64(vg.Points(40)), group/float64(len(ss))))
	for i, s := range ss {
		vals := make(plotter.Values, len(xs))
		var errs barErrors
		for j, x := range xs {
			r, ok := s.rows[x]
			if !ok || spec.LogY && r.Mean <= 0 {
				continue // no bar (zero height above the floor)
			}
			vals[j] = r.Mean - floor
			lo, hi := ciOfNonNegative(r)
			if spec.LogY {
				lo = min(lo, r.Mean-floor)
			}
			errs.x = append(errs.x, float64(j))
			errs.lo = append(errs.lo, r.Mean-lo)
			errs.hi = append(errs.hi, r.Mean+hi)
		}
		b, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
		}
		b.Color = plotutil.Color(i)
		b.LineStyle.Width = vg.Length(0)
		b.Offset = width * vg.Length(float64(i)-float64(len(ss)-1)/2)
		if floor > 0 { // stand the bars on an undrawn base of height floor
			base, err := plotter.NewBarChart(slices.Repeat(plotter.Values{floor}, len(xs)), width)
			if err != nil {
				return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
			}
			base.Offset = b.Offset
			b.StackOn(base)
		}
		p.Add(b)
		if spec.ErrorBars {
			errs.offset = b.Offset
			p.Add(&errs)
		}
		p.Legend.Add(s.label, b)
	}
	entries := len(ss)
	if spec.ErrorBars {
		p.Legend.Add(ciLegendText, ciLegend{})
		entries++
	}
	p.NominalX(xs...)
	makeLegendRoom(p, entries, spec.LogY)
	// Half a group of room on either side, so the outer groups do not sit
	// on the axis ends.
	p.X.Min, p.X.Max = -0.5, float64(len(xs))-0.5
	return p, nil
}

// logFloor is the power of ten a decade below the lowest positive mean
// or CI low of the series (0 if none is positive): the base of bars on a
// log axis, low enough that the shortest bar still shows.
func logFloor(ss []*series) float64 {
	lowest := math.Inf(1)
	for _, s := range ss {
		for _, r := range s.rows {
			if r.Mean <= 0 {
				continue
			}
			lo, _ := ciOfNonNegative(r)
			low := r.Mean
			if r.Mean-lo > 0 {
				low = r.Mean - lo
			}
			lowest = min(lowest, low)
		}
	}
	if math.IsInf(lowest, 1) {
		return 0
	}
	return math.Pow(10, math.Floor(math.Log10(lowest))-1)
}

// barErrors draws the CI bars of one bar series: a vertical line with caps
// at each bar's centre (x is the group index, offset the bar's shift).
type barErrors struct {
	x, lo, hi []float64
	offset    vg.Length
}

func (e *barErrors) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	sty := draw.LineStyle{Color: color.Black, Width: vg.Points(0.75)}
	capW := vg.Points(3)
	for i, x := range e.x {
		cx := trX(x) + e.offset
		if e.hi[i] <= e.lo[i] {
			continue // one sample: no interval
		}
		lo, hi := trY(e.lo[i]), trY(e.hi[i])
		c.StrokeLine2(sty, cx, lo, cx, hi)
		c.StrokeLine2(sty, cx-capW, lo, cx+capW, lo)
		c.StrokeLine2(sty, cx-capW, hi, cx+capW, hi)
	}
}

// DataRange makes the y axis reach the top of the highest CI.
func (e *barErrors) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i, x := range e.x {
		xmin, xmax = min(xmin, x), max(xmax, x)
		ymin, ymax = min(ymin, e.lo[i]), max(ymax, e.hi[i])
	}
	return xmin, xmax, ymin, ymax
}

// makeLegendRoom raises the top of the y axis so that the legend (drawn
// inside the data area, top left) sits above the data instead of on it.
func makeLegendRoom(p *plot.Plot, entries int, logY bool) {
	if entries == 0 {
		return
	}
	dataHeight := float64(PlotHeight - 2*vg.Centimeter) // less title and x axis
	legend := float64(vg.Points(16))*float64(entries) + float64(vg.Points(8))
	frac := min(legend/dataHeight, 0.5)
	lo, hi := p.Y.Min, p.Y.Max
	if logY {
		if lo <= 0 || hi <= lo {
			return
		}
		p.Y.Max = math.Exp(math.Log(lo) + (math.Log(hi)-math.Log(lo))/(1-frac))
		return
	}
	if hi > lo {
		p.Y.Max = lo + (hi-lo)/(1-frac)
	}
}

// ProportionalityPlot draws, per point, each tenant's normalized bandwidth
// (mean of spec.Y at "@p<pool>", or "@c<container>" when the tenants are
// the containers of one pool, divided by the lowest-weight tenant's)
// against its normalized weight, with the ideal y = x line; the legend
// gives each point's PV.
func ProportionalityPlot(t *Table, spec PlotSpec, weights []float64) (*plot.Plot, error) {
	if len(weights) == 0 {
		return nil, fmt.Errorf("results: plot %q: proportionality needs tenant weights", spec.File)
	}
	if spec.Y == "" {
		spec.Y = MetricThroughput
	}
	p := newPlot(spec, "normalized weight", "")
	p.Y.Label.Text = "normalized " + spec.Y
	ideal := plotter.XYs{}
	drawn := 0
	// A starving tenant (weighted allocation without aging) sends its
	// point's normalized bandwidths far above the weight ratio: the y axis
	// then stops at 1.5 times the largest weight ratio (the legend still
	// gives each point's PV).
	ceiling := 1.5 * slices.Max(weights) / slices.Min(weights)
	offScale := false
	for i, pt := range t.Points() {
		bw, ok := tenantMeans(t, pt, spec.Y, len(weights), PoolName)
		if !ok {
			bw, ok = tenantMeans(t, pt, spec.Y, len(weights), ContainerName)
		}
		if !ok {
			continue
		}
		nb, nw, err := NormalizedBandwidths(bw, weights)
		if err != nil {
			return nil, fmt.Errorf("results: plot %q: %s: %w", spec.File, pt, err)
		}
		pv, _ := PV(bw, weights)
		xys := make(plotter.XYs, len(nb))
		for k := range nb {
			xys[k] = plotter.XY{X: nw[k], Y: nb[k]}
			offScale = offScale || nb[k] > ceiling
		}
		slices.SortStableFunc(xys, func(a, b plotter.XY) int { return cmpFloat(a.X, b.X) })
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return nil, fmt.Errorf("results: plot %q: %w", spec.File, err)
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(fmt.Sprintf("%s (PV %.2f)", pt, pv), l, pts)
		if len(ideal) == 0 {
			for _, xy := range xys {
				ideal = append(ideal, plotter.XY{X: xy.X, Y: xy.X})
			}
		}
		drawn++
	}
	if drawn == 0 {
		return nil, fmt.Errorf("%w: no point has %s@p0..p%d or %s@c0..c%d for %d tenants", ErrNoData, spec.Y, len(weights)-1, spec.Y, len(weights)-1, len(weights))
	}
	l, err := plotter.NewLine(ideal)
	if err != nil {
		return nil, err
	}
	l.Dashes = plotutil.Dashes(1)
	p.Add(l)
	p.Legend.Add("ideal (weight ratio)", l)
	makeLegendRoom(p, drawn+1, false)
	if offScale {
		p.Y.Min, p.Y.Max = 0, ceiling
	}
	return p, nil
}

// tenantMeans are the means of y at "@<name(k)>" for tenants 0..n-1, if
// the point has them all.
func tenantMeans(t *Table, pt, y string, n int, name func(int) string) ([]float64, bool) {
	bw := make([]float64, n)
	for k := range bw {
		r := t.Lookup(pt, y+"@"+name(k))
		if r == nil || r.N == 0 {
			return nil, false
		}
		bw[k] = r.Mean
	}
	return bw, true
}

// SavePlot writes dir/base.png and dir/base.svg.
func SavePlot(p *plot.Plot, dir, base string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var files []string
	for _, ext := range []string{".png", ".svg"} {
		f := filepath.Join(dir, base+ext)
		if err := p.Save(PlotWidth, PlotHeight, f); err != nil {
			return files, fmt.Errorf("results: save %s: %w", f, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// DrawPlots builds and saves every spec into the run's plots directory.
// A plot that cannot be drawn (no data yet) is reported and the others are
// still drawn.
func (r *Run) DrawPlots(specs []PlotSpec) ([]string, error) {
	t := r.Table()
	var files []string
	var errs []error
	for _, s := range specs {
		p, err := BuildPlot(t, s, r.Info.Weights)
		if err != nil {
			errs = append(errs, fmt.Errorf("plot %s: %w", s.File, err))
			continue
		}
		fs, err := SavePlot(p, filepath.Join(r.Dir, PlotsDir), s.File)
		files = append(files, fs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return files, errors.Join(errs...)
}
