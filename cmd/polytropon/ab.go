package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"polytropon/results"
	"polytropon/runner/ab"
)

// ab runs an interleaved A/B experiment and gates it:
// `polytropon ab -base BIN|COMMIT -new BIN|COMMIT [-rounds N] FILE.toml`.
func init() {
	register(command{
		name:    "ab",
		summary: "run an experiment with two builds in interleaved ABBA rounds on this host, store one run with both sides, and gate it like compare",
		run:     abRun,
	})
}

func abRun(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("ab", "-base BIN|COMMIT -new BIN|COMMIT experiment.toml", stderr)
	base := fset.String("base", "", "the base build: a polytropon binary or a commit of -src (built in a temporary worktree)")
	newer := fset.String("new", "", "the new build: a polytropon binary or a commit of -src")
	rounds := fset.Int("rounds", 6, "rounds: each runs every point once with each build, base first in odd rounds")
	out := fset.String("out", "out", "directory in which the run directory ab-<name>-<UTC time> is created")
	src := fset.String("src", ".", "git work tree commits are built from")
	tags := fset.String("tags", "", `Go build tags for builds from commits (e.g. "ceph pacific")`)
	noGate := fset.Bool("no-gate", false, "only run and store; gate later with polytropon compare RUN")
	runFlags := fset.String("run-flags", "", "flags passed to each build's `polytropon run`, space-separated (both builds must accept them)")
	var g gateFlags
	addGateFlags(fset, &g)
	var files []string
	for { // flags may also follow the file
		if err := fset.Parse(args); err != nil {
			return usageError{err}
		}
		if fset.NArg() == 0 {
			break
		}
		files = append(files, fset.Arg(0))
		args = fset.Args()[1:]
	}
	if len(files) != 1 || *base == "" || *newer == "" {
		fset.Usage()
		return usageError{fmt.Errorf("want -base, -new and exactly one experiment file (got %d files)", len(files))}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := ab.Run(ctx, files[0], ab.Options{Base: *base, New: *newer, Rounds: *rounds, OutDir: *out,
		SourceDir: *src, Tags: *tags, RunFlags: strings.Fields(*runFlags), Stderr: stderr})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "run %s\n", dir)
	if *noGate {
		return nil
	}
	run, warn, err := results.Open(dir)
	if err != nil {
		return err
	}
	for _, w := range warn {
		fmt.Fprintln(stderr, "warning:", w)
	}
	rep, err := results.GateAB(run, g.options(run, stderr))
	if err != nil {
		return usageError{err}
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	return rep.Err()
}
