package ipcbench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/internal/testenv"
	"polytropon/ipc/queue"
	"polytropon/results"
)

// roundFactors spread the rounds of a hand-made point around its value.
var roundFactors = []float64{0.98, 1, 1.03}

// fixedRTTPoints are hand-made round-trip points: the ping-pong baseline
// with both peers, two designs across processes and one whose peer died.
func fixedRTTPoints() []RTTPoint {
	var pts []RTTPoint
	for _, c := range []struct {
		design, peer         string
		mean, p50, p99, p999 float64
		n                    int64
	}{
		{DesignPingPong, PeerThread, 410, 380, 900, 4000, 1000},
		{DesignPingPong, PeerProcess, 450, 400, 950, 5000, 1000},
		{"rcqb", PeerProcess, 1300, 1000, 3000, 20000, 900},
		{"vyukov", PeerProcess, 1500, 1400, 3500, 30000, 800},
	} {
		p := RTTPoint{Design: c.design, Wait: "spin", Peer: c.peer}
		for _, f := range roundFactors {
			d := func(ns float64) time.Duration { return time.Duration(ns * f) }
			p.PerRound = append(p.PerRound, RTTRound{LatencyStats: LatencyStats{Count: c.n, Mean: d(c.mean), P50: d(c.p50), P99: d(c.p99), P999: d(c.p999)}})
		}
		pts = append(pts, p)
	}
	died := errors.New("lcrq/spin/process: peer died")
	pts = append(pts, RTTPoint{Design: "lcrq", Wait: "spin", Peer: PeerProcess, Err: died, PerRound: []RTTRound{{Err: died}}})
	return pts
}

// fixedQueuePoints: rcqb 10x the channel's throughput at 1+1 and 2+2
// threads, lcrq 5x.
func fixedQueuePoints() []QueuePoint {
	var pts []QueuePoint
	for _, d := range []struct {
		name      string
		tput, enq float64
	}{{"rcqb", 1e7, 50}, {"channel", 1e6, 400}, {"lcrq", 5e6, 80}} {
		for _, n := range []int{1, 2} {
			p := QueuePoint{Design: d.name, Wait: queue.Spin, Producers: n, Consumers: n}
			for _, f := range roundFactors {
				p.PerRound = append(p.PerRound, QueueRound{Items: int64(d.tput / float64(n) * f / 10), Elapsed: 100 * time.Millisecond, EnqNs: d.enq * float64(n) * f})
			}
			pts = append(pts, p)
		}
	}
	return pts
}

// fixedCopyPoints: every method and process count at 4 KiB and 1 MiB, the
// median copy taking 0.8 of the mean time.
func fixedCopyPoints() []CopyPoint {
	var pts []CopyPoint
	for _, m := range []struct {
		name  string
		procs int
		gbps  float64
	}{{"plain", 1, 20}, {"SMC", 1, 8}, {"SMC", 2, 5}, {"SMO", 1, 12}, {"SMO", 2, 7}, {"CMA", 1, 10}, {"CMA", 2, 9}} {
		for _, size := range []int{4 << 10, 1 << 20} {
			p := CopyPoint{Method: m.name, Procs: m.procs, Size: size}
			for _, f := range roundFactors {
				each := durationFor(size, 1, m.gbps*f)
				p.PerRound = append(p.PerRound, CopyRound{Copies: 1000, Elapsed: 1000 * each, P50: time.Duration(0.8 * float64(each))})
			}
			pts = append(pts, p)
		}
	}
	return pts
}

func durationFor(size, copies int, gbps float64) (d time.Duration) {
	return time.Duration(float64(size) * float64(copies) / gbps) // bytes / (bytes per ns)
}

func queueBenchRecords() []results.Record {
	var recs []results.Record
	for _, p := range fixedRTTPoints() {
		recs = append(recs, p.Records()...)
	}
	for _, p := range fixedQueuePoints() {
		recs = append(recs, p.Records()...)
	}
	return recs
}

func copyBenchRecords() []results.Record {
	var recs []results.Record
	for _, p := range fixedCopyPoints() {
		recs = append(recs, p.Records()...)
	}
	return recs
}

var fixedTime = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// fixedInfo is host provenance that does not depend on the test machine.
func fixedInfo(workloads ...string) results.Info {
	return results.Info{Start: fixedTime, Metrics: declare(workloads...), Host: results.Host{Hostname: "fixture", Kernel: "Linux 6.18.0 x86_64",
		CPUModel: "Fixture CPU @ 2.0GHz", Cores: 2, CgroupMode: "v2", GoVersion: "go1.26", CommandLine: []string{"polytropon", "queuebench"}}}
}

