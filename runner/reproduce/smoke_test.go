package reproduce

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs/cephfs"
	"polytropon/internal/testenv"
	"polytropon/results"
	"polytropon/runner"
	"polytropon/runner/config"
	"polytropon/systems"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// TestSmokeEveryExperiment is CI's guard against rot: every checked-in
// experiment runs at smoke scale to the end (results, plots, compare of
// the run against itself), then the reproduction report of the papers'
// claims is written from those runs, and a second reproduce keeps them
// (resume). Experiments over Ceph use the cluster of
// $POLYTROPON_CEPH_CONF (scripts/test.sh starts one); without it they say
// they need one. Systems this host lacks (kernel CephFS) are skipped
// points with the reason. Budget: all of it under 8 minutes on a 2-vCPU
// host.
func TestSmokeEveryExperiment(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every experiment in real pools; skipped with -short")
	}
	testenv.RequireRoot(t, "pools need cgroups and namespaces, K needs mount and losetup")
	testenv.RequireFUSE(t)
	var tags []string
	if cephfs.Available {
		tags = []string{"ceph pacific"} // D-ceph's service links libcephfs
	}
	bin := testenv.Polytropon(t, tags...)
	t.Setenv("POLYTROPON_BIN", bin)
	if k, err := systems.Lookup("K"); err != nil || k.Check() != nil {
		t.Skipf("K cannot run here: %v %v", err, k.Check())
	}
	out := t.TempDir()
	var log bytes.Buffer
	opts := Options{Dir: "../../experiments", Out: out, Scale: config.ScaleSmoke, All: true,
		CephConf: os.Getenv("POLYTROPON_CEPH_CONF"),
		Run:      runner.Options{AgentBinary: bin, Stdout: &log, Stderr: &log}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := Run(ctx, opts)
	if rep == nil {
		t.Fatalf("%v\n%s", err, tail(log.String(), 4000))
	}
	if err != nil { // an experiment failed: the rest is still checked
		t.Errorf("%v\n%s", err, tail(log.String(), 4000))
		// The failed points' own reasons, wherever they are in the log.
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.Contains(line, "failed") || strings.Contains(line, "error") {
				t.Logf("log: %s", line)
			}
		}
	}
	t.Logf("every experiment at smoke scale: %v", rep.Wall.Round(time.Second))
	files, _ := filepath.Glob("../../experiments/*.toml")
	ran := 0
	for _, er := range rep.Experiments {
		t.Logf("%-42s %6v points %d skipped %d %s", er.Name, er.Wall.Round(100*time.Millisecond), er.Points, er.Skipped, firstLine(er.Err))
		if er.File == "" {
			continue // a claim's experiment not in the tree: the report names it
		}
		ran++
		if er.NeedsHost {
			if opts.CephConf != "" {
				t.Errorf("%s: %s although $POLYTROPON_CEPH_CONF is set", er.Name, er.Err)
			}
			continue
		}
		if er.Dir == "" || er.Failed > 0 || er.Points == 0 {
			t.Errorf("%s: run %q, %d of %d points failed: %s", er.Name, er.Dir, er.Failed, er.Points, er.Err)
			continue
		}
		checkRun(t, er)
	}
	if ran != len(files) {
		t.Errorf("%d experiment files run, %d in the tree", ran, len(files))
	}
	// The report: one row per claim and experiment that ran.
	paths, err := rep.Write(filepath.Join(out, config.ScaleSmoke))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := LoadClaims(filepath.Join(opts.Dir, ClaimsFile))
	if err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(paths[0])
	if filepath.Base(paths[0]) != MarkdownFile {
		md, _ = os.ReadFile(paths[1])
	}
	for _, c := range claims {
		if !strings.Contains(string(md), c.Text) {
			t.Errorf("report lacks claim %s", c.ID)
		}
	}
	for _, res := range rep.Results {
		if res.Verdict == "" || (res.Run != "" && res.Plot == "" && find(rep.Experiments, res.Experiment).Skipped < find(rep.Experiments, res.Experiment).Points) {
			t.Errorf("claim %s in %s: verdict %q, figure %q", res.Claim.ID, res.Experiment, res.Verdict, res.Plot)
		}
	}
	// Resume: the runs are kept, nothing is measured again.
	opts.All, opts.Figures = false, []string{"7a"}
	again, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, er := range again.Experiments {
		if !er.Resumed && !er.NeedsHost {
			t.Errorf("%s: measured again instead of kept", er.Name)
		}
	}
	checkResumeInterrupted(t, ctx, opts, find(rep.Experiments, "fig9-seqwrite"))
}

