package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"polytropon/results"
	"polytropon/runner/config"
)

// compare gates CI on regressions: `polytropon compare BASE NEW`.
func init() {
	register(command{
		name:    "compare",
		summary: "compare two result runs benchstat-style; fails on a significant regression",
		run:     compareRuns,
	})
}

// metricList is a repeatable -metric flag.
type metricList []string

func (m *metricList) String() string     { return strings.Join(*m, ",") }
func (m *metricList) Set(v string) error { *m = append(*m, v); return nil }

func compareRuns(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("compare", "BASE-RUN NEW-RUN", stderr)
	threshold := fset.Float64("threshold", -1, "regression when significantly worse by more than this fraction (default: the base run's [compare] threshold, else 0.05)")
	alpha := fset.Float64("alpha", -1, "significance level (default: [compare] alpha, else 0.05)")
	test := fset.String("test", "", `"mann-whitney" or "welch" (default: [compare] test, else mann-whitney)`)
	var metrics metricList
	fset.Var(&metrics, "metric", `metric to compare; repeatable; "all" for every metric (default: [compare] metrics, else run.main_metric; every metric for a queuebench, copybench or cachebench run)`)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 2 {
		fset.Usage()
		return fmt.Errorf("want two run directories (BASE NEW), got %d arguments", fset.NArg())
	}
	base, warn, err := results.Open(fset.Arg(0))
	if err != nil {
		return err
	}
	newer, warn2, err := results.Open(fset.Arg(1))
	if err != nil {
		return err
	}
	for _, w := range append(warn, warn2...) {
		fmt.Fprintln(stderr, "warning:", w)
	}
	// An experiment's run takes its [compare] settings; a benchmark
	// subcommand's run (queuebench, copybench, cachebench: no experiment file, its
	// metrics declared in host.json) compares every metric by default.
	opts := results.CompareOptions{Threshold: 0.05, Alpha: 0.05, Test: "mann-whitney"}
	if exp, err := config.Parse(filepath.Join(base.Dir, results.ConfigFile), base.Config); err == nil {
		exp.EnsureDefaults()
		opts = exp.CompareOptions()
	} else if len(base.Info.Metrics) == 0 {
		fmt.Fprintf(stderr, "warning: base run's config not readable, using default compare settings: %v\n", err)
	}
	if *threshold >= 0 {
		opts.Threshold = *threshold
	}
	if *alpha >= 0 {
		opts.Alpha = *alpha
	}
	if *test != "" {
		opts.Test = *test
	}
	switch {
	case len(metrics) == 1 && metrics[0] == "all":
		opts.Metrics = nil
	case len(metrics) > 0:
		opts.Metrics = metrics
	}
	rep, err := results.Compare(base, newer, opts)
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	return rep.Err()
}
