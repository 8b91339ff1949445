package main

import (
	"context"
	"fmt"
	"io"

	"polytropon/runner"
	"polytropon/runner/config"
)

// doctor checks the host: `polytropon doctor [experiments/X.toml]`.
func init() {
	register(command{
		name:    "doctor",
		summary: "check this host: what systems, workloads and collectors need (ok / missing and the fix); with an experiment file, which points will run and about how long",
		run:     runDoctor,
	})
}

func runDoctor(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("doctor", "[experiment.toml]", stderr)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 1 {
		fset.Usage()
		return fmt.Errorf("want at most one experiment file, got %q", fset.Args())
	}
	var exp *config.Experiment
	if fset.NArg() == 1 {
		var err error
		if exp, err = config.Load(fset.Arg(0)); err != nil {
			return err
		}
	}
	d := runner.Doctor(context.Background(), exp)
	d.Write(stdout)
	if n := len(d.Blocked()); n > 0 {
		return fmt.Errorf("%w: %d of %d points", runner.ErrCannotRun, n, len(d.Points))
	}
	return nil
}
