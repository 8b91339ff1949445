package results

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
)

// fixtureConfig is the config.toml of the fixture runs: a valid experiment
// so `polytropon plot` can redraw them.
const fixtureConfig = `name = "fixture"
description = "synthetic fixture run for the compare and plot golden tests"
systems = ["D", "K/K"]

[run]
repetitions = {min = 6, max = 6}
duration = "10s"

[pools]
count = [1, 2, 4]

[[workload]]
name = "fileserver"

[[plot]]
kind = "line"
x = "pools"
y = "throughput_mbps"
error_bars = true
title = "Fixture scale-out"
file = "fixture-scaleout"
`

// fixtureRuns are the run directories under testdata/runs, also used by
// the compare command's golden tests.
var fixtureRuns = map[string]synthSpec{
	"base": baseSpec,
	"same": func() synthSpec { s := baseSpec; s.seed = 2; return s }(),
	"slower": func() synthSpec {
		s := baseSpec
		s.seed = 3
		s.scale = map[string]float64{"D": 0.85}
		return s
	}(),
	"faster": func() synthSpec {
		s := baseSpec
		s.seed = 4
		s.scale = map[string]float64{"K/K": 1.2}
		return s
	}(),
}

func loadFixture(t *testing.T, name string) *Run {
	t.Helper()
	dir := filepath.Join("testdata", "runs", name)
	if *testenv.Update {
		r := writeRun(t, dir, fixtureInfo, synthRecords(fixtureRuns[name]))
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(fixtureConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = r
	}
	r, warn, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 0 {
		t.Fatalf("fixture %s: %v", name, warn)
	}
	if want := len(synthRecords(fixtureRuns[name])); len(r.Records) != want {
		t.Fatalf("fixture %s has %d records, generator makes %d (run with -update)", name, len(r.Records), want)
	}
	return r
}

func TestCompareGolden(t *testing.T) {
	base := loadFixture(t, "base")
	for _, tc := range []struct {
		golden  string
		newer   string
		opts    CompareOptions
		regress int
		improve int
	}{
		{"compare-same.txt", "same", CompareOptions{Threshold: 0.05, Metrics: []string{MetricThroughput, "latency_p99_us"}}, 0, 0},
		{"compare-slower.txt", "slower", CompareOptions{Threshold: 0.05, Metrics: []string{MetricThroughput, "latency_p99_us"}}, 6, 0},
		{"compare-slower-welch.txt", "slower", CompareOptions{Threshold: 0.05, Test: "welch", Metrics: []string{MetricThroughput}}, 3, 0},
		{"compare-faster.txt", "faster", CompareOptions{Threshold: 0.05, Metrics: []string{MetricThroughput}}, 0, 3},
		// A threshold above the change: significant but not a regression.
		{"compare-slower-lenient.txt", "slower", CompareOptions{Threshold: 0.5, Metrics: []string{MetricThroughput}}, 0, 0},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			rep, err := Compare(base, loadFixture(t, tc.newer), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := rep.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, buf.Bytes())
			improve := 0
			for _, m := range rep.Metrics {
				for _, c := range m.Rows {
					if c.Improvement {
						improve++
					}
				}
			}
			if got := len(rep.Regressions()); got != tc.regress || improve != tc.improve {
				t.Errorf("got %d regressions, %d improvements; want %d, %d", got, improve, tc.regress, tc.improve)
			}
			if err := rep.Err(); (err != nil) != (tc.regress > 0) || (err != nil && !errors.Is(err, ErrRegression)) {
				t.Errorf("Err: got %v", err)
			}
		})
	}
}

func TestCompareDirections(t *testing.T) {
	base := loadFixture(t, "base")
	slower := loadFixture(t, "slower")
	rep, err := Compare(base, slower, CompareOptions{Threshold: 0.05, Metrics: []string{MetricThroughput, "latency_p99_us"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Metrics {
		for _, c := range m.Rows {
			isD := strings.HasPrefix(c.Point, "system=D/")
			// D got slower: throughput down (higher is better) and latency
			// up (lower is better) are both regressions; K/K unchanged.
			if c.Regression != isD {
				t.Errorf("%s %s: regression=%v (delta %+.3f p=%.3f), want %v", c.Point, c.Metric, c.Regression, c.Delta, c.P, isD)
			}
			if isD && m.Metric == MetricThroughput && c.Delta > -0.1 {
				t.Errorf("%s: delta %+.3f, want about -0.15", c.Point, c.Delta)
			}
			if isD && m.Metric == "latency_p99_us" && c.Delta < 0.1 {
				t.Errorf("%s latency: delta %+.3f, want about +0.18", c.Point, c.Delta)
			}
		}
	}
	if _, err := Compare(base, slower, CompareOptions{Metrics: []string{"no_such_metric"}}); err == nil {
		t.Errorf("unknown metric accepted")
	}
	if _, err := Compare(base, slower, CompareOptions{Test: "ks"}); err == nil {
		t.Errorf("unknown test accepted")
	}
	// Default metrics: everything both runs have, without per-pool ones.
	rep, err = Compare(base, base, CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Metrics {
		if strings.Contains(m.Metric, "@") {
			t.Errorf("default metrics include per-pool %s", m.Metric)
		}
		for _, c := range m.Rows {
			if c.Significant || c.Delta != 0 {
				t.Errorf("run against itself: %s %s significant=%v delta=%v", c.Point, c.Metric, c.Significant, c.Delta)
			}
		}
	}
	if len(rep.Metrics) < 10 {
		t.Errorf("default metrics: got %d, want every shared metric", len(rep.Metrics))
	}
}

func TestMetricInfo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		higher bool
		known  bool
	}{
		{"throughput_mbps", true, true}, {"ops_per_sec@p3", true, true}, {"latency_p99_us:put", false, true},
		{"stress-rnd.throughput_mbps", true, true}, {"counter:errors", false, true}, {"pv", false, true}, {"jain", true, true},
		{"cpu_steal_seconds", false, false}, {"memory_peak_bytes@p1", false, false}, {"iops_read", true, false},
	} {
		mi := DescribeMetric(tc.name)
		if mi.HigherIsBetter != tc.higher || mi.Known != tc.known {
			t.Errorf("%s: got higher=%v known=%v, want %v %v", tc.name, mi.HigherIsBetter, mi.Known, tc.higher, tc.known)
		}
	}
	for name, want := range map[string]bool{"cpu_steal_seconds": true, "lock_waits@p1": true, "lock_wait_seconds{backend=k}": true,
		"throughput_mbs": false, "latency_p95_us": false, "Speed": false, "cpu steal": false} {
		if got := KnownMetric(name, true); got != want {
			t.Errorf("KnownMetric(%q, collectors): got %v, want %v", name, got, want)
		}
	}
	if KnownMetric("cpu_steal_seconds", false) {
		t.Errorf("KnownMetric: collector metrics need collectors")
	}
}
