package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"polytropon/results"
)

// TestIPCBenchSizes: copy sizes follow the project's one size rule
// (internal/units): IEC and one-letter suffixes are powers of 1024, SI
// ones powers of 1000; a size must be positive.
func TestIPCBenchSizes(t *testing.T) {
	for s, want := range map[string][]int{"4096": {4096}, "4KiB": {4096}, "4K, 4k": {4096, 4096}, "1MiB": {1 << 20}, "2G": {2 << 30},
		"7B": {7}, "4kB,1MB": {4000, 1e6}} {
		if got, err := ipcbenchInts("-sizes", s, byteSize); err != nil || !slices.Equal(got, want) {
			t.Errorf("-sizes %q: got %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-4K", "4X", "KiB", "1.1"} {
		if _, err := ipcbenchInts("-sizes", bad, byteSize); err == nil || !strings.Contains(err.Error(), "-sizes") {
			t.Errorf("-sizes %q: error %v, want one naming -sizes", bad, err)
		}
	}
}

// runDirs lists the run directories under out named name-<time>.
func runDirs(t *testing.T, out, name string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(out, name+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestBakeoffRunsCompare: queuebench and copybench store results run
// directories (tiny runs: structure only, no numbers are checked), and
// two queuebench runs compare like harness runs.
func TestBakeoffRunsCompare(t *testing.T) {
	out := t.TempDir()
	queueArgs := []string{"queuebench", "-designs", "channel", "-wait", "spin", "-threads", "1", "-duration", "5ms", "-rounds", "3", "-no-rtt", "-out", out}
	for range 2 {
		var stdout, stderr bytes.Buffer
		if status := run(&stdout, &stderr, queueArgs); status != 0 {
			t.Fatalf("queuebench: status %d; stderr:\n%s", status, stderr.String())
		}
		for _, want := range []string{"queue: median ± 95% CI", "items_per_sec", "(b) no rcqb points", "run " + out + "/queuebench-"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("queuebench output lacks %q:\n%s", want, stdout.String())
			}
		}
	}
	dirs := runDirs(t, out, "queuebench")
	if len(dirs) != 2 {
		t.Fatalf("run directories %v, want 2", dirs)
	}
	r, warn, err := results.Open(dirs[0])
	if err != nil || len(warn) > 0 || !r.Complete() || r.Info.Host.Kernel == "" || len(r.Info.Metrics) == 0 {
		t.Fatalf("open %s: %v %v; complete %v, info %+v", dirs[0], err, warn, r != nil && r.Complete(), r)
	}
	if row := r.Table().Lookup("design=channel/wait=spin/producers=1/consumers=1/threads=2/work=0s", "items_per_sec"); row == nil || row.N != 3 {
		t.Errorf("items_per_sec of the channel point: %+v, want 3 rounds", row)
	}
	var stdout, stderr bytes.Buffer
	// Tiny runs: any verdict of the gate itself is fine (their numbers
	// are not checked), a usage error or an incomparable host is not.
	if status := run(&stdout, &stderr, []string{"compare", "-threshold", "1000", "-min-rounds", "2", dirs[0], dirs[1]}); status != results.ExitPass && status != results.ExitInconclusive && status != results.ExitNoisy {
		t.Fatalf("compare: status %d; stderr:\n%s", status, stderr.String())
	}
	if strings.Contains(stderr.String(), "config not readable") {
		t.Errorf("compare of bake-off runs warns about the config:\n%s", stderr.String())
	}
	for _, want := range []string{"items_per_sec (items/s, higher is better)", "enqueue_ns (enq-ns, lower is better)", "items (items, higher is better)",
		"design=channel/wait=spin/producers=1/consumers=1/threads=2/work=0s", "verdict: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("compare output lacks %q:\n%s", want, stdout.String())
		}
	}

	// polytropon plot redraws a bake-off run's figures.
	plots := filepath.Join(dirs[0], results.PlotsDir)
	if err := os.RemoveAll(plots); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if status := run(&stdout, &stderr, []string{"plot", "-table", dirs[0]}); status != 0 {
		t.Fatalf("plot: status %d; stderr:\n%s", status, stderr.String())
	}
	for _, f := range []string{"queue-throughput-spin.svg", "queue-enqlatency-spin.png"} {
		if !strings.Contains(stdout.String(), filepath.Join(plots, f)) {
			t.Errorf("plot did not redraw %s:\n%s", f, stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), "items_per_sec") || strings.Contains(stdout.String(), "rtt-") {
		t.Errorf("plot -table: want the table and no round-trip figures (-no-rtt):\n%s", stdout.String())
	}

	stdout.Reset()
	stderr.Reset()
	if status := run(&stdout, &stderr, []string{"copybench", "-methods", "plain", "-sizes", "4KiB,64k", "-duration", "2ms", "-rounds", "2", "-no-peer", "-out", out}); status != 0 {
		t.Fatalf("copybench: status %d; stderr:\n%s", status, stderr.String())
	}
	for _, want := range []string{"copy: median ± 95% CI", "plain   1      64KiB", "(c) SMO at 1MiB", "run " + out + "/copybench-"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("copybench output lacks %q:\n%s", want, stdout.String())
		}
	}
	dirs = runDirs(t, out, "copybench")
	if len(dirs) != 1 {
		t.Fatalf("copybench run directories %v", dirs)
	}
	for _, f := range []string{results.BenchFile, results.SummaryFile, "plots/copy-bandwidth.svg"} {
		if st, err := os.Stat(filepath.Join(dirs[0], f)); err != nil || st.Size() == 0 {
			t.Errorf("copybench run lacks %s: %v", f, err)
		}
	}
}
