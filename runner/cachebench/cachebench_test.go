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
// every tenant, PV and Jain are computed, and the report, benchmark lines
// and plot are written.
func TestRunSmoke(t *testing.T) {
	weights := []int{100, 300}
	cfg := cachebench.Config{
		Name:     "smoke",
		Weights:  weights,
		Capacity: 2 << 20,
		PageSize: 64 << 10,
		Duration: 300 * time.Millisecond,
		WorkDir:  t.TempDir(),
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
	out := t.TempDir()
	files, err := rep.WriteAll(out, weights)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Errorf("wrote %v, want report.txt, bench.txt and the plot as .png and .svg", files)
	}
	bench, _ := os.ReadFile(filepath.Join(out, "bench.txt"))
	if !bytes.Contains(bench, []byte("BenchmarkJustitiaSmoke/setting=weighted-aging/tenant=t1/weight=300 1 ")) {
		t.Errorf("bench.txt lacks the per-tenant line of weighted-aging:\n%s", bench)
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
