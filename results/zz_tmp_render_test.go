package results

import (
	"os"
	"testing"
)

func TestTmpRender(t *testing.T) {
	dir := os.Getenv("RENDER_DIR")
	if dir == "" {
		t.Skip()
	}
	tab := BuildTable(synthRecords(baseSpec), nil)
	for name, spec := range map[string]PlotSpec{
		"bar":   {Kind: "bar", X: "system", Y: MetricThroughput, Series: "pools", Title: "Throughput by system", ErrorBars: true},
		"bar2":  {Kind: "bar", X: "pools", Y: MetricThroughput, Series: "system", Title: "Throughput by pools", ErrorBars: true},
		"line":  {Kind: "line", X: "pools", Y: MetricThroughput, Series: "system", ErrorBars: true, Title: "line"},
		"linelog": {Kind: "line", X: "pools", Y: "latency_p99_us", Series: "system", LogY: true, Title: "p99 latency"},
	} {
		p, err := BuildPlot(tab, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SavePlot(p, dir, name); err != nil {
			t.Fatal(err)
		}
	}
	one := synthSpec{seed: 3, systems: []string{"K"}, pools: []int{1, 2}, reps: 3, base: map[string]float64{"K": 800}, noise: 0.1}
	tab = BuildTable(synthRecords(one), nil)
	p, err := BuildPlot(tab, PlotSpec{Kind: "bar", X: "pools", Y: MetricThroughput, Series: "system", Title: "Fileserver throughput (quick)", ErrorBars: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	SavePlot(p, dir, "quick")
	weights := []float64{100, 200, 400, 800}
	prop := synthSpec{seed: 5, systems: []string{"D"}, pools: []int{4}, reps: 3, base: map[string]float64{"D": 50}, tenants: weights, skew: 1}
	ptab := BuildTable(synthRecords(prop), weights)
	p, err = BuildPlot(ptab, PlotSpec{Kind: "proportionality", Y: MetricThroughput, Title: "Justitia"}, weights)
	if err != nil {
		t.Fatal(err)
	}
	SavePlot(p, dir, "prop")
}
