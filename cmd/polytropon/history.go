package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"polytropon/results"
)

// history follows results over commits: `polytropon history RUN... | DIR`.
func init() {
	register(command{
		name:    "history",
		summary: "each (host, point, metric) over runs and commits: change points (E-Divisive means), the baseline since the last change, trend plots",
		run:     historyRuns,
	})
}

func historyRuns(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("history", "RUN... | DIR", stderr)
	minChange := fset.Float64("min-change", 0.05, "smallest change between segments that counts as a change point (fraction)")
	alpha := fset.Float64("alpha", 0.05, "significance level of each change point's permutation test")
	plots := fset.String("plots", "", "directory for the trend plots history-<metric>.png/.svg (default: DIR/history, or none for a list of runs)")
	var metrics metricList
	fset.Var(&metrics, "metric", "metric to follow; repeatable (default: each run's main metric, every declared metric of a benchmark run)")
	if err := fset.Parse(args); err != nil {
		return usageError{err}
	}
	if fset.NArg() == 0 {
		fset.Usage()
		return usageError{errors.New("want run directories, or one directory that holds runs")}
	}
	dirs := fset.Args()
	if len(dirs) == 1 {
		if _, err := os.Stat(filepath.Join(dirs[0], results.HostFile)); err != nil {
			// A directory of runs (and of A/B runs).
			found, err := filepath.Glob(filepath.Join(dirs[0], "*", results.HostFile))
			if err != nil || len(found) == 0 {
				return usageError{fmt.Errorf("%s is neither a run nor a directory of runs (no */%s)", dirs[0], results.HostFile)}
			}
			if *plots == "" {
				*plots = filepath.Join(dirs[0], "history")
			}
			dirs = nil
			for _, f := range found {
				dirs = append(dirs, filepath.Dir(f))
			}
		}
	}
	var runs []*results.Run
	for _, dir := range dirs {
		run, warn, err := results.Open(dir)
		if err != nil {
			return usageError{err}
		}
		if len(warn) > 0 {
			fmt.Fprintf(stderr, "skipping %s: %v\n", dir, warn[0]) // an interrupted run is not a point of the history
			continue
		}
		runs = append(runs, run)
	}
	series, err := results.History(runs, results.HistoryOptions{Metrics: metrics, MinChange: *minChange, Alpha: *alpha})
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("no series: the %d runs have none of the metrics %v", len(runs), metrics)
	}
	if err := results.WriteHistory(stdout, series); err != nil {
		return err
	}
	if *plots != "" {
		files, err := results.HistoryPlots(series, *plots)
		for _, f := range files {
			fmt.Fprintln(stdout, "plot", f)
		}
		return err
	}
	return nil
}
