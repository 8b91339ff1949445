package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"polytropon/results"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
)

// recorder feeds the results store as the run goes: one instance record
// per workload instance and one closing repetition record per repetition
// (with the collectors' metrics), so an interrupted run keeps every
// finished repetition.
type recorder struct {
	exp     *config.Experiment
	run     *results.Run
	weights []float64

	table *results.Table
}

func newRecorder(ctx context.Context, exp *config.Experiment, outDir string) (*recorder, error) {
	run, err := results.Create(outDir, exp.Name)
	if err != nil {
		return nil, err
	}
	rc := &recorder{exp: exp, run: run}
	if exp.Tenants != nil {
		for _, w := range exp.Tenants.Weights {
			rc.weights = append(rc.weights, float64(w))
		}
	}
	text, err := withResolvedOptions(exp).Encode()
	if err == nil {
		err = run.WriteConfig(text)
	}
	if err == nil {
		err = run.WriteInfo(results.Info{
			Experiment: exp.Name, MainMetric: exp.Run.MainMetric, Weights: rc.weights,
			Host: results.CollectHost(ctx, results.HostOptions{}),
		})
	}
	if err == nil {
		err = os.MkdirAll(rc.logDir(), 0o755)
	}
	if err != nil {
		run.Close()
		return nil, err
	}
	return rc, nil
}

func (rc *recorder) dir() string    { return rc.run.Dir }
func (rc *recorder) logDir() string { return filepath.Join(rc.run.Dir, "logs") }

func params(pt config.Point) []results.Param {
	out := make([]results.Param, len(pt.Params))
	for i, p := range pt.Params {
		out[i] = results.Param{Key: p.Key, Value: p.Value}
	}
	return out
}

// skip records a point that was not measured (its system cannot run here).
func (rc *recorder) skip(pt config.Point, reason string) error {
	return rc.run.Append(results.Record{Kind: results.KindSkipped, Point: pt.Name(), Params: params(pt), Reason: reason})
}

// fail records a failed repetition, with the notes it made before failing
// (rep may be nil).
func (rc *recorder) fail(pt config.Point, index int, rep *Repetition, err error) error {
	if rep != nil {
		if err := rc.addNotes(pt, index, rep.Notes); err != nil {
			return err
		}
	}
	return rc.run.Append(results.Record{Kind: results.KindRepetition, Point: pt.Name(), Params: params(pt),
		Repetition: index, Error: err.Error()})
}

// addNotes stores a repetition's notes as "note" records.
func (rc *recorder) addNotes(pt config.Point, index int, notes []string) error {
	for _, n := range notes {
		if err := rc.run.Append(results.Record{Kind: results.KindNote, Point: pt.Name(), Params: params(pt), Repetition: index, Note: n}); err != nil {
			return err
		}
	}
	return nil
}

// add stores a finished repetition and reports whether the point's main
// metric is now tight enough (95% CI half-length within ci_target).
func (rc *recorder) add(pt config.Point, rep *Repetition) (tight bool, err error) {
	if err := rc.addNotes(pt, rep.Index, rep.Notes); err != nil {
		return false, err
	}
	name, ps := pt.Name(), params(pt)
	for _, in := range rep.Instances {
		rec := results.Record{Kind: results.KindInstance, Point: name, Params: ps, Repetition: rep.Index,
			Workload: in.Workload, Role: in.Role, Pool: in.Pool, Instance: in.Container}
		if in.Result != nil {
			r := results.InstanceResult(*in.Result)
			rec.Result = &r
		}
		if err := rc.run.Append(rec); err != nil {
			return false, err
		}
	}
	closing := results.Record{Kind: results.KindRepetition, Point: name, Params: ps, Repetition: rep.Index, OK: true}
	for _, m := range rep.Metrics {
		closing.Metrics = append(closing.Metrics, metrics.Record(m))
	}
	if err := rc.run.Append(closing); err != nil {
		return false, err
	}
	return results.Tight(rc.mainSamples(name), rc.exp.Run.CITarget), nil
}

// mainSamples is the main metric of every OK repetition of a point so far.
func (rc *recorder) mainSamples(point string) []float64 {
	_, _, values := results.RepetitionValues(rc.run.Records, rc.weights)
	reps := values[point]
	idx := make([]int, 0, len(reps))
	for i := range reps {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var xs []float64
	for _, i := range idx {
		if v, ok := reps[i][rc.exp.Run.MainMetric]; ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// finish writes the summary of a complete run (and removes INCOMPLETE), or
// only closes an interrupted one, which stays marked incomplete.
func (rc *recorder) finish(complete bool) error {
	os.Remove(rc.logDir()) // only when empty: no agent wrote to stderr
	if complete {
		t, err := rc.run.Finish()
		rc.table = t
		return err
	}
	rc.table = rc.run.Table()
	return rc.run.Close()
}

// summarize prints the main metric of every point, and what was skipped or
// failed; summary.csv has every metric.
func (rc *recorder) summarize(w io.Writer, out *Outcome) error {
	main := rc.exp.Run.MainMetric
	unit := results.DescribeMetric(main).Unit
	target := rc.exp.Run.CITarget
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// The CI is the mean's (Student t), so it stands beside the mean.
	fmt.Fprintf(tw, "point\t%s (%s): mean\t± ci95\tmedian\tn\tstatus\n", main, unit)
	for _, po := range out.Points {
		row := rc.table.Lookup(po.Point.Name(), main)
		status := "ok"
		switch {
		case po.Skipped != "":
			status = "skipped: " + truncate(po.Skipped, 100)
		case po.Err != nil:
			status = "FAILED: " + truncate(strings.ReplaceAll(po.Err.Error(), "\n", " "), 100)
		case len(po.Repetitions) < rc.exp.Run.Repetitions.Min:
			status = "incomplete"
		case row != nil && target > 0 && !(row.RelCI <= target):
			status = fmt.Sprintf("ok, ci95 > target %g%%", target*100)
		}
		mean, ci, median, n := "-", "-", "-", 0
		if row != nil {
			mean, ci, median, n = fmtFloat(row.Mean), fmtRelCI(row.RelCI), fmtFloat(row.Median), row.N
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", po.Point.Name(), mean, ci, median, n, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if notes := rc.table.Notes; len(notes) > 0 {
		fmt.Fprintf(w, "\nnotes (also in %s):\n", filepath.Join(rc.run.Dir, results.HostFile))
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	complete := "complete"
	if !rc.run.Complete() {
		complete = "INCOMPLETE"
	}
	_, err := fmt.Fprintf(w, "\nrun %s: %s; all metrics in %s, samples in %s\n", rc.run.Dir, complete,
		filepath.Join(rc.run.Dir, results.SummaryFile), filepath.Join(rc.run.Dir, results.SamplesFile))
	return err
}

func fmtFloat(v float64) string { return fmt.Sprintf("%.4g", v) }

func fmtRelCI(rel float64) string {
	if rel > 1e9 || rel != rel {
		return "∞"
	}
	return fmt.Sprintf("%.1f%%", rel*100)
}

// plot draws the experiment's figures into the run's plots directory (also
// for an interrupted run: the finished points are worth a look).
func (rc *recorder) plot(w io.Writer) error {
	specs := rc.exp.PlotSpecs()
	if len(specs) == 0 {
		return nil
	}
	files, err := rc.run.DrawPlots(specs)
	for _, f := range files {
		fmt.Fprintf(w, "plot: %s\n", f)
	}
	if err != nil {
		return fmt.Errorf("runner: plots: %w", err)
	}
	return nil
}
