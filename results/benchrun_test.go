package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A benchmark that measures its own metrics (as polytropon queuebench and
// copybench do): repetition records with a workload and declared metrics,
// no instances.

var benchMetrics = []MetricInfo{
	{Name: "bandwidth_gbps", Unit: "GB/s", HigherIsBetter: true},
	{Name: "copy_ns", Unit: "ns/op"},
	{Name: "copies", Unit: "copies", HigherIsBetter: true}, // a count: the name alone would guess lower-is-better
	{Name: "rtt_p50_ns", Unit: "p50-ns"},
}

var benchInfo = Info{Experiment: "copybench", Start: fixedTime, End: fixedTime.Add(time.Minute), Host: fixtureInfo.Host, Metrics: benchMetrics}

// benchRecords: copies of 3 sizes by plain (one process) and SMO (one and
// two processes), and round trips of a ping-pong baseline and rcqb with
// two waits; rcqb/futex fails its repetition 1. speed scales bandwidth
// up and times down.
func benchRecords(seed uint64, speed float64) []Record {
	rng := rand.New(rand.NewPCG(seed, 11))
	noise := func() float64 { return 1 + 0.02*(rng.Float64()*2-1) }
	var recs []Record
	add := func(workload string, ps []Param, reps int, failRep int, metrics func() []Metric) {
		for rep := range reps {
			rec := Record{Kind: KindRepetition, Point: PointName(ps), Params: ps, Repetition: rep, Workload: workload, Time: fixedTime}
			if rep == failRep {
				rec.Error = "peer died"
			} else {
				rec.OK, rec.Metrics = true, metrics()
			}
			recs = append(recs, rec)
		}
	}
	recs = append(recs, Record{Kind: KindNote, Note: "latencies exclude one clock read (21.5 ns)", Time: fixedTime})
	for _, size := range []string{"4KiB", "64KiB", "1MiB"} {
		for _, m := range []struct {
			method string
			procs  int64
			gbps   float64
		}{{"plain", 1, 20}, {"SMO", 1, 12}, {"SMO", 2, 7}} {
			ps := []Param{{"method", m.method}, {"procs", m.procs}, {"size", size}}
			add("copy", ps, 3, -1, func() []Metric {
				g := m.gbps * speed * noise()
				return []Metric{{Name: "bandwidth_gbps", Unit: "GB/s", Value: g}, {Name: "copy_ns", Unit: "ns/op", Value: 4096 / g},
					{Name: "copies", Unit: "copies", Value: float64(int(1000 * g))}}
			})
		}
	}
	for _, d := range []struct {
		design, wait string
		ns           float64
	}{{"pingpong", "spin", 110}, {"rcqb", "spin", 390}, {"rcqb", "futex", 30000}} {
		ps := []Param{{"design", d.design}, {"wait", d.wait}, {"peer", "process"}}
		fail := -1
		if d.wait == "futex" {
			fail = 1
		}
		add("round-trip", ps, 4, fail, func() []Metric {
			return []Metric{{Name: "rtt_p50_ns", Unit: "p50-ns", Value: d.ns / speed * noise()}}
		})
	}
	return recs
}

func TestBenchmarkRunGolden(t *testing.T) {
	r := writeRun(t, "", benchInfo, benchRecords(1, 1))
	tab := r.Table()
	// Only the measured metrics: no workload metrics derived from instances.
	if got, want := tab.Metrics(), []string{"bandwidth_gbps", "copies", "copy_ns", "rtt_p50_ns"}; !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	row := tab.Lookup("method=SMO/procs=2/size=64KiB", "bandwidth_gbps")
	if row == nil || row.N != 3 || row.Unit != "GB/s" || row.Workload != "copy" {
		t.Errorf("SMO procs=2 64KiB bandwidth row: %+v", row)
	}
	if row := tab.Lookup("design=rcqb/wait=futex/peer=process", "rtt_p50_ns"); row == nil || row.N != 3 || row.Workload != "round-trip" {
		t.Errorf("rcqb futex row: %+v, want the 3 OK repetitions", row)
	}
	if len(tab.Failures) != 1 || tab.Failures[0].Point != "design=rcqb/wait=futex/peer=process" || tab.Failures[0].Repetition != 1 || tab.Failures[0].Error != "peer died" {
		t.Errorf("failures %+v", tab.Failures)
	}
	if len(tab.Notes) != 1 || tab.Notes[0].String() != "latencies exclude one clock read (21.5 ns)" {
		t.Errorf("run-level note: %+v", tab.Notes)
	}
	var wide bytes.Buffer
	if err := tab.WriteWide(&wide); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bench-wide.txt", wide.Bytes())
	// Chosen columns, in the order given; a workload shows those it has.
	var chosen bytes.Buffer
	if err := tab.WriteWide(&chosen, "copy_ns", "rtt_p50_ns", "bandwidth_gbps", "no_such_metric"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(chosen.String(), "\n")
	if h := strings.Fields(lines[1]); !slices.Equal(h, []string{"method", "procs", "size", "n", "copy_ns", "bandwidth_gbps"}) {
		t.Errorf("copy header with chosen columns: %q", h)
	}
	if i := slices.Index(lines, ""); i < 0 || !slices.Equal(strings.Fields(lines[i+2]), []string{"design", "wait", "peer", "n", "rtt_p50_ns"}) {
		t.Errorf("round-trip header with chosen columns:\n%s", chosen.String())
	}
	for _, want := range []string{"copy: median", "round-trip: median", "failed: design=rcqb/wait=futex/peer=process repetition 1: peer died",
		"note: latencies exclude one clock read (21.5 ns)"} {
		if !strings.Contains(wide.String(), want) {
			t.Errorf("wide table lacks %q", want)
		}
	}
	bench, err := os.ReadFile(filepath.Join(r.Dir, BenchFile))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bench-declared.txt", bench)
	// Each point is named after its own workload; declared metrics carry
	// their declared units.
	var copies, trips int
	for _, line := range strings.Split(string(bench), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "BenchmarkCopy/method="):
			copies++
			if len(f) != 8 || f[3] != "GB/s" || f[5] != "copies" || f[7] != "ns/op" {
				t.Errorf("copy line %q", line)
			}
		case strings.HasPrefix(line, "BenchmarkRoundTrip/design="):
			trips++
			if len(f) != 4 || f[3] != "p50-ns" {
				t.Errorf("round-trip line %q", line)
			}
		}
	}
	if copies != 9*3 || trips != 3*4-1 {
		t.Errorf("%d copy and %d round-trip lines, want 27 and 11", copies, trips)
	}
	// host.json keeps the declarations.
	back, _, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Info.Metrics, benchMetrics) {
		t.Errorf("declared metrics after Open: %+v", back.Info.Metrics)
	}
}

