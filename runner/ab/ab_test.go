package ab

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"polytropon/internal/testenv"
	"polytropon/results"
	"polytropon/systems"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

const tinyExperiment = `
name = "ab-it"
systems = ["K"]
[options.K]
size = "512M"
[run]
repetitions = { min = 3, max = 3 }
warmup = "10ms"
duration = "1s"
timeout = "1m"
[pools]
count = [1]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
[workload.params]
nfiles = 40
filesize = "16KiB"
nthreads = 2
iosize = "16KiB"
duration = "1s"
[[plot]]
kind = "bar"
x = "pools"
y = "throughput_mbps"
`

// TestRunInterleaved runs a tiny experiment with two builds (the same
// binary twice) for three rounds and checks the stored A/B run: both
// sides of every round, in ABBA order, each side's provenance, and a
// gate that says too few rounds.
func TestRunInterleaved(t *testing.T) {
	if testing.Short() {
		t.Skip("provisions real pools; skipped with -short")
	}
	testenv.RequireRoot(t, "pools need cgroups and namespaces, K needs mount and losetup")
	bin := testenv.Polytropon(t)
	k, err := systems.Lookup("K")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Check(); err != nil {
		t.Skip(err)
	}
	file := testenv.WriteFile(t, "ab-it.toml", tinyExperiment)
	var stderr bytes.Buffer
	dir, err := Run(t.Context(), file, Options{Base: bin, New: bin, Rounds: 3, OutDir: t.TempDir(), Stderr: &stderr})
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	run, warn, err := results.Open(dir)
	if err != nil || len(warn) > 0 || !run.Complete() {
		t.Fatalf("open %s: %v %v complete=%v", dir, err, warn, run != nil && run.Complete())
	}
	if filepath.Base(dir)[:6] != "ab-it-" {
		t.Errorf("run directory %s, want ab-it-<time>", dir)
	}
	in := run.Info.AB
	if in == nil || in.Rounds != 3 || !slices.Equal(in.Order, []string{"AB", "BA", "AB"}) || in.Base.Binary != bin || in.New.Host.Kernel == "" {
		t.Fatalf("host.json ab: %+v", in)
	}
	for _, side := range []string{results.SideBase, results.SideNew} {
		_, _, values := results.RepetitionValues(results.SideRecords(run.Records, side), nil)
		reps := values["system=K/pools=1"]
		if len(reps) != 3 || reps[0][results.MetricThroughput] <= 0 || reps[2][results.MetricThroughput] <= 0 {
			t.Errorf("%s side: rounds %v, want 3 with throughput", side, reps)
		}
		if _, err := os.Stat(filepath.Join(dir, "rounds", "r02-"+side+".log")); err != nil {
			t.Error(err)
		}
	}
	if strings.Contains(string(run.Config), "[[plot]]") || !strings.Contains(string(run.Config), "max = 1") {
		t.Errorf("round file keeps plots or more than one repetition:\n%s", run.Config)
	}
	// The main metric, as compare gates by default: collector metrics
	// with labels seen in one window only would be MISSING on a side.
	rep, err := results.GateAB(run, results.GateOptions{Metrics: []string{results.MetricThroughput}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Status(); got != results.ExitFewSamples || !rep.Paired || len(rep.Incomparable) > 0 {
		t.Errorf("gate of 3 rounds: exit %d (paired %v, incomparable %v), want %d", got, rep.Paired, rep.Incomparable, results.ExitFewSamples)
	}
}

func TestRunRejects(t *testing.T) {
	file := testenv.WriteFile(t, "ab-it.toml", tinyExperiment)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"one round", Options{Base: self, New: self, Rounds: 1}, "at least 2"},
		{"no new build", Options{Base: self}, "both builds"},
		{"neither binary nor commit", Options{Base: self, New: "no-such-build-xyz", SourceDir: "."}, "neither an executable file nor a commit"},
		{"not executable", Options{Base: file, New: self}, "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.OutDir = t.TempDir()
			_, err := Run(t.Context(), file, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(tc.opts.OutDir); len(entries) > 0 {
				t.Errorf("a rejected A/B run left %v", entries)
			}
		})
	}
}