// checkResumeInterrupted cuts a finished run back to what an interruption
// during its third point leaves (two points, INCOMPLETE): reproduce keeps
// the first point's records and measures the rest into a new run.
func checkResumeInterrupted(t *testing.T, ctx context.Context, opts Options, er *ExperimentRun) {
	t.Helper()
	run, _, err := results.Open(er.Dir)
	if err != nil {
		t.Fatal(err)
	}
	points := run.Table().Points()
	if len(points) != 3 {
		t.Fatalf("%s: %d points, want 3", er.Name, len(points))
	}
	var kept []byte
	var first []results.Record
	for _, rec := range run.Records {
		if rec.Point == points[2] {
			continue
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(append(kept, b...), '\n')
		if rec.Point == points[0] {
			first = append(first, rec)
		}
	}
	if err := os.WriteFile(filepath.Join(er.Dir, results.SamplesFile), kept, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(er.Dir, results.IncompleteFile), []byte("cut by the test\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.Figures = []string{"9w-D-vs-K"}
	rep, err := Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	again := find(rep.Experiments, er.Name)
	if again.Dir == er.Dir || !again.Resumed {
		t.Fatalf("%s: not resumed into a new run: %+v", er.Name, again)
	}
	resumed, _, err := results.Open(again.Dir)
	if err != nil || !resumed.Complete() {
		t.Fatalf("resumed run %s: complete %v, %v", again.Dir, err == nil && resumed.Complete(), err)
	}
	if got := resumed.Table().Points(); len(got) != 3 {
		t.Errorf("resumed run has points %v, want 3", got)
	}
	var carried []results.Record
	for _, rec := range resumed.Records {
		if rec.Point == points[0] {
			carried = append(carried, rec)
		}
	}
	if len(carried) != len(first) || !carried[0].Time.Equal(first[0].Time) {
		t.Errorf("point %s: %d records from %v, want the %d kept from %v", points[0], len(carried), carried[0].Time, len(first), first[0].Time)
	}
}

// checkRun: the run finished, drew its figures, and compares with itself.
func checkRun(t *testing.T, er *ExperimentRun) {
	t.Helper()
	run, _, err := results.Open(er.Dir)
	if err != nil {
		t.Errorf("%s: %v", er.Name, err)
		return
	}
	if !run.Complete() {
		t.Errorf("%s: run incomplete", er.Name)
	}
	e, err := config.Parse(filepath.Join(er.Dir, results.ConfigFile), run.Config)
	if err != nil {
		t.Errorf("%s: stored config: %v", er.Name, err)
		return
	}
	e.EnsureDefaults()
	if er.Skipped < er.Points {
		for _, p := range e.Plots {
			if _, err := os.Stat(filepath.Join(er.Dir, results.PlotsDir, p.File+".png")); err != nil {
				t.Errorf("%s: plot %s not drawn: %v", er.Name, p.File, err)
			}
		}
	}
	opts := e.CompareOptions()
	rep, err := results.Compare(run, run, opts)
	if err != nil {
		t.Errorf("%s: compare with itself: %v", er.Name, err)
		return
	}
	if regs := rep.Regressions(); len(regs) > 0 {
		t.Errorf("%s: a run regresses against itself: %v", er.Name, regs)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
