package results

import (
	"errors"
	"slices"
	"testing"
)

func TestBreakdownPlot(t *testing.T) {
	row := func(system, noise, metric string, mean float64) *Row {
		return &Row{Point: "system=" + system + "/noise=" + noise, Metric: metric,
			Params:  []Param{{"system", system}, {"noise", noise}},
			Summary: Summary{N: 3, Mean: mean}}
	}
	tab := &Table{Rows: []*Row{
		row("K", "false", "steal_attr_seconds{class=kworker}@p1", 1),
		row("K", "randomio", "steal_attr_seconds{class=kworker}@p1", 2),
		row("K", "randomio", "steal_attr_seconds{class=flusher}@p1", 5),
		row("D", "randomio", "steal_attr_seconds{class=pool:p0}@p1", 0.5),
		row("D", "randomio", "steal_attr_seconds{class=kworker}@p0", 9), // another pool
		row("D", "randomio", "cpu_steal_seconds@p1", 9),                 // not labelled
	}}
	spec := PlotSpec{Kind: "breakdown", X: "noise", Y: "steal_attr_seconds@p1", Series: "system", File: "b"}
	d, err := breakdownOf(tab, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Three bars (K alone, K beside RND, D beside RND), stacked by class,
	// the largest class first; another pool's and unlabelled values stay
	// out.
	if want := []breakdownBar{{"false", "K"}, {"randomio", "K"}, {"randomio", "D"}}; !slices.Equal(d.bars, want) {
		t.Errorf("bars %v, want %v", d.bars, want)
	}
	if want := []string{"flusher", "kworker", "pool:p0"}; !slices.Equal(d.segs, want) {
		t.Errorf("segments %v, want %v", d.segs, want)
	}
	if d.values[1]["flusher"] != 5 || d.values[1]["kworker"] != 2 || d.values[2]["pool:p0"] != 0.5 || d.values[0]["flusher"] != 0 {
		t.Errorf("values %v", d.values)
	}
	if _, err := BreakdownPlot(tab, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := BreakdownPlot(tab, PlotSpec{Kind: "breakdown", X: "noise", Y: "steal_attr_seconds@p9", File: "b"}); !errors.Is(err, ErrNoData) {
		t.Errorf("pool without values: %v, want ErrNoData", err)
	}
}
