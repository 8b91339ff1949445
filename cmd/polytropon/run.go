package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"polytropon/runner"
	"polytropon/runner/config"
)

// run measures an experiment: `polytropon run [flags] experiments/X.toml`.
func init() {
	register(command{
		name:    "run",
		summary: "run an experiment file: provision pools, measure every point, store results and plots",
		run:     runExperiment,
	})
}

func runExperiment(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("run", "experiment.toml", stderr)
	out := fset.String("out", "out", "directory in which the run directory <name>-<UTC time> is created")
	work := fset.String("work", "", "scratch directory for images and mounts (default a new directory under $TMPDIR)")
	keep := fset.Bool("keep", false, "keep the scratch directories of each repetition (debugging)")
	scale := fset.String("scale", config.ScaleHost, "size: smoke (seconds per point), host (the file's body: a 2-vCPU 24 GiB host) or paper (the papers' parameters)")
	goOn := fset.Bool("go-on", false, "run even when the pre-run check finds points this host cannot run (they are skipped or fail); see polytropon doctor FILE")
	// Flags may also follow the file: `run experiments/quick.toml -out /tmp/x`.
	var files []string
	for {
		if err := fset.Parse(args); err != nil {
			return err
		}
		if fset.NArg() == 0 {
			break
		}
		files = append(files, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(files) != 1 {
		fset.Usage()
		return fmt.Errorf("want exactly one experiment file, got %d: %q", len(files), files)
	}
	exp, err := config.LoadScale(files[0], *scale)
	if err != nil {
		return err
	}
	// The first Ctrl-C cancels the run (agents stop, everything is torn
	// down, the run is marked incomplete); the second one kills at once.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs) // the next signal takes the default action
			fmt.Fprintf(stderr, "\npolytropon run: %v: stopping agents and cleaning up (Ctrl-C again to force)\n", sig)
			cancel(fmt.Errorf("%w by %v", runner.ErrInterrupted, sig))
		case <-ctx.Done():
		}
	}()
	_, err = runner.Run(ctx, exp, runner.Options{
		OutDir: *out, WorkDir: *work, Keep: *keep, GoOn: *goOn, Stdout: stdout, Stderr: stderr,
	})
	return err
}
