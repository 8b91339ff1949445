package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestStoreLifecycle(t *testing.T) {
	out := t.TempDir()
	r, err := Create(out, "quick")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(r.Dir), "quick-") || filepath.Dir(r.Dir) != out {
		t.Errorf("run dir %s: want %s/quick-<timestamp>", r.Dir, out)
	}
	if r.Complete() {
		t.Errorf("new run reported complete: INCOMPLETE marker missing")
	}
	r2, err := Create(out, "quick")
	if err != nil {
		t.Fatal(err)
	}
	if r2.Dir == r.Dir {
		t.Errorf("two runs in the same second share %s", r.Dir)
	}
	r2.Close()
	if err := r.WriteConfig([]byte("name = \"quick\"\n")); err != nil {
		t.Fatal(err)
	}
	info := Info{Experiment: "quick", Weights: []float64{1, 2}, Host: CollectHost(t.Context(), HostOptions{ToolVersions: map[string]string{"fio": "fio-3.33"}})}
	if err := r.WriteInfo(info); err != nil {
		t.Fatal(err)
	}
	recs := synthRecords(synthSpec{seed: 3, systems: []string{"D"}, pools: []int{2}, reps: 3, base: map[string]float64{"D": 100}})
	for _, rec := range recs[:5] {
		if err := r.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	// Interrupted: close without Finish, plus a torn record as a crash
	// mid-write leaves it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Append(recs[5]); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, SamplesFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"kind":"instance","point":"sys`)
	f.Close()
	got, warn, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Records) != 5 || got.Complete() || len(warn) != 2 || !errors.Is(warn[len(warn)-1], ErrIncomplete) {
		t.Errorf("interrupted run: got %d records, complete=%v, warnings %v; want 5, false, torn-line + incomplete", len(got.Records), got.Complete(), warn)
	}
	if got.Info.Host.Kernel == "" || got.Info.Host.GoVersion == "" || got.Info.Host.Cores < 1 || got.Info.Host.ToolVersions["fio"] != "fio-3.33" || got.Info.Start.IsZero() {
		t.Errorf("provenance not stored: %+v", got.Info)
	}
	if string(got.Config) != "name = \"quick\"\n" {
		t.Errorf("config: got %q", got.Config)
	}
	// Records survive the JSON round trip, histograms and int params too.
	want := recs[0]
	g := got.Records[0]
	if g.Params[1].Value != int64(2) || g.Result.Latency["all"].Count() != want.Result.Latency["all"].Count() ||
		g.Result.Latency["all"].Quantile(0.99) != want.Result.Latency["all"].Quantile(0.99) || g.Result.Elapsed != want.Result.Elapsed ||
		!reflect.DeepEqual(g.Result.Counters, want.Result.Counters) {
		t.Errorf("record round trip: got %+v, want %+v", g, want)
	}

	// A finished run.
	fr := writeRun(t, "", Info{Experiment: "done", Start: fixedTime}, recs)
	if !fr.Complete() {
		t.Errorf("finished run still INCOMPLETE")
	}
	for _, name := range []string{ConfigFile, HostFile, SamplesFile, SummaryFile, BenchFile, PlotsDir} {
		if _, err := os.Stat(filepath.Join(fr.Dir, name)); err != nil {
			t.Errorf("finished run lacks %s: %v", name, err)
		}
	}
	if _, err := fr.Finish(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Finish: got %v, want ErrClosed", err)
	}
	back, warn, err := Open(fr.Dir)
	if err != nil || len(warn) != 0 || len(back.Records) != len(recs) {
		t.Fatalf("Open finished run: %d records, warnings %v, err %v", len(back.Records), warn, err)
	}
	sf, err := os.Open(filepath.Join(fr.Dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	st, err := ReadCSV(sf)
	if err != nil {
		t.Fatal(err)
	}
	live := back.Table()
	if len(st.Rows) != len(live.Rows) {
		t.Fatalf("summary.csv has %d rows, table %d", len(st.Rows), len(live.Rows))
	}
	for i, row := range st.Rows {
		l := live.Rows[i]
		if row.Point != l.Point || row.Metric != l.Metric || row.N != l.N || math.Abs(row.Mean-l.Mean) > 1e-5*math.Abs(l.Mean) {
			t.Errorf("summary.csv row %d: got %+v, want %+v", i, row, l)
		}
	}
	if _, _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRun) {
		t.Errorf("Open of an empty dir: got %v, want ErrNotRun", err)
	}
}

