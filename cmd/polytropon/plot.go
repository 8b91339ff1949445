package main

import (
	"fmt"
	"io"
	"path/filepath"

	"polytropon/results"
	"polytropon/runner/cachebench"
	"polytropon/runner/config"
	"polytropon/runner/ipcbench"
)

// plot redraws a run's figures: `polytropon plot RUN`.
func init() {
	register(command{
		name:    "plot",
		summary: "redraw the figures of a result run from its samples and stored config",
		run:     plotRun,
	})
}

func plotRun(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("plot", "RUN-DIR", stderr)
	table := fset.Bool("table", false, "also print the summary table")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return fmt.Errorf("want one run directory, got %d arguments", fset.NArg())
	}
	run, warn, err := results.Open(fset.Arg(0))
	if err != nil {
		return err
	}
	for _, w := range warn {
		fmt.Fprintln(stderr, "warning:", w)
	}
	// An experiment's run draws its [[plot]] tables; a bake-off run
	// (queuebench, copybench, cachebench) has no experiment file and
	// draws its own.
	var specs []results.PlotSpec
	var ok bool
	if exp, err := config.Parse(filepath.Join(run.Dir, results.ConfigFile), run.Config); err == nil {
		exp.EnsureDefaults()
		if run.Info.Weights == nil {
			run.Info.Weights = exp.Weights()
		}
		specs = exp.PlotSpecs()
	} else if specs, ok = ipcbench.Plots(run); !ok {
		if specs, ok = cachebench.Plots(run); !ok {
			return err
		}
	}
	if *table {
		if err := run.Table().WriteText(stdout); err != nil {
			return err
		}
	}
	if len(specs) == 0 {
		fmt.Fprintf(stdout, "%s: the experiment has no [[plot]] tables\n", run.Dir)
		return nil
	}
	files, err := run.DrawPlots(specs)
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return err
}
