package results

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRecorder: without a directory the records stay in memory and Finish
// summarizes them (tenant weights applied: pv); with one, the same
// records make a complete run directory that Open reads back to the same
// summary.
func TestRecorder(t *testing.T) {
	weights := []float64{100, 200}
	recs := synthRecords(synthSpec{seed: 3, systems: []string{"D"}, pools: []int{2}, reps: 2, base: map[string]float64{"D": 50}, tenants: weights, skew: 1})
	info := Info{Weights: weights}
	mem, err := NewRecorder("", "bake", map[string]any{"n": 1}, info)
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Add(recs...); err != nil {
		t.Fatal(err)
	}
	if mem.Run() != nil {
		t.Fatal("a recorder without a directory has a run")
	}
	memTab, err := mem.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if row := memTab.Lookup("system=D/pools=2", "pv"); row == nil || row.N != 2 {
		t.Fatalf("in memory: pv %+v, want 2 samples", row)
	}

	dir := t.TempDir()
	disk, err := NewRecorder(dir, "bake", map[string]any{"n": 1}, info)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	if err := disk.Add(recs...); err != nil {
		t.Fatal(err)
	}
	if err := disk.Note("a note about the run"); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Finish(); err != nil {
		t.Fatal(err)
	}
	run, warn, err := Open(disk.Run().Dir)
	if err != nil || len(warn) > 0 || !run.Complete() || run.Info.Experiment != "bake" {
		t.Fatalf("stored run: %v %v complete=%v experiment=%q", err, warn, run != nil && run.Complete(), run.Info.Experiment)
	}
	if cfg, _ := os.ReadFile(filepath.Join(run.Dir, ConfigFile)); len(cfg) == 0 {
		t.Error("config.toml is empty")
	}
	a, b := memTab.Lookup("system=D/pools=2", "pv"), run.Table().Lookup("system=D/pools=2", "pv")
	if b == nil || a.Mean != b.Mean {
		t.Errorf("pv in memory %+v, on disk %+v", a, b)
	}
}