func TestParamJSON(t *testing.T) {
	in := []Param{{"system", "K/K"}, {"pools", int64(4)}, {"ratio", 0.5}, {"noise", true}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []Param
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("got %#v, want %#v", out, in)
	}
	if got, want := BenchName("rocksdb-put", in), "BenchmarkRocksdbPut/system=K_K/pools=4/ratio=0.5/noise=true"; got != want {
		t.Errorf("BenchName: got %q, want %q", got, want)
	}
}

// TestDerive checks the per-repetition metrics by hand.
func TestDerive(t *testing.T) {
	h1, h2 := NewHistogram(), NewHistogram()
	for range 99 {
		h1.Record(100 * time.Microsecond)
	}
	h2.Record(10 * time.Millisecond)
	params := []Param{{"system", "D"}, {"pools", int64(2)}}
	inst := func(rep, pool int, role, wl string, bytes int64, secs float64, h *Histogram) Record {
		return Record{Kind: KindInstance, Point: "p", Params: params, Repetition: rep, Workload: wl, Role: role, Pool: pool,
			Result: &InstanceResult{Ops: 100, Bytes: bytes, Elapsed: time.Duration(secs * 1e9), Latency: map[string]*Histogram{"all": h},
				Counters: map[string]float64{"errors": 1}}}
	}
	recs := []Record{
		inst(1, 0, "main", "fileserver", 100e6, 10, h1), // 10 MB/s
		inst(1, 1, "main", "fileserver", 300e6, 5, h2),  // 60 MB/s
		inst(1, 1, "noise", "stress-rnd", 1e6, 1, NewHistogram()),
		{Kind: KindRepetition, Point: "p", Params: params, Repetition: 1, OK: true, Metrics: []Metric{
			{Pool: "p0", Name: "cpu_seconds", Value: 2}, {Pool: "p1", Name: "cpu_seconds", Value: 3},
			{Name: "lock_wait_seconds", Value: 1, Labels: map[string]string{"lock": "a"}},
			{Name: "lock_wait_seconds", Value: 2, Labels: map[string]string{"lock": "a"}},
			// Host-wide and per pool: the host value is not added to the pools' sum.
			{Name: "lock_waits", Value: 40}, {Pool: "p0", Name: "lock_waits", Value: 5}, {Pool: "p1", Name: "lock_waits", Value: 7},
		}},
		// Repetition 2 failed; repetition 3 has no closing record (interrupted).
		inst(2, 0, "main", "fileserver", 1, 1, h1),
		{Kind: KindRepetition, Point: "p", Params: params, Repetition: 2, OK: false, Error: "boom"},
		inst(3, 0, "main", "fileserver", 1, 1, h1),
	}
	_, _, values := RepetitionValues(recs, []float64{100, 200})
	if len(values["p"]) != 1 {
		t.Fatalf("got repetitions %v, want only 1 (2 failed, 3 unclosed)", values["p"])
	}
	v := values["p"][1]
	want := map[string]float64{
		"throughput_mbps": 70, "throughput_mbps@p0": 10, "throughput_mbps@p1": 60,
		"ops_per_sec": 30, "elapsed_s": 10, "ops": 200, "bytes": 400e6, "counter:errors": 2,
		"stress-rnd.throughput_mbps": 1, "stress-rnd.ops": 100,
		"cpu_seconds": 5, "cpu_seconds@p0": 2, "cpu_seconds@p1": 3, "lock_wait_seconds{lock=a}": 3,
		"lock_waits": 12, "lock_waits@p0": 5, "lock_waits@p1": 7, "lock_waits@host": 40,
		// Bandwidths 10, 60 vs weights 100, 200: |1-1| + |6-2| = 4, /2.
		"pv": 2,
		// x = 0.1, 0.3: 0.16 / (2 * 0.1) = 0.8.
		"jain": 0.8,
	}
	for k, w := range want {
		if got, ok := v[k]; !ok || math.Abs(got-w) > 1e-9 {
			t.Errorf("%s: got %v (present %v), want %v", k, got, ok, w)
		}
	}
	// Merged latency: 99 × 100µs and 1 × 10ms: p50 ≈ 100µs, max = 10ms.
	if p50 := v["latency_p50_us"]; math.Abs(p50-100) > 2 {
		t.Errorf("latency_p50_us: got %v, want about 100", p50)
	}
	if mx := v["latency_max_us"]; mx != 10000 {
		t.Errorf("latency_max_us: got %v, want 10000", mx)
	}
	if mean := v["latency_mean_us"]; math.Abs(mean-(99*100+10000)/100.0) > 1e-6 {
		t.Errorf("latency_mean_us: got %v, want %v", mean, (99*100+10000)/100.0)
	}
	if _, ok := v["stress-rnd.throughput_mbps@p1"]; ok {
		t.Errorf("noise workloads get no per-pool metrics")
	}
}

