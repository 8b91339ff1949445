package reproduce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"polytropon/results"
	"polytropon/runner"
	"polytropon/runner/config"
)

// Options say what Run reproduces and where.
type Options struct {
	Dir     string   // the experiments directory (holds ClaimsFile)
	Out     string   // runs and reports go to Out/<scale>/
	Scale   string   // config.ScaleSmoke, ScaleHost or ScalePaper
	Figures []string // figures, experiments or claim ids to reproduce; all when empty
	// All runs every experiment file of Dir, also those no claim needs
	// (CI: none may rot).
	All bool
	// CephConf is the cluster of the experiments with backend = "ceph"
	// (their [ceph] conf is replaced); "" keeps the file's, or $CEPH_CONF.
	CephConf string
	// Run are the runner's options (agent binary, output streams);
	// OutDir is set by Run.
	Run runner.Options
}

// ExperimentRun is what happened to one experiment of the set.
type ExperimentRun struct {
	Name, File string
	Dir        string // the run directory ("" when it did not run)
	Resumed    bool   // a finished run of an earlier reproduce was kept
	Points     int
	Failed     int    // points with a failed repetition
	Skipped    int    // points not measured (a system this host lacks)
	Err        string // why it did not run, or what failed
	NeedsHost  bool   // it did not run for want of something this host lacks (a Ceph cluster)
	// Wall is how long its run took: a kept run's own, from its stored
	// start and end, not the moment this reproduction spent keeping it.
	Wall   time.Duration
	Commit string   // the commit its run was measured at (" (dirty)" when so)
	Plots  []string // the figures it drew (.png)
}

// Report is the outcome of a reproduction.
type Report struct {
	Scale       string
	Generated   time.Time
	Wall        time.Duration
	Host        results.Host
	Results     []Result
	Experiments []*ExperimentRun
	Command     string
}

// Run measures the experiments the chosen claims need at one scale and
// checks the claims. A finished run of an experiment already in
// Out/<scale>/ is kept, so an interrupted reproduction resumes where it
// stopped. Every claim's metric is checked against what its experiment
// produces before anything runs. An experiment that fails does not stop
// the others; the report says what failed, and Run's error too.
func Run(ctx context.Context, opts Options) (*Report, error) {
	start := time.Now()
	if opts.Scale == "" {
		opts.Scale = config.ScaleHost
	}
	rep, exps, chosen, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	rep.Generated = start.UTC()
	out := filepath.Join(opts.Out, opts.Scale)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var failed []string
	for _, er := range rep.Experiments {
		e := exps[er.Name]
		if e == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		t0 := time.Now()
		runExperiment(ctx, e, er, out, opts)
		er.Wall = time.Since(t0)
		if er.Err != "" && !er.NeedsHost {
			failed = append(failed, er.Name+": "+er.Err)
		}
	}
	tables := map[string]*results.Table{}
	for _, er := range rep.Experiments {
		if er.Dir == "" {
			continue
		}
		run, _, err := results.Open(er.Dir)
		if err != nil {
			failed = append(failed, er.Name+": "+err.Error())
			continue
		}
		tables[er.Name] = run.Table()
		if w := runWall(run.Info, run.Records); w > 0 {
			er.Wall = w
		}
		er.Commit = commitOf(run.Info.Host)
		if rep.Host.Hostname == "" {
			rep.Host = run.Info.Host
		}
	}
	if rep.Host.GitCommit == "" {
		rep.Host.GitCommit, rep.Host.GitDirty = gitCommit(ctx, opts.Dir)
	}
	for _, c := range chosen {
		for _, name := range []string{c.Experiment, c.Experiment + "-ceph"} {
			er := find(rep.Experiments, name)
			if er == nil || er.NeedsHost {
				continue // a Ceph variant without a cluster: the report's coverage names it
			}
			t := tables[name]
			var res Result
			if t == nil {
				res = Result{Claim: c, Verdict: Inconclusive, Why: "not measured: " + er.Err, Ours: math.NaN(), Low: math.NaN(), High: math.NaN()}
			} else {
				res = Evaluate(c, t, strings.HasSuffix(name, "-ceph"))
			}
			res.Experiment, res.Run = name, er.Dir
			res.Plot = plotFor(c, exps[name], er)
			rep.Results = append(rep.Results, res)
		}
	}
	rep.Wall = time.Since(start)
	if len(failed) > 0 {
		return rep, fmt.Errorf("reproduce: %d of %d experiments did not run to the end:\n%s", len(failed), len(rep.Experiments), strings.Join(failed, "\n"))
	}
	return rep, nil
}