// storeRun writes recs as a finished run directory under a temporary
// directory, as QueueBench and CopyBench do.
func storeRun(t *testing.T, name string, info results.Info, recs []results.Record, plots []results.PlotSpec) (*results.Run, string) {
	t.Helper()
	out, err := newOutput(t.TempDir(), name, map[string]any{"test": true}, info)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Add(recs...); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := out.report(&log, plots, func(*results.Table) string { return "goals\n" }); err != nil {
		t.Fatal(err)
	}
	run, warn, err := results.Open(out.Run().Dir)
	if err != nil || len(warn) > 0 {
		t.Fatalf("open the stored run: %v %v", err, warn)
	}
	return run, log.String()
}

// checkGolden compares got with testdata/name (testenv.Golden).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	testenv.Golden(t, name, []byte(got))
}

// TestOutputFormatsGolden pins what a run prints and stores: the wide
// table, bench.txt (benchstat), summary.csv and the goal verdicts.
func TestOutputFormatsGolden(t *testing.T) {
	qrun, _ := storeRun(t, "queuebench", fixedInfo(WorkloadRoundTrip, WorkloadQueue), queueBenchRecords(), nil)
	crun, _ := storeRun(t, "copybench", fixedInfo(WorkloadCopy), copyBenchRecords(), nil)
	var b bytes.Buffer
	for _, run := range []*results.Run{qrun, crun} {
		fmt.Fprintf(&b, "-- %s: table --\n", run.Info.Experiment)
		var columns []string
		for _, m := range run.Info.Metrics {
			columns = append(columns, m.Name)
		}
		if err := run.Table().WriteWide(&b, columns...); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{results.BenchFile, results.SummaryFile} {
			text, err := os.ReadFile(filepath.Join(run.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "\n-- %s: %s --\n%s", run.Info.Experiment, f, text)
		}
		b.WriteString("\n")
	}
	b.WriteString("-- goals --\n")
	b.WriteString(QueueGoals(qrun.Table(), "rcqb", "channel"))
	b.WriteString(CopyGoals(crun.Table(), 1<<20))
	checkGolden(t, "table.golden", b.String())

	// One benchstat line per OK round, named after the point's workload.
	bench, _ := os.ReadFile(filepath.Join(qrun.Dir, results.BenchFile))
	if n := strings.Count(string(bench), "\nBenchmarkRoundTrip/design="); n != 4*3 {
		t.Errorf("%d round-trip lines, want 12 (the failed point has none)", n)
	}
	if !strings.Contains(string(bench), "\nBenchmarkQueue/design=rcqb/wait=spin/producers=2/consumers=2/threads=4/work=0s 1 ") {
		t.Errorf("bench.txt lacks a Queue line:\n%s", bench)
	}
	goals := QueueGoals(qrun.Table(), "rcqb", "channel")
	for _, want := range []string{"lcrq       failed: lcrq/spin/process: peer died", "=> rcqb/channel throughput 10.00x..10.00x, goal >= 5: met"} {
		if !strings.Contains(goals, want) {
			t.Errorf("goals lack %q:\n%s", want, goals)
		}
	}
}

// TestPlotsGolden pins the figures' specs and what results draws of the
// fixed points for each.
func TestPlotsGolden(t *testing.T) {
	qtab := results.BuildTable(queueBenchRecords(), nil)
	ctab := results.BuildTable(copyBenchRecords(), nil)
	var b strings.Builder
	for _, c := range []struct {
		tab   *results.Table
		specs []results.PlotSpec
	}{{qtab, QueuePlots([]string{"spin"})}, {qtab, RTTPlots([]string{PeerThread, PeerProcess})}, {ctab, CopyPlots()}} {
		for _, s := range c.specs {
			where := "every point"
			if len(s.Where) > 0 {
				where = results.PointName(s.Where)
			}
			fmt.Fprintf(&b, "%s: %s %s over %s by %s at %s (logx %v, logy %v, bytes %v): %s\n", s.File, s.Kind, s.Y, s.X, s.Series,
				where, s.LogX, s.LogY, s.XBytes, s.Title)
			series, err := results.PlotData(c.tab, s)
			if err != nil {
				t.Fatalf("%s: %v", s.File, err)
			}
			for _, ser := range series {
				b.WriteString("  " + ser.String() + "\n")
			}
			if _, err := results.BuildPlot(c.tab, s, nil); err != nil {
				t.Errorf("%s: %v", s.File, err)
			}
		}
	}
	checkGolden(t, "plots.golden", b.String())
}

// TestReportStoresRun: a stored run is a complete results run directory
// with the figures; a figure without points is a warning, not a failure;
// the printed report has the table and the goals.
func TestReportStoresRun(t *testing.T) {
	plots := append(QueuePlots([]string{"spin", "futex"}), RTTPlots([]string{PeerProcess})...) // no futex points
	run, log := storeRun(t, "queuebench", fixedInfo(WorkloadRoundTrip, WorkloadQueue), queueBenchRecords(), plots)
	if !run.Complete() {
		t.Errorf("run %s is incomplete", run.Dir)
	}
	for _, f := range []string{results.ConfigFile, results.HostFile, results.SamplesFile, results.SummaryFile, results.BenchFile,
		"plots/queue-throughput-spin.png", "plots/queue-enqlatency-spin.svg", "plots/rtt-process-p50.png", "plots/rtt-process-p99.svg"} {
		st, err := os.Stat(filepath.Join(run.Dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size %v)", f, err, st)
		}
	}
	if _, err := os.Stat(filepath.Join(run.Dir, "plots/queue-throughput-futex.png")); err == nil {
		t.Errorf("a figure was drawn for a wait without points")
	}
	for _, want := range []string{"round-trip: median ± 95% CI", "queue: median ± 95% CI", "failed: design=lcrq/wait=spin/peer=process repetition 0: lcrq/spin/process: peer died",
		"goals\n", "run " + run.Dir + ": ", "4 figures (png+svg)", "warning: plot queue-throughput-futex: results: nothing to plot"} {
		if !strings.Contains(log, want) {
			t.Errorf("report lacks %q:\n%s", want, log)
		}
	}
	if !slices.Equal(run.Info.Metrics, declare(WorkloadRoundTrip, WorkloadQueue)) || run.Info.Experiment != "queuebench" {
		t.Errorf("host.json: experiment %q, metrics %+v", run.Info.Experiment, run.Info.Metrics)
	}
	var settings map[string]any
	if _, err := toml.Decode(string(run.Config), &settings); err != nil || settings["test"] != true {
		t.Errorf("config.toml %q: %v", run.Config, err)
	}
	// polytropon plot redraws the figures of what the run measured.
	specs, ok := Plots(run)
	var files []string
	for _, s := range specs {
		files = append(files, s.File)
	}
	if want := []string{"rtt-thread-p50", "rtt-thread-p99", "rtt-process-p50", "rtt-process-p99", "queue-throughput-spin", "queue-enqlatency-spin"}; !ok || !slices.Equal(files, want) {
		t.Errorf("Plots: %v %v, want %v", ok, files, want)
	}
	run.Info.Experiment = "fixture"
	if _, ok := Plots(run); ok {
		t.Errorf("Plots of a run that is not the bake-off's")
	}
}

// TestPointNames: names come from the typed params (values that would
// break a benchmark name are sanitized); sizes read as units.Size writes
// them; every metric is declared once per workload with a distinct unit.
func TestPointNames(t *testing.T) {
	q := QueuePoint{Design: "a/b c", Wait: queue.SpinFutex, Producers: 3, Consumers: 1, Work: 1500 * time.Nanosecond}
	if got, want := q.Name(), "design=a_b_c/wait=spin-futex/producers=3/consumers=1/threads=4/work=1.5µs"; got != want {
		t.Errorf("queue point name %q, want %q", got, want)
	}
	for n, want := range map[int]string{4096: "4KiB", 1 << 20: "1MiB", 1000: "1000B", 1<<20 + 3: "1048579B"} {
		if got := (CopyPoint{Method: "SMO", Procs: 2, Size: n}).Name(); got != "method=SMO/procs=2/size="+want {
			t.Errorf("copy point of %d bytes: %q, want size=%s", n, got, want)
		}
	}
	if got := (RTTPoint{Design: DesignPingPong, Wait: "spin", Peer: PeerThread}).Name(); got != "design=pingpong/wait=spin/peer=thread" {
		t.Errorf("ping-pong point %q", got)
	}
	for w, ms := range workloadMetrics {
		var units []string
		for _, m := range ms {
			if slices.Contains(units, m.Unit) || m.Unit == "" {
				t.Errorf("%s: unit %q of %s repeated or empty", w, m.Unit, m.Name)
			}
			units = append(units, m.Unit)
		}
	}
	recs := fixedRTTPoints()[4].Records()
	if len(recs) != 1 || recs[0].OK || recs[0].Error != "lcrq/spin/process: peer died" || recs[0].Workload != WorkloadRoundTrip {
		t.Errorf("failed round's record: %+v", recs)
	}
	recs = fixedQueuePoints()[0].Records()
	if len(recs) != 3 || !recs[2].OK || recs[2].Repetition != 2 || len(recs[2].Metrics) != 3 || recs[2].Metrics[0].Unit != "items/s" {
		t.Errorf("queue point's records: %+v", recs)
	}
}
