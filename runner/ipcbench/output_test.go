package ipcbench

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedTable is a hand-made result table covering every benchmark kind.
func fixedTable() Table {
	var t Table
	t = append(t,
		Row{Bench: "PingPong", Params: []Param{P("peer", PeerThread)}, N: 1000, Metrics: []Metric{{"ns/op", 410}, {"p50-ns", 380}, {"p99-ns", 900}, {"p99.9-ns", 4000}}},
		Row{Bench: "PingPong", Params: []Param{P("peer", PeerProcess)}, N: 1000, Metrics: []Metric{{"ns/op", 450}, {"p50-ns", 400}, {"p99-ns", 950}, {"p99.9-ns", 5000}}},
		Row{Bench: "RoundTrip", Params: []Param{P("design", "rcqb"), P("wait", "spin"), P("peer", PeerProcess)}, N: 900, Metrics: []Metric{{"ns/op", 1300}, {"p50-ns", 1000}, {"p99-ns", 3000}, {"p99.9-ns", 20000}}},
		Row{Bench: "RoundTrip", Params: []Param{P("design", "vyukov"), P("wait", "spin"), P("peer", PeerProcess)}, N: 800, Metrics: []Metric{{"ns/op", 1500}, {"p50-ns", 1400}, {"p99-ns", 3500}, {"p99.9-ns", 30000}}},
		Row{Bench: "RoundTrip", Params: []Param{P("design", "lcrq"), P("wait", "spin"), P("peer", PeerProcess)}, Err: "peer died"},
	)
	for _, d := range []struct {
		name string
		tput float64
		enq  float64
	}{{"rcqb", 1e7, 50}, {"channel", 1e6, 400}, {"lcrq", 5e6, 80}} {
		for _, n := range []int{1, 2} {
			t = append(t, Row{Bench: "Queue", Params: []Param{P("design", d.name), P("wait", "spin"), P("producers", n), P("consumers", n), P("work", "0s")},
				N: int64(d.tput / 5), Metrics: []Metric{{"ns/op", 1e9 / d.tput * float64(n)}, {"items/s", d.tput / float64(n)}, {"enq-ns", d.enq * float64(n)}}})
		}
	}
	for _, m := range []struct {
		name  string
		procs int
		gbps  float64
	}{{"plain", 1, 20}, {"SMC", 1, 8}, {"SMC", 2, 5}, {"SMO", 1, 12}, {"SMO", 2, 7}, {"CMA", 1, 10}, {"CMA", 2, 9}} {
		for _, size := range []int{4 << 10, 1 << 20} {
			each := newLatencies(3)
			for _, f := range []float64{0.5, 0.8, 2} { // the median copy takes 0.8 of the mean time
				each.Record(time.Duration(f * float64(durationFor(size, 1, m.gbps))))
			}
			t = append(t, CopyPoint{Method: m.name, Procs: m.procs, Size: size, Copies: 1000,
				Elapsed: durationFor(size, 1000, m.gbps), Each: each}.Row())
		}
	}
	return t
}

func durationFor(size, copies int, gbps float64) (d time.Duration) {
	return time.Duration(float64(size) * float64(copies) / gbps) // bytes / (bytes per ns)
}

// checkGolden compares got with testdata/name, rewriting it under -update
// and leaving name.got-* beside it on a mismatch.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		os.WriteFile(path+".got-"+fmt.Sprint(os.Getpid()), []byte(got), 0o644)
		t.Errorf("%s differs from the golden file; got:\n%s", name, got)
	}
}

func TestOutputFormatsGolden(t *testing.T) {
	tab := fixedTable()
	var b bytes.Buffer
	if err := tab.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n-- benchfmt --\n")
	if err := tab.writeBenchLines(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n-- csv (Copy) --\n")
	if err := tab.Filter("Copy").WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n-- goals --\n")
	b.WriteString(QueueGoals(tab, "rcqb", "channel"))
	b.WriteString(CopyGoals(tab, 1<<20))
	checkGolden(t, "table.golden", b.String())
}

// describe prints what a builder put into a plot: title, axes and every
// series it was built from.
func describe(p *plot.Plot, series []Series) string {
	var b strings.Builder
	fmt.Fprintf(&b, "title: %s\nx: %s\ny: %s\n", p.Title.Text, p.X.Label.Text, p.Y.Label.Text)
	for _, s := range series {
		b.WriteString(s.String() + "\n")
	}
	return b.String()
}

func TestPlotsGolden(t *testing.T) {
	tab := fixedTable()
	var b strings.Builder
	for _, unit := range []string{"items/s", "enq-ns"} {
		p, err := QueuePlot(tab, unit, "spin")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(describe(p, QueueSeries(tab, unit, "spin")) + "\n")
	}
	p, err := CopyPlot(tab)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(describe(p, CopySeries(tab)) + "\n")
	p, err = RTTPlot(tab)
	if err != nil {
		t.Fatal(err)
	}
	labels, series := RTTSeries(tab)
	b.WriteString(describe(p, series) + "labels: " + strings.Join(labels, " ") + "\n")
	checkGolden(t, "plots.golden", b.String())

	if _, err := QueuePlot(tab, "bogus", "spin"); err == nil {
		t.Error("QueuePlot with an unknown unit: no error")
	}
}

func TestPlotsRenderAndSave(t *testing.T) {
	tab := fixedTable()
	dir := t.TempDir()
	plots := map[string]func() (*plot.Plot, error){
		"q":     func() (*plot.Plot, error) { return QueuePlot(tab, "items/s", "spin") },
		"empty": func() (*plot.Plot, error) { return QueuePlot(tab, "items/s", "futex") }, // no rows: must still render
		"copy":  func() (*plot.Plot, error) { return CopyPlot(tab) },
		"rtt":   func() (*plot.Plot, error) { return RTTPlot(tab) },
	}
	var log bytes.Buffer
	if err := writeOutputs(dir, "all", tab, []Param{P("note", "test")}, plots, &log); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"all.txt", "all.csv", "q.png", "q.svg", "empty.png", "copy.svg", "rtt.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v (size %v)", f, err, st)
		}
	}
	txt, _ := os.ReadFile(filepath.Join(dir, "all.txt"))
	if !strings.Contains(string(txt), "note: test\n") || !strings.Contains(string(txt), "BenchmarkQueue/design=rcqb/wait=spin/producers=2/consumers=2/work=0s \t") {
		t.Errorf("all.txt lacks the config line or a Queue line:\n%s", txt)
	}
	if !strings.Contains(string(txt), "# BenchmarkRoundTrip/design=lcrq/wait=spin/peer=process failed: peer died") {
		t.Errorf("all.txt does not mark the failed point")
	}
}

func TestNamesAndSizes(t *testing.T) {
	if got, want := BenchName("Queue", P("design", "a/b c"), P("threads", 4), P("work", 1500*time.Duration(1))), "Queue/design=a_b_c/threads=4/work=1.5µs"; got != want {
		t.Errorf("BenchName = %q, want %q", got, want)
	}
	for s, want := range map[string]int{"4096": 4096, "4KiB": 4096, "4K": 4096, "1MiB": 1 << 20, "2G": 2 << 30, "7B": 7} {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-4K", "4X", "KiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q): no error", bad)
		}
	}
	for n, want := range map[int]string{4096: "4KiB", 1 << 20: "1MiB", 1000: "1000B", 1<<20 + 3: "1048579B"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}
