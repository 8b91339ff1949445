package results

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// series makes values around level[i] for the runs of segment i, with
// relative normal noise.
func synthSeries(rng *rand.Rand, noise float64, segs ...struct {
	n     int
	level float64
}) []float64 {
	var xs []float64
	for _, s := range segs {
		for range s.n {
			xs = append(xs, s.level*(1+noise*rng.NormFloat64()))
		}
	}
	return xs
}

type seg = struct {
	n     int
	level float64
}

func TestChangePoints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noise float64
		segs  []seg
		want  []int // change point indexes
	}{
		{"flat", 0.02, []seg{{30, 100}}, nil},
		{"one step down 10%", 0.02, []seg{{15, 100}, {15, 90}}, []int{15}},
		{"down then recovered", 0.02, []seg{{12, 100}, {10, 85}, {12, 100}}, []int{12, 22}},
		{"2% step is below the minimum change", 0.002, []seg{{15, 100}, {15, 98}}, nil},
		{"slow noise only", 0.05, []seg{{40, 100}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(5) {
				rng := rand.New(rand.NewPCG(seed, 9))
				xs := synthSeries(rng, tc.noise, tc.segs...)
				cps := ChangePoints(xs, HistoryOptions{MinChange: 0.05, Alpha: 0.05, Permutations: 199, MinSegment: 3}, rng)
				var got []int
				for _, c := range cps {
					got = append(got, c.Index)
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("seed %d: change points %v (%+v), want %v", seed, got, cps, tc.want)
				}
			}
		})
	}
}

// TestHistory: runs of one host and point over commits: the series is in
// time order, the change is found at the commit that made it, the
// baseline is the segment since, and the trend plot is drawn.
func TestHistory(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	var runs []*Run
	for i := range 16 {
		level := 100.0
		if i >= 8 {
			level = 80
		}
		var recs []Record
		for r := range 3 {
			recs = append(recs, simRecord("system=D", r, level*(1+0.01*rng.NormFloat64())))
		}
		host := simHost
		host.GitCommit = fmt.Sprintf("c%02d0000000000000", i)
		runs = append(runs, &Run{Dir: fmt.Sprintf("run%02d", i), Records: recs,
			Info: Info{Experiment: "sim", MainMetric: MetricThroughput, Host: host, Start: fixedTime.Add(time.Duration(i) * time.Hour)}})
	}
	runs[3], runs[12] = runs[12], runs[3] // given out of order
	series, err := History(runs, HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 {
		t.Fatalf("%d series, want 1", len(series))
	}
	s := series[0]
	if len(s.Entries) != 16 || s.Entries[3].Commit != "c03000000000" {
		t.Errorf("entries %+v, want 16 in time order", s.Entries)
	}
	if len(s.Changes) != 1 || s.Changes[0].Index != 8 || s.Changes[0].Commit != "c08000000000" || s.Changes[0].Change > -0.15 {
		t.Errorf("changes %+v, want one of about -20%% at run 9 (c08)", s.Changes)
	}
	if s.BaselineN != 8 || s.BaselineMean < 78 || s.BaselineMean > 82 {
		t.Errorf("baseline %g over %d runs, want about 80 over 8", s.BaselineMean, s.BaselineN)
	}
	var out strings.Builder
	if err := WriteHistory(&out, series); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "c08000000000 -20") {
		t.Errorf("history table lacks the change:\n%s", out.String())
	}
	dir := t.TempDir()
	files, err := HistoryPlots(series, dir)
	if err != nil || len(files) != 2 {
		t.Fatalf("plots %v: %v", files, err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "history-throughput_mbps.svg"))
	if err != nil || !strings.Contains(string(svg), "change point") {
		t.Errorf("trend plot lacks the change point legend (%v)", err)
	}
}
