package results

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
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
