package results

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// renderSVG renders a plot to SVG text.
func renderSVG(t *testing.T, spec PlotSpec, tab *Table, weights []float64) []byte {
	t.Helper()
	p, err := BuildPlot(tab, spec, weights)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := p.WriterTo(PlotWidth, PlotHeight, "svg")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPlotsGolden(t *testing.T) {
	tab := BuildTable(synthRecords(baseSpec), nil)
	for _, tc := range []struct {
		file string
		spec PlotSpec
	}{
		{"line.svg", PlotSpec{Kind: "line", X: "pools", Y: MetricThroughput, Series: "system", ErrorBars: true, Title: "Fileserver scale-out"}},
		{"line-log.svg", PlotSpec{Kind: "line", X: "pools", Y: "latency_p99_us", Series: "system", LogY: true, Title: "p99 latency"}},
		{"bar.svg", PlotSpec{Kind: "bar", X: "system", Y: MetricThroughput, Series: "pools", ErrorBars: true, Title: "Throughput by system"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a := renderSVG(t, tc.spec, tab, nil)
			b := renderSVG(t, tc.spec, tab, nil)
			if !bytes.Equal(a, b) {
				t.Fatalf("SVG output is not deterministic")
			}
			checkGolden(t, tc.file, a)
			// The legend names every series.
			for _, want := range map[string][]string{"system": {">D<", ">K/K<"}, "pools": {">pools=1<", ">pools=2<", ">pools=4<"}}[tc.spec.Series] {
				if !bytes.Contains(a, []byte(want)) {
					t.Errorf("SVG lacks legend entry %s", want)
				}
			}
		})
	}
	// Proportionality: 4 tenants, bandwidth ∝ weight^1 for a perfect policy.
	weights := []float64{100, 200, 400, 800}
	prop := synthSpec{seed: 5, systems: []string{"D"}, pools: []int{4}, reps: 3, base: map[string]float64{"D": 50}, tenants: weights, skew: 1}
	ptab := BuildTable(synthRecords(prop), weights)
	svg := renderSVG(t, PlotSpec{Kind: "proportionality", Y: MetricThroughput, Title: "Justitia"}, ptab, weights)
	checkGolden(t, "proportionality.svg", svg)
	if !regexp.MustCompile(`PV 0\.0\d`).Match(svg) {
		t.Errorf("proportional bandwidths should show a PV near 0 in the legend")
	}
}

func TestPlotErrors(t *testing.T) {
	tab := BuildTable(synthRecords(baseSpec), nil)
	if _, err := BuildPlot(tab, PlotSpec{Kind: "line", X: "pools", Y: "nope_seconds"}, nil); !errors.Is(err, ErrNoData) {
		t.Errorf("unknown metric: got %v, want ErrNoData", err)
	}
	if _, err := BuildPlot(tab, PlotSpec{Kind: "line", X: "threads", Y: MetricThroughput}, nil); err == nil || !strings.Contains(err.Error(), `"threads"`) {
		t.Errorf("unknown x param: got %v", err)
	}
	if _, err := BuildPlot(tab, PlotSpec{Kind: "proportionality", Y: MetricThroughput}, nil); err == nil {
		t.Errorf("proportionality without weights accepted")
	}
	if _, err := BuildPlot(tab, PlotSpec{Kind: "pie"}, nil); err == nil {
		t.Errorf("unknown kind accepted")
	}
}

func TestDrawPlots(t *testing.T) {
	r := writeRun(t, "", fixtureInfo, synthRecords(baseSpec))
	files, err := r.DrawPlots([]PlotSpec{
		{Kind: "line", X: "pools", Y: MetricThroughput, ErrorBars: true, File: "fig"},
		{Kind: "line", X: "pools", Y: "missing_seconds", File: "empty"},
	})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("want an error naming the plot without data, got %v", err)
	}
	if len(files) != 2 {
		t.Fatalf("got files %v, want fig.png and fig.svg", files)
	}
	f, err := os.Open(filepath.Join(r.Dir, PlotsDir, "fig.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("PNG is %v, want a full figure", b)
	}
}

// TestBenchmarkPlotsGolden: the figures of a benchmark run: copy bandwidth
// over byte sizes on a log x axis, one line per method and process count;
// round-trip latency as bars on a log y axis, restricted to one peer.
func TestBenchmarkPlotsGolden(t *testing.T) {
	tab := BuildTable(benchRecords(1, 1), nil)
	specs := []struct {
		file   string
		spec   PlotSpec
		labels []string
	}{
		{"line-logx-bytes.svg", PlotSpec{Kind: "line", X: "size", XBytes: true, LogX: true, Y: "bandwidth_gbps", Series: "method", ErrorBars: true,
			Title: "Copy bandwidth"}, []string{">method=plain procs=1<", ">method=SMO procs=1<", ">method=SMO procs=2<", ">4KiB<", ">64KiB<", ">1MiB<"}},
		{"bar-log.svg", PlotSpec{Kind: "bar", X: "design", Series: "wait", Y: "rtt_p50_ns", LogY: true, ErrorBars: true,
			Where: []Param{{"peer", "process"}}, Title: "Round trips"}, []string{">wait=spin<", ">wait=futex<", ">pingpong<", ">rcqb<"}},
	}
	var data strings.Builder
	for _, tc := range specs {
		t.Run(tc.file, func(t *testing.T) {
			a := renderSVG(t, tc.spec, tab, nil)
			if b := renderSVG(t, tc.spec, tab, nil); !bytes.Equal(a, b) {
				t.Fatalf("SVG output is not deterministic")
			}
			checkGolden(t, tc.file, a)
			for _, want := range tc.labels {
				if !bytes.Contains(a, []byte(want)) {
					t.Errorf("SVG lacks label %s", want)
				}
			}
			ss, err := PlotData(tab, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			data.WriteString(tc.file + "\n")
			for _, s := range ss {
				data.WriteString("  " + s.String() + "\n")
			}
		})
	}
	checkGolden(t, "plotdata.txt", []byte(data.String()))
}

// TestPlotDataSeries: a param that follows x (producers of a thread
// count) does not split a line; one that tells rows of the same x apart
// does; Where filters; a log or byte axis needs numeric x values.
func TestPlotDataSeries(t *testing.T) {
	var recs []Record
	for _, d := range []string{"a", "b"} {
		for _, pc := range [][2]int64{{1, 1}, {2, 2}, {1, 3}, {3, 1}} {
			ps := []Param{{"design", d}, {"wait", "spin"}, {"producers", pc[0]}, {"consumers", pc[1]}, {"threads", pc[0] + pc[1]}}
			for rep := range 2 {
				recs = append(recs, Record{Kind: KindRepetition, Point: PointName(ps), Params: ps, Repetition: rep, Workload: "queue", OK: true,
					Metrics: []Metric{{Name: "items_per_sec", Unit: "items/s", Value: float64(100*pc[0] + 10*pc[1] + int64(rep))}}})
			}
		}
	}
	tab := BuildTable(recs, nil)
	zipped := []Param{{"consumers", int64(1)}} // 1x1 and 3x1: producers follow threads
	ss, err := PlotData(tab, PlotSpec{X: "threads", Y: "items_per_sec", Series: "design", LogX: true, Where: zipped})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range ss {
		got = append(got, s.String())
	}
	want := []string{"design=a: (2, 110.5 ± 6.353) (4, 310.5 ± 6.353)", "design=b: (2, 110.5 ± 6.353) (4, 310.5 ± 6.353)"}
	if !slices.Equal(got, want) {
		t.Errorf("zipped: got %q, want %q", got, want)
	}
	if ss[0].Pos[1] != 4 {
		t.Errorf("positions %v, want the thread counts", ss[0].Pos)
	}
	// 1x3 and 3x1 share threads=4: producers and consumers name the lines.
	ss, err = PlotData(tab, PlotSpec{X: "threads", Y: "items_per_sec", Series: "design", Where: []Param{{"design", "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, s := range ss {
		got = append(got, s.Label)
	}
	if want := []string{"design=a producers=1 consumers=1", "design=a producers=2 consumers=2", "design=a producers=1 consumers=3",
		"design=a producers=3 consumers=1"}; !slices.Equal(got, want) {
		t.Errorf("crossed: labels %q, want %q", got, want)
	}
	if _, err := PlotData(tab, PlotSpec{X: "threads", Y: "items_per_sec", Where: []Param{{"wait", "futex"}}}); !errors.Is(err, ErrNoData) ||
		!strings.Contains(err.Error(), "wait=futex") {
		t.Errorf("Where without rows: got %v, want ErrNoData naming wait=futex", err)
	}
	if _, err := PlotData(tab, PlotSpec{X: "design", Y: "items_per_sec", LogX: true}); err == nil {
		t.Errorf("log x over categories accepted")
	}
	if _, err := PlotData(tab, PlotSpec{X: "design", Y: "items_per_sec", XBytes: true}); err == nil {
		t.Errorf("byte axis over design names accepted")
	}
}

// TestProportionalityClipsAStarvingTenant: when a tenant's normalized
// bandwidth runs far above the weight ratio (skew 6: the heaviest tenant
// takes nearly everything), the y axis stops at 1.5 times the largest
// weight ratio; a proportional run keeps its automatic axis.
func TestProportionalityClipsAStarvingTenant(t *testing.T) {
	weights := []float64{100, 200}
	for _, c := range []struct {
		skew    float64
		clipped bool
	}{{1, false}, {6, true}} {
		spec := synthSpec{seed: 5, systems: []string{"D"}, pools: []int{2}, reps: 3, base: map[string]float64{"D": 50}, tenants: weights, skew: c.skew}
		p, err := BuildPlot(BuildTable(synthRecords(spec), weights), PlotSpec{Kind: "proportionality", Y: MetricThroughput}, weights)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Y.Max == 3 && p.Y.Min == 0; got != c.clipped {
			t.Errorf("skew %v: y axis %v..%v, clipped at 0..3: %v, want %v", c.skew, p.Y.Min, p.Y.Max, got, c.clipped)
		}
	}
}
