package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"polytropon/results"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
	"polytropon/systems"
)

// Experiments may name every registered system and every paper label (a
// paper system not built into this binary is skipped at run time with the
// reason recorded, like one whose Check fails); their [options.<system>]
// tables are decoded into the systems' own options structs.
func init() {
	config.NewSystemOptions = systems.NewOptions
	config.SystemNames = func() []string {
		names := systems.Names()
		for _, n := range config.PaperSystems {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return names
	}
}

// Options are the knobs of one run that are not part of the experiment.
type Options struct {
	// OutDir is where the run directory <experiment>-<UTC time> is
	// created; default "out".
	OutDir string
	// WorkDir is the scratch directory for images and mounts; default a
	// fresh directory under $TMPDIR, removed at the end.
	WorkDir string
	// AgentBinary is the polytropon executable re-executed inside pools as
	// `_agent`; default /proc/self/exe (this executable; tests that run
	// the library from a test binary name the built polytropon).
	AgentBinary string
	// Keep keeps each repetition's scratch directory (debugging).
	Keep bool
	// Carry are the records of points an earlier, interrupted run of the
	// same experiment finished, by point name: they are stored in this run
	// and those points are not measured again (polytropon reproduce
	// resumes this way).
	Carry map[string][]results.Record
	// Stdout receives the summary table; Stderr the progress line and
	// notes. Nil discards.
	Stdout, Stderr io.Writer
	// GoOn runs an experiment some of whose points cannot run here (the
	// pre-run check, preflight.go): those are skipped or fail as they
	// come. Without it Run refuses with ErrCannotRun.
	GoOn bool
}

// PointOutcome is what happened at one point.
type PointOutcome struct {
	Point       config.Point
	Repetitions []*Repetition
	Skipped     string // reason the point was not measured (system unavailable)
	Err         error  // the repetition that failed, if any
}

// Outcome is the result of Run.
type Outcome struct {
	Dir      string // the run directory
	Points   []*PointOutcome
	Complete bool
}

// runState is shared by the points and repetitions of one run.
type runState struct {
	exp        *config.Experiment
	opts       Options
	workDir    string
	logDir     string
	group      string // cgroup parent of this run's pools
	agentBin   string
	hostCores  []int
	collectors []string
	prog       *progress
	rec        *recorder
	shownNotes map[string]bool
}

// Run measures every point of the experiment: for each point (system × pool
// count × sweep values) it repeats the measurement between
// run.repetitions.min and max times, until the 95% confidence interval of
// the main metric is within run.ci_target of its mean. Each repetition
// provisions fresh pools, sets up the system in each, runs one workload
// agent per container inside its pool, collects the metrics of the measured
// window and tears everything down again. Results go to the run directory
// as they are measured; at the end Run prints a summary table and draws the
// experiment's plots.
//
// When ctx is cancelled (Ctrl-C), Run stops the agents, tears everything
// down, keeps the finished repetitions, marks the run incomplete and returns
// an error wrapping ErrInterrupted.
func Run(ctx context.Context, exp *config.Experiment, opts Options) (*Outcome, error) {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	// Before anything is set up: settings the harness cannot apply would
	// otherwise be ignored silently.
	if err := exp.ValidateRun(); err != nil {
		return nil, err
	}
	if err := checkPoolMemory(exp); err != nil {
		return nil, err
	}
	if err := requireRoot("polytropon run"); err != nil {
		return nil, err
	}
	if err := preflight(ctx, exp, opts); err != nil {
		return nil, err
	}
	r := &runState{exp: exp, opts: opts, shownNotes: map[string]bool{}}
	var err error
	if r.agentBin, err = agentBinary(opts.AgentBinary); err != nil {
		return nil, err
	}
	if r.hostCores, err = pool.HostCores(); err != nil {
		return nil, err
	}
	r.collectors = exp.Run.Collectors
	if len(r.collectors) == 0 {
		r.collectors = metrics.Names()
	}
	if slices.Contains(r.collectors, "cpu") {
		// Before any pool exists: the kernel accounts delays only of
		// tasks forked while this is on (iowait_delay_seconds).
		defer metrics.HoldDelayAccounting()()
	}
	start := time.Now()
	if opts.OutDir == "" {
		opts.OutDir = "out"
	}
	if r.rec, err = newRecorder(ctx, exp, opts.OutDir); err != nil {
		return nil, err
	}
	r.logDir = r.rec.logDir()
	if opts.WorkDir == "" {
		if r.workDir, err = os.MkdirTemp("", "polytropon-work-"); err != nil {
			return nil, err
		}
		if !opts.Keep {
			defer os.RemoveAll(r.workDir)
		}
	} else {
		r.workDir = opts.WorkDir
		if err := os.MkdirAll(r.workDir, 0o755); err != nil {
			return nil, err
		}
	}
	r.group = fmt.Sprintf("%s/run-%s-%d", pool.DefaultGroup, start.Format("20060102T150405"), os.Getpid())
	defer func() {
		// Anything a crashed repetition left in this run's cgroups.
		if err := pool.Sweep(r.group); err != nil {
			fmt.Fprintf(opts.Stderr, "polytropon run: sweeping pools: %v\n", err)
		}
	}()

	points := exp.Points()
	r.prog = newProgress(opts.Stderr, len(points), exp.Run.Repetitions.Min)
	out := &Outcome{Dir: r.rec.dir(), Complete: true}
	r.prog.logf("polytropon run %s: %d points, results in %s", exp.Name, len(points), out.Dir)
	for _, pt := range points {
		if ctx.Err() != nil {
			out.Complete = false
			break
		}
		var po *PointOutcome
		if recs := opts.Carry[pt.Name()]; len(recs) > 0 {
			var err error
			if po, err = r.carry(pt, recs); err != nil {
				po.Err = err
			}
		} else {
			po = r.runPoint(ctx, pt)
		}
		out.Points = append(out.Points, po)
		r.prog.pointDone()
		if ctx.Err() != nil {
			out.Complete = false
			break
		}
	}
	r.prog.stop()

	var errs []error
	if err := r.rec.finish(out.Complete); err != nil {
		errs = append(errs, err)
	}
	if err := r.rec.summarize(opts.Stdout, out); err != nil {
		errs = append(errs, err)
	}
	if err := r.rec.plot(opts.Stderr); err != nil {
		errs = append(errs, err)
	}
	failed := 0
	for _, po := range out.Points {
		if po.Err != nil {
			failed++
		}
	}
	switch {
	case !out.Complete:
		errs = append(errs, fmt.Errorf("%w: run marked incomplete, %s", interruptCause(ctx), out.Dir))
	case failed > 0:
		errs = append(errs, fmt.Errorf("%w: %d of %d points failed (see %s)", ErrPointsFailed, failed, len(points), out.Dir))
	}
	return out, errors.Join(errs...)
}

// interruptCause is the reason ctx ended, always wrapping ErrInterrupted.
func interruptCause(ctx context.Context) error {
	if c := context.Cause(ctx); errors.Is(c, ErrInterrupted) {
		return c
	}
	return ErrInterrupted
}

// runPoint measures one point until its statistics are tight enough.
func (r *runState) runPoint(ctx context.Context, pt config.Point) *PointOutcome {
	po := &PointOutcome{Point: pt}
	sys, err := pointSystem(r.exp, pt, len(r.hostCores))
	if err != nil {
		po.Skipped = err.Error()
		r.prog.logf("point %s: skipped: %v", pt.Name(), err)
		if err := r.rec.skip(pt, po.Skipped); err != nil {
			r.prog.logf("recording the skip: %v", err)
		}
		return po
	}
	reps := r.exp.Run.Repetitions
	for i := 0; i < reps.Max; i++ {
		r.prog.status(pt.Index, pt.System, pt.Pools, i, reps.Max)
		rctx, cancel := context.WithTimeoutCause(ctx, r.exp.Run.Timeout.Duration,
			fmt.Errorf("runner: repetition timed out after run.timeout = %v", r.exp.Run.Timeout.Duration))
		t0 := time.Now()
		rep, err := r.runRepetition(rctx, pt, sys, i)
		timedOut := rctx.Err() != nil && ctx.Err() == nil
		cancel()
		r.prog.repDone(time.Since(t0))
		if ctx.Err() != nil {
			// Interrupted: the unfinished repetition is dropped.
			if err != nil {
				r.prog.logf("point %s rep %d: interrupted: %v", pt.Name(), i, err)
			}
			return po
		}
		if err != nil && i == 0 && errors.Is(err, systems.ErrUnavailable) {
			// Setup found out what Check could not (e.g. K on the ceph backend).
			po.Skipped = err.Error()
			r.prog.logf("point %s: skipped: %v", pt.Name(), err)
			if rerr := r.rec.skip(pt, po.Skipped); rerr != nil {
				r.prog.logf("recording the skip: %v", rerr)
			}
			return po
		}
		if err != nil {
			if cause := context.Cause(rctx); timedOut && !errors.Is(err, cause) {
				err = fmt.Errorf("%w: %w", cause, err)
			}
			po.Err = err
			r.prog.logf("point %s rep %d: FAILED: %v", pt.Name(), i, err)
			r.showNotes(pt, i, rep)
			if rerr := r.rec.fail(pt, i, rep, err); rerr != nil {
				r.prog.logf("recording the failure: %v", rerr)
			}
			return po
		}
		r.showNotes(pt, i, rep)
		po.Repetitions = append(po.Repetitions, rep)
		tight, err := r.rec.add(pt, rep)
		if err != nil {
			po.Err = err
			r.prog.logf("point %s rep %d: FAILED: %v", pt.Name(), i, err)
			return po
		}
		if i+1 >= reps.Min && tight {
			break
		}
	}
	return po
}

// showNotes prints each distinct note once as it comes; all of them are
// stored as "note" records and listed, grouped, after the summary table
// and in host.json.
func (r *runState) showNotes(pt config.Point, i int, rep *Repetition) {
	if rep == nil {
		return
	}
	for _, n := range rep.Notes {
		if !r.shownNotes[n] {
			r.shownNotes[n] = true
			r.prog.logf("point %s rep %d: note: %s", pt.Name(), i, n)
		}
	}
}

// selfExe re-executes the very binary the runner (and so every pool engine,
// a re-exec of it) runs, even if its file was replaced meanwhile.
const selfExe = "/proc/self/exe"

// agentBinary resolves the executable re-exec'd as the workload agent.
func agentBinary(path string) (string, error) {
	if path == "" {
		if _, err := os.Executable(); err != nil {
			return "", fmt.Errorf("runner: cannot find this executable for the agents: %w", err)
		}
		return selfExe, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("runner: agent binary %s is not an executable: %v", abs, err)
	}
	return abs, nil
}