// experimentFiles are the experiments of the chosen claims, each followed
// by its Ceph variant when there is one (every file of dir with all).
// Claims of an experiment without a file are kept, to be reported.
func experimentFiles(dir string, claims []Claim, all bool) ([]*ExperimentRun, error) {
	var out []*ExperimentRun
	add := func(name string) {
		if find(out, name) != nil {
			return
		}
		er := &ExperimentRun{Name: name}
		if f := filepath.Join(dir, name+".toml"); exists(f) {
			er.File = f
		} else {
			er.Err = "no experiment file " + f
		}
		out = append(out, er)
	}
	for _, name := range Experiments(claims) {
		add(name)
		if exists(filepath.Join(dir, name+"-ceph.toml")) {
			add(name + "-ceph")
		}
	}
	if all {
		files, err := filepath.Glob(filepath.Join(dir, "*.toml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			add(strings.TrimSuffix(filepath.Base(f), ".toml"))
		}
	}
	return out, nil
}

// runWall is how long a finished run's measurements took: its own span
// and, for the points it kept from an interrupted run (their records are
// older than its start), the span of those records in the earlier pass (a
// little less than that pass took: its first point's set-up comes before
// its first record). 0 for a run without an end.
func runWall(info results.Info, recs []results.Record) time.Duration {
	if info.End.IsZero() || !info.End.After(info.Start) {
		return 0
	}
	d := info.End.Sub(info.Start)
	var first, last time.Time
	for _, r := range recs {
		if r.Time.IsZero() || !r.Time.Before(info.Start) {
			continue
		}
		if first.IsZero() || r.Time.Before(first) {
			first = r.Time
		}
		if r.Time.After(last) {
			last = r.Time
		}
	}
	if !first.IsZero() {
		d += last.Sub(first)
	}
	return d
}

// errNoCluster: a Ceph experiment, and no cluster named.
var errNoCluster = errors.New("needs a Ceph cluster: set $POLYTROPON_CEPH_CONF or -ceph-conf (polytropon ceph up starts one)")

// gitCommit is the commit of the tree that holds dir, for a report whose
// runs' binary did not record one.
func gitCommit(ctx context.Context, dir string) (string, bool) {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	st, err := exec.CommandContext(ctx, "git", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), err == nil && len(bytes.TrimSpace(st)) > 0
}

// load loads an experiment at a scale, pointing a Ceph experiment at
// cephConf when it is set.
func load(file, scale, cephConf string) (*config.Experiment, error) {
	e, err := config.Decode(file)
	if err != nil {
		return nil, err
	}
	if err := e.ApplyScale(scale); err != nil {
		return nil, err
	}
	if e.Backend == "ceph" {
		switch {
		case cephConf != "":
			// The cluster the user named: absent is a mistake to report.
			if _, err := os.Stat(cephConf); err != nil {
				return nil, fmt.Errorf("%s: the named Ceph cluster's conf: %v", file, err)
			}
			e.Ceph.Conf = cephConf
		case e.Ceph.Conf == "" && os.Getenv("CEPH_CONF") == "":
			return nil, fmt.Errorf("%w: %s", errNoCluster, file)
		case e.Ceph.Conf != "":
			// The file's own conf may name a cluster of another machine
			// (ceph-guest.toml: the guest stage's): absent here, the
			// experiment needs a cluster.
			if _, err := os.Stat(e.Ceph.Conf); err != nil {
				return nil, fmt.Errorf("%w: %s: its [ceph] conf: %v", errNoCluster, file, err)
			}
		}
	}
	e.EnsureDefaults()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// runExperiment runs one experiment into out, or keeps its finished run.
func runExperiment(ctx context.Context, e *config.Experiment, er *ExperimentRun, out string, opts Options) {
	if dir := finishedRun(out, e.Name); dir != "" {
		er.Dir, er.Resumed = dir, true
	} else {
		ro := opts.Run
		ro.OutDir = out
		// Points this host cannot run (kernel CephFS) are skipped with the
		// reason, which the report gives per claim.
		ro.GoOn = true
		if dir, carry := interruptedRun(out, e.Name); len(carry) > 0 {
			ro.Carry, er.Resumed = carry, true
			er.Err = fmt.Sprintf("resumed from %s (%d points kept)", dir, len(carry))
		}
		oc, err := runner.Run(ctx, e, ro)
		if oc != nil {
			er.Dir = oc.Dir
		}
		switch {
		case err != nil:
			er.Err = err.Error()
		case ro.Carry != nil:
			er.Err = "" // resumed and finished
		}
	}
	run, _, err := results.Open(er.Dir)
	if err != nil {
		if er.Err == "" {
			er.Err = err.Error()
		}
		return
	}
	t := run.Table()
	er.Points = len(t.Points()) + len(t.Skipped)
	er.Skipped = len(t.Skipped)
	seen := map[string]bool{}
	for _, f := range t.Failures {
		seen[f.Point] = true
	}
	er.Failed = len(seen)
	er.Plots, _ = filepath.Glob(filepath.Join(er.Dir, results.PlotsDir, "*.png"))
}

// finishedRun is the newest complete run directory of the experiment
// in out, or "".
func finishedRun(out, name string) string {
	dirs, _ := filepath.Glob(filepath.Join(out, name+"-*"))
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if strings.Contains(strings.TrimPrefix(filepath.Base(d), name+"-"), "-") {
			continue // another experiment whose name extends this one (x-ceph-<time>)
		}
		run, _, err := results.Open(d)
		if err != nil || !run.Complete() {
			continue
		}
		return d
	}
	return ""
}

// interruptedRun is the newest incomplete run of the experiment in out
// and the records of the points it finished (every point it reached but
// the last, which was being measured, and those with a failed
// repetition), by point name.
func interruptedRun(out, name string) (string, map[string][]results.Record) {
	dirs, _ := filepath.Glob(filepath.Join(out, name+"-*"))
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if strings.Contains(strings.TrimPrefix(filepath.Base(d), name+"-"), "-") {
			continue
		}
		run, _, err := results.Open(d)
		if err != nil || run.Complete() {
			continue
		}
		var order []string
		byPoint := map[string][]results.Record{}
		failed := map[string]bool{}
		for _, rec := range run.Records {
			if rec.Point == "" {
				continue
			}
			if _, seen := byPoint[rec.Point]; !seen {
				order = append(order, rec.Point)
			}
			byPoint[rec.Point] = append(byPoint[rec.Point], rec)
			if rec.Kind == results.KindRepetition && !rec.OK {
				failed[rec.Point] = true
			}
		}
		if len(order) == 0 {
			return d, nil
		}
		delete(byPoint, order[len(order)-1])
		for p := range failed {
			delete(byPoint, p)
		}
		return d, byPoint
	}
	return "", nil
}