func TestTableAndBenchGolden(t *testing.T) {
	s := baseSpec
	s.failRep = 3
	s.reps = 4
	s.pools = []int{1, 2}
	r := writeRun(t, "", fixtureInfo, synthRecords(s))
	var txt bytes.Buffer
	if err := r.Table().WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "summary.txt", txt.Bytes())
	csvText, err := os.ReadFile(filepath.Join(r.Dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "summary.csv", csvText)
	bench, err := os.ReadFile(filepath.Join(r.Dir, BenchFile))
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bench.txt", bench)
	// Every result line has a name, an iteration count and value-unit pairs;
	// 3 OK repetitions of 4 points.
	n := 0
	for _, line := range strings.Split(string(bench), "\n") {
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		n++
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 || f[1] != "1" || !strings.HasPrefix(f[0], "BenchmarkFileserver/system=") {
			t.Errorf("bad benchmark line %q", line)
		}
	}
	if n != 4*3 {
		t.Errorf("got %d benchmark lines, want 12", n)
	}
}

// TestSkippedAndNotes: skipped points and run notes are stored in the run
// directory and shown in the summaries: summary.csv (skips), the text
// table and host.json (notes, grouped by text).
func TestSkippedAndNotes(t *testing.T) {
	recs := synthRecords(synthSpec{seed: 3, systems: []string{"K"}, pools: []int{1}, reps: 2, base: map[string]float64{"K": 100}})
	pt, ps := recs[0].Point, recs[0].Params
	skippedParams := []Param{{Key: "pools", Value: int64(4)}, {Key: "system", Value: "D"}}
	oversub := "oversubscribed: 2 pools x 2 cores on 2 host cores"
	recs = append(recs,
		Record{Kind: KindNote, Point: pt, Params: ps, Repetition: 0, Note: oversub},
		Record{Kind: KindNote, Point: pt, Params: ps, Repetition: 1, Note: oversub},
		Record{Kind: KindNote, Point: pt, Params: ps, Repetition: 1, Note: "teardown: /mnt/x detached lazily"},
		Record{Kind: KindSkipped, Point: "system=D/pools=4", Params: skippedParams, Reason: "system D is not built into this binary"},
	)
	r := writeRun(t, "", fixtureInfo, recs)

	loaded, _, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	notes := loaded.Info.Notes
	if len(notes) != 2 || notes[0].Text != oversub || notes[0].Count != 2 || !slices.Equal(notes[0].Points, []string{pt}) {
		t.Fatalf("host.json notes %+v, want the oversubscription note once (2 repetitions) and the teardown note", notes)
	}
	if got := loaded.Notes(); len(got) != 2 || got[1].Text != "teardown: /mnt/x detached lazily" {
		t.Errorf("Run.Notes() = %+v", got)
	}
	sk := SkippedPoints(loaded.Records)
	if len(sk) != 1 || sk[0].Point != "system=D/pools=4" || !strings.Contains(sk[0].Reason, "not built") {
		t.Fatalf("SkippedPoints = %+v", sk)
	}
	tab := loaded.Table()
	if tab.Lookup(pt, MetricThroughput) == nil || len(tab.Points()) != 1 {
		t.Errorf("table points %v: want only the measured point %s", tab.Points(), pt)
	}

	var text bytes.Buffer
	if err := tab.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"skipped: system=D/pools=4: system D is not built into this binary",
		"note: " + oversub + " (" + pt + "; 2 repetitions)",
		"note: teardown: /mnt/x detached lazily (" + pt + ")",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text summary lacks %q:\n%s", want, text.String())
		}
	}

	csvBytes, err := os.ReadFile(filepath.Join(r.Dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(csvBytes), "system=D/pools=4,,,0,NaN,NaN,NaN,NaN,NaN,NaN,skipped: system D is not built into this binary") {
		t.Errorf("summary.csv lacks the skipped point's row:\n%s", csvBytes)
	}
	back, err := ReadCSV(bytes.NewReader(csvBytes))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Skipped) != 1 || back.Skipped[0].Reason != sk[0].Reason || len(back.Rows) != len(tab.Rows) {
		t.Errorf("ReadCSV: %d rows, skipped %+v; want %d rows and the skip", len(back.Rows), back.Skipped, len(tab.Rows))
	}
}

