package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"polytropon/results"
	"polytropon/runner/config"
)

// compare gates CI on regressions: `polytropon compare BASE NEW` or
// `polytropon compare AB-RUN`.
func init() {
	register(command{
		name:    "compare",
		summary: "regression gate: two runs, or the two sides of an A/B run; exit 0 pass, 10 regression, 11-15 undecided (docs/ci.md)",
		run:     compareRuns,
	})
}

// metricList is a repeatable -metric flag.
type metricList []string

func (m *metricList) String() string     { return strings.Join(*m, ",") }
func (m *metricList) Set(v string) error { *m = append(*m, v); return nil }

// gateFlags are the flags of the regression gate, shared by compare and ab.
type gateFlags struct {
	threshold, alpha     *float64
	minRounds, maxRounds *int
	allowHostChange      *bool
	metrics              metricList
}

func addGateFlags(fset *flag.FlagSet, g *gateFlags) {
	g.threshold = fset.Float64("threshold", -1, "regression when worse by at least this fraction (default: the base run's [compare] threshold, else 0.05)")
	g.alpha = fset.Float64("alpha", -1, "familywise significance level over every point and metric, Holm-corrected (default: [compare] alpha, else 0.05)")
	g.minRounds = fset.Int("min-rounds", 5, "fewest rounds (pairs, or repetitions per side) that get a verdict; fewer exit 12")
	g.maxRounds = fset.Int("max-rounds", 50, "when even this many rounds could not detect a threshold-sized change at the measured noise, exit 11")
	g.allowHostChange = fset.Bool("allow-host-change", false, "compare runs from different hosts, kernels, cgroup modes, tool versions or configs (otherwise exit 14)")
	fset.Var(&g.metrics, "metric", `metric to gate; repeatable; "all" for every metric (default: [compare] metrics, else run.main_metric; every metric for a queuebench, copybench or cachebench run)`)
}

// options are the gate options for runs whose base is base: its
// experiment's [compare] table, overridden by the flags.
func (g *gateFlags) options(base *results.Run, stderr io.Writer) results.GateOptions {
	opts := results.GateOptions{Threshold: 0.05, Alpha: 0.05}
	if exp, err := config.Parse(filepath.Join(base.Dir, results.ConfigFile), base.Config); err == nil {
		exp.EnsureDefaults()
		opts.Threshold, opts.Alpha, opts.Metrics = exp.Compare.Threshold, exp.Compare.Alpha, exp.Compare.Metrics
	} else if len(base.Info.Metrics) == 0 {
		fmt.Fprintf(stderr, "warning: base run's config not readable, using default gate settings: %v\n", err)
	}
	if *g.threshold >= 0 {
		opts.Threshold = *g.threshold
	}
	if *g.alpha >= 0 {
		opts.Alpha = *g.alpha
	}
	opts.MinRounds, opts.MaxRounds, opts.AllowHostChange = *g.minRounds, *g.maxRounds, *g.allowHostChange
	switch {
	case len(g.metrics) == 1 && g.metrics[0] == "all":
		opts.Metrics = nil
	case len(g.metrics) > 0:
		opts.Metrics = g.metrics
	}
	return opts
}

func compareRuns(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("compare", "BASE-RUN NEW-RUN | AB-RUN", stderr)
	var g gateFlags
	addGateFlags(fset, &g)
	if err := fset.Parse(args); err != nil {
		return usageError{err}
	}
	if fset.NArg() != 1 && fset.NArg() != 2 {
		fset.Usage()
		return usageError{fmt.Errorf("want two run directories (BASE NEW) or one A/B run, got %d arguments", fset.NArg())}
	}
	var runs []*results.Run
	for _, dir := range fset.Args() {
		run, warn, err := results.Open(dir)
		if err != nil {
			return usageError{err}
		}
		for _, w := range warn {
			fmt.Fprintln(stderr, "warning:", w)
		}
		runs = append(runs, run)
	}
	opts := g.options(runs[0], stderr)
	var rep *results.GateReport
	var err error
	if len(runs) == 1 {
		rep, err = results.GateAB(runs[0], opts)
	} else {
		rep, err = results.Gate(runs[0], runs[1], opts)
	}
	if err != nil {
		return usageError{err}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	return rep.Err()
}