func TestDescribeDeclared(t *testing.T) {
	info := benchInfo
	if mi := info.Describe("copies"); !mi.Known || !mi.HigherIsBetter || mi.Unit != "copies" {
		t.Errorf("declared count: %+v", mi)
	}
	if DescribeMetric("copies").HigherIsBetter {
		t.Errorf("the name alone now guesses higher-is-better for copies: the test no longer shows the declaration matters")
	}
	if mi := info.Describe(MetricThroughput); mi != DescribeMetric(MetricThroughput) {
		t.Errorf("undeclared metric: %+v", mi)
	}
	b, err := json.Marshal(benchMetrics[2])
	if err != nil || string(b) != `{"name":"copies","unit":"copies","higher_is_better":true}` {
		t.Errorf("JSON %s %v", b, err)
	}
}

// TestCompareDeclared: compare follows the declared directions: higher
// bandwidth and copy counts, lower times, are improvements.
func TestCompareDeclared(t *testing.T) {
	dir := t.TempDir()
	base := writeRun(t, filepath.Join(dir, "base"), benchInfo, benchRecords(1, 1))
	faster := writeRun(t, filepath.Join(dir, "faster"), benchInfo, benchRecords(2, 1.25))
	rep, err := Compare(base, faster, CompareOptions{Threshold: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Errorf("a faster run reported as a regression: %v", err)
	}
	improved := map[string]int{}
	for _, m := range rep.Metrics {
		for _, c := range m.Rows {
			if c.Improvement {
				improved[m.Metric]++
			}
		}
	}
	// 4 repetitions of the round trips: Mann-Whitney reaches p < 0.05;
	// 3 of the copies cannot (p >= 0.1), so those are "~".
	if improved["rtt_p50_ns"] != 2 {
		t.Errorf("improvements %v, want both complete round-trip points", improved)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "compare-declared.txt", text.Bytes())
	if !strings.Contains(text.String(), "copies (copies, higher is better)") {
		t.Errorf("compare does not use the declared unit and direction:\n%s", text.String())
	}
	slower, err := Compare(faster, base, CompareOptions{Threshold: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if err := slower.Err(); !errors.Is(err, ErrRegression) || !strings.Contains(err.Error(), "rtt_p50_ns") {
		t.Errorf("a slower run: got %v, want a round-trip regression", err)
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 110: "110", 2696: "2696", 9999.4: "9999", 9999.7: "10.00k", 12377: "12.38k",
		2889664: "2.890M", 1e7: "10.00M", 5.2e9: "5.200G", 0.25: "0.25", -12377: "-12.38k", 999960: "1.000M"} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}