// plotFor is the figure beside a claim: the named plot, else the first
// plot of the claim's metric, else the experiment's first plot.
func plotFor(c Claim, e *config.Experiment, er *ExperimentRun) string {
	if e == nil || er.Dir == "" {
		return ""
	}
	name := c.Plot
	if name == "" {
		for _, p := range e.Plots {
			if p.Y == c.Metric || strings.HasPrefix(c.Metric, p.Y+"@") {
				name = p.File
				break
			}
		}
	}
	if name == "" && len(e.Plots) > 0 {
		name = e.Plots[0].File
	}
	if name == "" {
		return ""
	}
	// The Ceph variant's plots carry its own file names: take the one
	// that stands at the same place.
	if i := slices.IndexFunc(e.Plots, func(p config.Plot) bool { return p.File == name }); i < 0 {
		for _, p := range e.Plots {
			if p.Y == c.Metric {
				name = p.File
				break
			}
		}
	}
	f := filepath.Join(er.Dir, results.PlotsDir, name+".png")
	if !exists(f) {
		return ""
	}
	return f
}

func find(ers []*ExperimentRun, name string) *ExperimentRun {
	for _, er := range ers {
		if er.Name == name {
			return er
		}
	}
	return nil
}

// prepare loads the claims and every experiment they need at the scale,
// and checks the claims' metrics against them.
func prepare(opts Options) (*Report, map[string]*config.Experiment, []Claim, error) {
	if !slices.Contains(config.ScaleNames, opts.Scale) {
		return nil, nil, nil, fmt.Errorf("reproduce: unknown scale %q (have %v)", opts.Scale, config.ScaleNames)
	}
	claims, err := LoadClaims(filepath.Join(opts.Dir, ClaimsFile))
	if err != nil {
		return nil, nil, nil, err
	}
	chosen, err := Select(claims, opts.Figures)
	if err != nil {
		return nil, nil, nil, err
	}
	files, err := experimentFiles(opts.Dir, chosen, opts.All)
	if err != nil {
		return nil, nil, nil, err
	}
	// Load every experiment at the scale and check the claims' metrics
	// against it before anything runs.
	rep := &Report{Scale: opts.Scale}
	exps := map[string]*config.Experiment{}
	var problems []string
	for _, er := range files {
		rep.Experiments = append(rep.Experiments, er)
		if er.File == "" {
			continue
		}
		e, err := load(er.File, opts.Scale, opts.CephConf)
		if errors.Is(err, errNoCluster) {
			er.Err, er.NeedsHost = err.Error(), true
			continue
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		exps[er.Name] = e
		for _, c := range chosen {
			if c.Experiment != strings.TrimSuffix(er.Name, "-ceph") {
				continue
			}
			for _, m := range c.Metrics() {
				if msg := e.MetricProblem(m); msg != "" {
					problems = append(problems, fmt.Sprintf("%s: claim %s: %s", filepath.Join(opts.Dir, ClaimsFile), c.ID, msg))
				}
			}
		}
	}
	if len(problems) > 0 {
		return nil, nil, nil, fmt.Errorf("reproduce: %s", strings.Join(problems, "\n"))
	}
	return rep, exps, chosen, nil
}

// Plan says what Run would measure, without measuring: per experiment
// the points that will run (those this host cannot run are counted out,
// as the pre-run check would skip them), its repetitions and the
// estimated wall time of the pre-run check (runner.Doctor: warm-up +
// duration + the set-up of pools, system and collectors per
// repetition), and the sums at the minimum and the maximum of
// repetitions. A finished run already in Out/<scale>/ is kept by Run, so
// it costs nothing here. Preparation beyond the estimate's allowance
// (large file sets, a RocksDB fill) is not counted.
func Plan(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Scale == "" {
		opts.Scale = config.ScaleHost
	}
	rep, exps, chosen, err := prepare(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d claims, %d experiments at scale %s (points that will run x repetitions x ~(warm-up + duration + set-up)):\n", len(chosen), len(rep.Experiments), opts.Scale)
	out := filepath.Join(opts.Out, opts.Scale)
	var lo, hi time.Duration
	for _, er := range rep.Experiments {
		e := exps[er.Name]
		if e == nil {
			fmt.Fprintf(w, "  %-42s not run: %s\n", er.Name, firstLine(er.Err))
			continue
		}
		if dir := finishedRun(out, e.Name); dir != "" {
			fmt.Fprintf(w, "  %-42s kept: %s\n", er.Name, dir)
			continue
		}
		d := runner.Doctor(ctx, e)
		est := d.Estimate
		lo, hi = lo+est.Min, hi+est.Max
		skipped := ""
		if b := d.Blocked(); len(b) > 0 {
			skipped = fmt.Sprintf(" (%d points skipped: %s)", len(b), firstLine(b[0].Why))
		}
		fmt.Fprintf(w, "  %-42s %3d points x %d..%d repetitions x ~%v: %s%s\n", er.Name, est.Points, est.Reps.Min, est.Reps.Max,
			est.PerRep.Round(time.Second), est.Span(), skipped)
	}
	fmt.Fprintf(w, "total %v (minimum repetitions) .. %v (maximum)\n", lo.Round(time.Second), hi.Round(time.Second))
	return nil
}

// commitOf is a run's commit as the report shows it: short, and marked
// when the tree had uncommitted changes.
func commitOf(h results.Host) string {
	c := h.GitCommit
	if len(c) > 12 {
		c = c[:12]
	}
	if c != "" && h.GitDirty {
		c += " (dirty)"
	}
	return c
}

// RunsWall is the time the reported runs took together: with runs kept
// from earlier reproductions, more than this reproduction's own Wall.
func (r *Report) RunsWall() time.Duration {
	var d time.Duration
	for _, er := range r.Experiments {
		d += er.Wall
	}
	return d
}