// TestLegacySkip: runs written before the "skipped" kind recorded a skip as
// a failed repetition "skipped: <reason>"; they still load, with the skip.
func TestLegacySkip(t *testing.T) {
	legacy := Record{Kind: KindRepetition, Point: "system=F/pools=1", Params: []Param{{Key: "pools", Value: int64(1)}, {Key: "system", Value: "F"}},
		Error: "skipped: system F: needs fuse3"}
	failed := Record{Kind: KindRepetition, Point: "system=K/pools=1", Error: "measured phase: boom"}
	r := writeRun(t, "", fixtureInfo, []Record{legacy, failed})
	loaded, _, err := Open(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	sk := SkippedPoints(loaded.Records)
	if len(sk) != 1 || sk[0].Point != legacy.Point || sk[0].Reason != "system F: needs fuse3" {
		t.Errorf("SkippedPoints of a legacy run = %+v, want F with its reason (and not the failure)", sk)
	}
	if len(loaded.Info.Notes) != 0 {
		t.Errorf("notes %+v from a run without note records", loaded.Info.Notes)
	}
}

// TestOpenFixtureRuns: the checked-in fixture runs (written before skipped
// records and notes existed) still open and summarize.
func TestOpenFixtureRuns(t *testing.T) {
	for name := range fixtureRuns {
		r, warn, err := Open(filepath.Join("testdata", "runs", name))
		if err != nil || len(warn) > 0 {
			t.Fatalf("%s: %v %v", name, err, warn)
		}
		tab := r.Table()
		if len(tab.Skipped) != 0 || len(tab.Notes) != 0 || len(r.Info.Notes) != 0 {
			t.Errorf("%s: skipped %v notes %v from a run without such records", name, tab.Skipped, tab.Notes)
		}
		if row := tab.Lookup("system=D/pools=1", MetricThroughput); row == nil || row.N != fixtureRuns[name].reps-failedReps(fixtureRuns[name]) {
			t.Errorf("%s: throughput of system=D/pools=1: %+v", name, row)
		}
	}
}

func failedReps(s synthSpec) int {
	if s.failRep > 0 && s.failRep <= s.reps {
		return 1
	}
	return 0
}
