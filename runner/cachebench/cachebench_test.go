package cachebench_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/results"
	"polytropon/runner/cachebench"
	"polytropon/workloads"
)

// TestCheckedInExperiments: every justitia-*.toml converts to a driver
// configuration with one weight per tenant and a workload per tenant.
func TestCheckedInExperiments(t *testing.T) {
	files, err := filepath.Glob("../../experiments/justitia-*.toml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want the three justitia experiments, found %v (%v)", files, err)
	}
	for _, f := range files {
		cfg, err := cachebench.FromExperiment(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(cfg.Weights) < 4 || cfg.Capacity <= 0 || cfg.Duration <= 0 {
			t.Errorf("%s: got %d weights, capacity %d, duration %v", f, len(cfg.Weights), cfg.Capacity, cfg.Duration)
		}
		for i := range cfg.Weights {
			if _, err := cfg.NewWorkload(i); err != nil {
				t.Errorf("%s: tenant %d: %v", f, i, err)
			}
		}
	}
}

// TestRunSmoke runs a tiny experiment end to end: every setting measures
// every tenant, PV and Jain are computed, and the run is stored through
// results: summary with each tenant's bandwidth, pv and jain per setting,
// benchmark lines, the proportionality figure.
func TestRunSmoke(t *testing.T) {
	weights := []int{100, 300}
	cfg := cachebench.Config{
		Name:     "smoke",
		Weights:  weights,
		Capacity: 2 << 20,
		PageSize: 64 << 10,
		Duration: 300 * time.Millisecond,
		WorkDir:  t.TempDir(),
		OutDir:   t.TempDir(),
		NewWorkload: func(int) (workloads.Workload, error) {
			w, err := workloads.New("seqread")
			if err != nil {
				return nil, err
			}
			sr := w.(*workloads.Seqread)
			sr.FileSize, sr.IOSize, sr.NThreads, sr.Duration = 4<<20, 256<<10, 2, time.Second
			return w, w.Validate()
		},
	}
	rep, err := cachebench.Run(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Settings) != len(cachebench.DefaultSettings) {
		t.Fatalf("got %d settings, want %d", len(rep.Settings), len(cachebench.DefaultSettings))
	}
	for _, s := range rep.Settings {
		if len(s.Tenants) != 2 || s.Jain <= 0 || s.Jain > 1 || s.Setting.Label != "weighted" && math.IsNaN(s.PV) {
			t.Errorf("%s: %d tenants, PV %v, Jain %v", s.Setting.Label, len(s.Tenants), s.PV, s.Jain)
		}
		total := 0.0
		for _, tr := range s.Tenants {
			total += tr.MBps
			// Without aging a tenant may starve by design; every other
			// setting serves everyone.
			if tr.MBps <= 0 && s.Setting.Label != "weighted" {
				t.Errorf("%s/%s: bandwidth %v, want > 0", s.Setting.Label, tr.Name, tr.MBps)
			}
		}
		if total <= 0 {
			t.Errorf("%s: no tenant read anything", s.Setting.Label)
		}
		if s.Setting.Policy != "" && s.Tenants[0].Stats.Misses == 0 {
			t.Errorf("%s: no cache misses recorded for a cold cache", s.Setting.Label)
		}
	}
	if len(rep.Files) != 2 {
		t.Errorf("drew %v, want the proportionality figure as .png and .svg", rep.Files)
	}
	run, warn, err := results.Open(rep.Dir)
	if err != nil || len(warn) > 0 || !run.Complete() {
		t.Fatalf("stored run %s: %v %v (complete %v)", rep.Dir, err, warn, run != nil && run.Complete())
	}
	table := run.Table()
	for _, m := range []string{"throughput_mbps@c1", "pv", "jain", "cache_hit_ratio@c0"} {
		if row := table.Lookup("setting=weighted-aging", m); row == nil || row.N != 1 {
			t.Errorf("summary of setting=weighted-aging: %s: %+v; want one sample", m, row)
		}
	}
	if row := table.Lookup("setting=weighted-aging", "throughput_mbps@c1"); row != nil && math.Abs(row.Mean-rep.Settings[3].Tenants[1].MBps) > 1e-6*row.Mean {
		t.Errorf("stored tenant c1 bandwidth %v, report %v", row.Mean, rep.Settings[3].Tenants[1].MBps)
	}
	bench, _ := os.ReadFile(filepath.Join(rep.Dir, results.BenchFile))
	if !bytes.Contains(bench, []byte("BenchmarkSeqread/setting=weighted-aging 1 ")) {
		t.Errorf("bench.txt lacks the line of weighted-aging:\n%s", bench)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "weighted-aging") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := cachebench.Run(t.Context(), cachebench.Config{Weights: []int{0}}, nil)
	if !errors.Is(err, cachebench.ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
	for _, want := range []string{"weights[0] = 0", "no workload", "duration", "capacity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
